"""Near-miss specs: every front end refuses them, none silently drops a guard or access control.

Each case is the shipped ModelLicence in one form with one small slip (issue 17, findings 1, 5
and 6 and the low findings on names and YAML): a flag spelt ``True``, ``1`` or ``"true"``,
access control left out, a misspelt or repeated element, a generator-internal name, a YAML
alias. The honest forms of the same files still load (``test_ledger_frontends_equivalence``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.errors import SpecError
from edgeshield.ledger import (
    ContractSpec,
    parse_ontology,
    parse_pnml,
    parse_spec,
    parse_text,
    specs_dir,
)

PARSERS: dict[str, Callable[..., ContractSpec]] = {
    "yaml": parse_spec,
    "pnml": parse_pnml,
    "ttl": parse_ontology,
    "txt": parse_text,
}
COMMANDS = {"yaml": "generate", "pnml": "from-pnml", "ttl": "from-ontology", "txt": "from-text"}


def _shipped(form: str) -> str:
    return (specs_dir() / f"model_licence.{form}").read_text(encoding="utf-8")


def _edit(form: str, old: str, new: str, *, count: int = 1) -> str:
    text = _shipped(form)
    assert old in text, f"{old!r} is not in the shipped {form} form"
    return text.replace(old, new, count)


def _yaml_plugin(old: str, new: str) -> str:
    return _edit("yaml", old, new)


_PREVIOUS = "  uses: {type: uint256, description: uses reported so far}\n"

#: (form, case name) -> the near-miss text, and a fragment the error must contain.
CORPUS: dict[tuple[str, str], tuple[str, str]] = {
    ("yaml", "flag-True"): (
        _yaml_plugin("access_control: true", "access_control: True"),
        "plugins.access_control",
    ),
    ("yaml", "flag-quoted"): (
        _yaml_plugin("access_control: true", 'access_control: "true"'),
        "plugins.access_control",
    ),
    ("yaml", "flag-yes"): (
        _yaml_plugin("access_control: true", "access_control: yes"),
        "plugins.access_control",
    ),
    ("yaml", "flag-1"): (_yaml_plugin("counter: true", "counter: 1"), "plugins.counter"),
    ("yaml", "access-control-omitted"): (
        _yaml_plugin("  access_control: true\n", ""),
        "plugins.access_control: Field required",
    ),
    ("yaml", "plugins-omitted"): (
        _shipped("yaml").split("plugins:")[0],
        "plugins: Field required",
    ),
    ("yaml", "misspelt-flag"): (
        _yaml_plugin("access_control: true", "access_control: true\n  acess_control: true"),
        "acess_control",
    ),
    ("yaml", "misspelt-guards"): (
        _edit("yaml", 'guards: ["msg.value > 0"]', 'gaurds: ["msg.value > 0"]'),
        "gaurds",
    ),
    ("yaml", "payable-string"): (
        _edit("yaml", "payable: true", 'payable: "true"'),
        "payable",
    ),
    ("yaml", "variable-previous"): (
        _edit("yaml", _PREVIOUS, _PREVIOUS + "  previous: {type: uint256}\n"),
        "'previous' is a reserved name",
    ),
    ("yaml", "variable-nonReentrant"): (
        _edit("yaml", _PREVIOUS, _PREVIOUS + "  nonReentrant: {type: uint256}\n"),
        "reserved",
    ),
    ("yaml", "input-checkCounter"): (
        _edit("yaml", "inputs: {count: uint256}", "inputs: {checkCounter: uint256}"),
        "reserved",
    ),
    ("yaml", "event-Unauthorized"): (
        _edit("yaml", "    role: owner\n", "    role: owner\n    event: Unauthorized\n"),
        "reserved",
    ),
    ("yaml", "event-StaleCounter-by-default"): (
        _edit("yaml", "name: suspend", "name: staleCounter"),
        "'StaleCounter' is a name the generator declares itself",
    ),
    ("yaml", "contract-State"): (
        _edit("yaml", "contract: ModelLicence", "contract: State"),
        "reserved",
    ),
    ("yaml", "alias"): (
        _edit("yaml", "states: [", "x: &a [1]\ny: *a\nstates: ["),
        "anchors and aliases are not allowed",
    ),
    ("yaml", "alias-bomb"): (
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n"
            for i in range(8)
        ),
        "anchors and aliases are not allowed",
    ),
    ("pnml", "flag-True"): (
        _edit("pnml", 'access_control="true"', 'access_control="True"'),
        "access_control must be true or false",
    ),
    ("pnml", "flag-1"): (_edit("pnml", 'counter="true"', 'counter="1"'), "counter must be"),
    ("pnml", "access-control-omitted"): (
        _edit("pnml", ' access_control="true"', ""),
        "never off by omission",
    ),
    ("pnml", "misspelt-guard"): (
        _edit("pnml", "<guard>count &gt; 0</guard>", "<gaurd>count &gt; 0</gaurd>"),
        "unknown element <gaurd>",
    ),
    ("pnml", "misspelt-attribute"): (
        _edit("pnml", 'access_control="true"', 'access_control="true" acess_control="true"'),
        "unknown attribute 'acess_control'",
    ),
    ("pnml", "second-call"): (
        _edit("pnml", '<call role="owner" />', '<call role="owner" /><call role="owner" />'),
        "<call> is given twice",
    ),
    ("pnml", "second-plugins"): (
        _edit("pnml", "<plugins ", '<plugins access_control="false" /><plugins '),
        "<plugins> is given twice",
    ),
    ("pnml", "payable-yes"): (
        _edit("pnml", 'payable="true"', 'payable="yes"'),
        "payable must be true or false",
    ),
    ("ttl", "flag-string"): (
        _edit("ttl", "es:accessControl true", 'es:accessControl "true"'),
        "es:accessControl",
    ),
    ("ttl", "flag-1"): (
        _edit("ttl", "es:accessControl true", "es:accessControl 1"),
        "es:accessControl",
    ),
    ("ttl", "access-control-omitted"): (
        _edit("ttl", "es:accessControl true ;", ""),
        "es:accessControl",
    ),
    ("ttl", "misspelt-guards"): (
        _edit("ttl", "es:guards", "es:gaurds"),
        "es:gaurds",
    ),
    ("ttl", "second-guards-list"): (
        _edit("ttl", 'es:guards ( "msg.value > 0" )', 'es:guards ( "msg.value > 0" ) , ( )'),
        "guards",
    ),
    ("ttl", "payable-string"): (
        _edit("ttl", "es:requiresPayment true", 'es:requiresPayment "true"'),
        "es:requiresPayment",
    ),
    ("txt", "access-control-omitted"): (
        _edit("txt", "events, access control and", "events and"),
        "must state 'access control' or 'no access control'",
    ),
    ("txt", "security-omitted"): (
        re.sub(r"It uses .*\n.*may pause it\.\n", "", _shipped("txt")),
        "no security sentence",
    ),
    ("txt", "access-control-twice"): (
        _edit("txt", "events, access control and", "events, access control, access control and"),
        "access control is named twice",
    ),
    # the pause exemption of cancel (issue 17): a flag like any other, and only where a pause is
    ("yaml", "pause-exempt-quoted"): (
        _edit("yaml", "pause_exempt: true", 'pause_exempt: "true"'),
        "pause_exempt",
    ),
    ("yaml", "pause-exempt-unpausable"): (
        _yaml_plugin("  pausable: owner\n", ""),
        "transitions[8].pause_exempt: cancel is pause_exempt but the contract is not pausable",
    ),
    ("pnml", "pause-exempt-True"): (
        _edit("pnml", 'pause_exempt="true"', 'pause_exempt="True"'),
        "pause_exempt must be true or false",
    ),
    ("pnml", "pause-exempt-unpausable"): (
        _edit("pnml", ' pausable="owner"', ""),
        "cancel is pause_exempt but the contract is not pausable",
    ),
    ("ttl", "pause-exempt-string"): (
        _edit("ttl", "es:exemptFromPause true", 'es:exemptFromPause "true"'),
        "es:exemptFromPause",
    ),
    ("ttl", "pause-exempt-misspelt"): (
        _edit("ttl", "es:exemptFromPause true", "es:exemptFromPaus true"),
        "es:exemptFromPaus",
    ),
    ("txt", "pause-exempt-twice"): (
        _edit("txt", "Revoked, even when paused,", "Revoked, even when paused, even when paused,"),
        "', even when paused' is given twice",
    ),
    ("txt", "pause-exempt-unpausable"): (
        _edit("txt", ",\n  and the owner may pause it.", "."),
        "cancel is pause_exempt but the contract is not pausable",
    ),
    # cancel's counter exemption (issue 17): the same strictness, and only with a counter to
    # skip and a fixed target (a self-loop's outcome depends on the state it is taken in)
    ("yaml", "counter-exempt-quoted"): (
        _edit("yaml", "counter_exempt: true", 'counter_exempt: "true"'),
        "counter_exempt",
    ),
    ("yaml", "counter-exempt-misspelt"): (
        _edit("yaml", "counter_exempt: true", "counter_exemt: true"),
        "counter_exemt",
    ),
    ("yaml", "counter-exempt-repeated"): (
        _edit("yaml", "counter_exempt: true", "counter_exempt: true\n    counter_exempt: false"),
        "key 'counter_exempt' is given twice",
    ),
    ("yaml", "counter-exempt-no-counter"): (
        _yaml_plugin("  counter: true\n", "  counter: false\n"),
        "transitions[8].counter_exempt: cancel is counter_exempt but the contract has no "
        "transition counter",
    ),
    ("yaml", "counter-exempt-self-loop"): (
        _edit(
            "yaml",
            'guards: ["msg.value > 0"]',
            'counter_exempt: true\n    guards: ["msg.value > 0"]',
        ),
        "transitions[1].counter_exempt: topUp is counter_exempt but has no fixed target state",
    ),
    ("pnml", "counter-exempt-True"): (
        _edit("pnml", 'counter_exempt="true"', 'counter_exempt="True"'),
        "counter_exempt must be true or false",
    ),
    ("pnml", "counter-exempt-misspelt"): (
        _edit("pnml", 'counter_exempt="true"', 'counter_exemt="true"'),
        "unknown attribute 'counter_exemt'",
    ),
    ("pnml", "counter-exempt-no-counter"): (
        _edit("pnml", 'counter="true"', 'counter="false"'),
        "cancel is counter_exempt but the contract has no transition counter",
    ),
    ("ttl", "counter-exempt-string"): (
        _edit("ttl", "es:exemptFromCounter true", 'es:exemptFromCounter "true"'),
        "es:exemptFromCounter",
    ),
    ("ttl", "counter-exempt-misspelt"): (
        _edit("ttl", "es:exemptFromCounter true", "es:exemptFromCountr true"),
        "es:exemptFromCountr",
    ),
    ("ttl", "counter-exempt-repeated"): (
        _edit("ttl", "es:exemptFromCounter true", "es:exemptFromCounter true, false"),
        "exemptFromCounter",
    ),
    ("txt", "counter-exempt-twice"): (
        _edit("txt", "whatever the counter,", "whatever the counter, whatever the counter,"),
        "', whatever the counter' is given twice",
    ),
    ("txt", "counter-exempt-misspelt"): (
        _edit("txt", "whatever the counter,", "whatever the countr,"),
        "line 42",
    ),
}


@pytest.mark.parametrize(("form", "case"), sorted(CORPUS))
def test_near_miss_specs_are_refused(form: str, case: str) -> None:
    text, fragment = CORPUS[(form, case)]
    with pytest.raises(SpecError) as info:
        PARSERS[form](text, source=f"licence.{form}")
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"licence.{form}: ")


@pytest.mark.parametrize(
    ("form", "case"),
    [
        ("yaml", "flag-True"),
        ("pnml", "misspelt-guard"),
        ("pnml", "second-call"),
        ("yaml", "misspelt-guards"),
    ],
)
def test_near_miss_errors_say_where(form: str, case: str) -> None:
    """A positioned error: the line of the slip (YAML and PNML carry source lines)."""
    text, _ = CORPUS[(form, case)]
    with pytest.raises(SpecError) as info:
        PARSERS[form](text, source="x")
    assert re.match(r"x: line \d+", str(info.value))


@pytest.mark.parametrize(("form", "case"), sorted(CORPUS))
def test_the_cli_refuses_the_corpus_with_one_error_line(
    form: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traceback from a ``ledger`` command on hostile input: one ``error:`` line, exit 1."""
    path = tmp_path / f"licence.{form}"
    path.write_text(CORPUS[(form, case)][0], encoding="utf-8")
    assert run(["ledger", COMMANDS[form], str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "Traceback" not in err


@pytest.mark.parametrize("guard", ["5 // 2 * 2 == 5", "1 - 2 + 3 > 0", "count > 2 * 3"])
def test_literal_only_arithmetic_is_refused(guard: str) -> None:
    """Finding 4: solc folds literal-only arithmetic exactly; the model floors and checks."""
    text = _edit("yaml", 'guards: ["count > 0",', f'guards: ["{guard}", "count > 0",')
    with pytest.raises(SpecError, match="has only literal operands"):
        parse_spec(text, source="licence.yaml")


def test_arithmetic_with_a_name_is_kept() -> None:
    text = _edit("yaml", 'guards: ["count > 0",', 'guards: ["count * 2 // 2 > 0",')
    assert parse_spec(text).transition("reportUsage").guards[0] == "count * 2 // 2 > 0"


_ADDRESS = "0x" + "00" * 20
#: every ``ledger`` command that reads a spec, with the arguments it needs besides the path
_SPEC_COMMANDS = {
    "yaml": [
        ["generate"],
        ["compile"],
        ["analyse"],
        ["deploy"],
        ["call", _ADDRESS, "state"],
        ["events", _ADDRESS],
        ["verify"],
    ],
    "pnml": [["from-pnml"], ["verify"]],
    "ttl": [["from-ontology"], ["verify"]],
    "txt": [["from-text"], ["verify"]],
}
_HOSTILE: dict[str, tuple[str | bytes, str]] = {
    "alias-bomb.yaml": (CORPUS[("yaml", "alias-bomb")][0], "anchors and aliases"),
    "oversized.yaml": ("x: " + "a" * 300_000, "a YAML spec may have at most"),
    "deep.yaml": ("[" * 5_000 + "]" * 5_000, "YAML nested more than"),
    "latin1.yaml": (b"contract: Lizenz f\xfcr\n", "not UTF-8 text (byte 18)"),
    "latin1.pnml": (b"<pnml>\xfc</pnml>", "not UTF-8 text"),
    "latin1.ttl": (b"@prefix es: <\xfc> .", "not UTF-8 text"),
    "latin1.txt": (b"This contract is called L\xfc.", "not UTF-8 text"),
}


@pytest.mark.parametrize(
    ("name", "command"),
    [
        (name, command)
        for name in sorted(_HOSTILE)
        for command in _SPEC_COMMANDS[name.rsplit(".", 1)[1]]
    ],
)
def test_every_ledger_command_refuses_hostile_files_fast_with_one_line(
    name: str, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deep nesting, an alias bomb, an oversized or non-UTF-8 file: one named error, no traceback.

    Before: 10 kB of ``[[[[`` took 11-22 s to end in ``unexpected RecursionError`` and a Latin-1
    byte surfaced as ``unexpected UnicodeDecodeError``; the 468-byte alias bomb took 63 s.
    """
    content, fragment = _HOSTILE[name]
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    argv = ["ledger", command[0], str(path), *command[1:]]
    started = time.perf_counter()
    assert run(argv) == 1
    assert time.perf_counter() - started < 5.0  # refused before any parsing work
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ")
    assert fragment in err
    assert "Traceback" not in err
    assert "unexpected" not in err


def test_an_alias_bomb_is_refused_at_its_first_anchor() -> None:
    """The audit's 468-byte bomb took 63 s; this one (9^9 strings from 342 bytes) stops at once."""
    text = CORPUS[("yaml", "alias-bomb")][0]
    assert len(text.encode()) <= 468
    started = time.perf_counter()
    with pytest.raises(SpecError, match=r"bomb\.yaml: line 1: YAML anchors and aliases"):
        parse_spec(text, source="bomb.yaml")
    assert time.perf_counter() - started < 0.5
