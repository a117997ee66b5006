"""Spec loading and validation: every bad spec fails with a SpecError that says where."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeshield.errors import SpecError
from edgeshield.ledger import (
    ContractSpec,
    generate_solidity,
    load_spec,
    parse_spec,
    shipped_spec,
    specs_dir,
)

BASE = """\
contract: Toy
states: [Open, Closed]
initial: Open
roles:
  owner: {init: deployer}
variables:
  total: {type: uint256}
transitions:
  - name: add
    from: Open
    role: owner
    inputs: {amount: uint256}
    guards: ["amount > 0"]
    statements: ["total += amount"]
  - name: close
    from: Open
    to: Closed
    role: owner
plugins: {access_control: true}
"""


def _edit(path: list[str | int], value: object) -> str:
    data = yaml.safe_load(BASE)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return yaml.safe_dump(data, sort_keys=False)


def test_base_spec_is_valid() -> None:
    spec = parse_spec(BASE)
    assert spec.contract == "Toy"
    assert spec.transition("add").inputs == {"amount": "uint256"}
    assert spec.transition("add").target("Open") == "Open"


@pytest.mark.parametrize("name", ["ModelRegistry", "ModelLicence", "FederatedRoundAudit"])
def test_shipped_specs_load(name: str) -> None:
    spec = shipped_spec(name)
    assert spec.contract == name
    assert (specs_dir() / Path(spec.source).name).is_file()


def test_digest_ignores_formatting_but_not_content() -> None:
    spec = parse_spec(BASE)
    reformatted = parse_spec("# a comment\n" + yaml.safe_dump(yaml.safe_load(BASE)))
    assert reformatted.digest() == spec.digest()
    changed = parse_spec(BASE.replace('"amount > 0"', '"amount > 1"'))
    assert changed.digest() != spec.digest()


BAD_CASES = {
    "yaml-syntax": (
        BASE.replace("states: [Open, Closed]", "states: [Open, Closed"),
        "invalid YAML",
    ),
    "not-a-mapping": ("- 1\n- 2\n", "must be a YAML mapping"),
    "unknown-field": (_edit(["colour"], "red"), "colour"),
    "bad-contract-name": (_edit(["contract"], "toy"), "contract name"),
    "unknown-initial": (_edit(["initial"], "Nowhere"), "unknown state 'Nowhere'"),
    "duplicate-states": (_edit(["states"], ["Open", "Open"]), "unique"),
    "unknown-type": (_edit(["variables", "total", "type"], "uint8"), "unknown type"),
    "reserved-name": (_edit(["variables"], {"state": {"type": "uint256"}}), "reserved"),
    "unknown-from": (_edit(["transitions", 1, "from"], "Limbo"), "unknown state 'Limbo'"),
    "unknown-role": (_edit(["transitions", 0, "role"], "auditor"), "unknown role 'auditor'"),
    "duplicate-transition": (
        _edit(["transitions", 1, "name"], "add"),
        "'add' is already a transition",
    ),
    "input-shadows-variable": (
        _edit(["transitions", 0, "inputs"], {"total": "uint256"}),
        "shadows a variable",
    ),
    "guard-not-bool": (_edit(["transitions", 0, "guards"], ["amount + 1"]), "expected a bool"),
    "unknown-name": (_edit(["transitions", 0, "guards"], ["amout > 0"]), "unknown name 'amout'"),
    "type-mismatch": (
        _edit(["transitions", 0, "guards"], ["amount == owner"]),
        "cannot compare uint256 with address",
    ),
    "assign-input": (
        _edit(["transitions", 0, "statements"], ["amount = 1"]),
        "cannot be assigned",
    ),
    "solidity-injection": (
        _edit(["transitions", 0, "statements"], ["total = 1; selfdestruct(owner)"]),
        "exactly one statement",
    ),
    "function-call": (
        _edit(["transitions", 0, "guards"], ["__import__('os') == 0"]),
        "not allowed",
    ),
    "attribute-access": (
        _edit(["transitions", 0, "guards"], ["tx.origin == owner"]),
        "not allowed",
    ),
    "string-literal": (_edit(["transitions", 0, "guards"], ["'a' == 'a'"]), "not allowed"),
    "chained-comparison": (
        _edit(["transitions", 0, "guards"], ["0 < amount < 5"]),
        "chained comparison",
    ),
    "negative-literal": (_edit(["transitions", 0, "guards"], ["amount > -1"]), "not allowed"),
    "huge-literal": (_edit(["transitions", 0, "guards"], [f"amount > {2**256}"]), "outside"),
    "msg-value-not-payable": (
        _edit(["transitions", 0, "statements"], ["total += msg.value"]),
        "not payable",
    ),
    "syntax-error": (_edit(["transitions", 0, "guards"], ["amount >"]), "syntax error"),
    "set-role-init": (
        _edit(
            ["roles"], {"owner": {"init": "deployer"}, "plant": {"kind": "set", "init": "deployer"}}
        ),
        "set role starts empty",
    ),
    "timed-after-not-uint": (
        _edit(["timed"], [{"from": "Open", "to": "Closed", "after": "owner"}]),
        "must be a uint256 variable",
    ),
    "timed-msg-sender": (
        _edit(
            ["timed"],
            [
                {
                    "from": "Open",
                    "to": "Closed",
                    "after": "total",
                    "statements": ["owner = msg.sender"],
                }
            ],
        ),
        "no caller",
    ),
    "unknown-pauser": (
        _edit(["plugins"], {"pausable": "nobody", "access_control": True}),
        "unknown role 'nobody'",
    ),
    "bad-locking": (_edit(["plugins"], {"locking": "mutex", "access_control": True}), "locking"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_spec_raises_spec_error_with_location(case: str) -> None:
    text, needle = BAD_CASES[case]
    with pytest.raises(SpecError) as info:
        parse_spec(text, source="toy.yaml")
    message = str(info.value)
    assert message.startswith("toy.yaml: ")
    assert needle in message
    assert isinstance(info.value, ValueError)


def test_error_names_the_line_and_field() -> None:
    text = BASE.replace('guards: ["amount > 0"]', 'guards: ["amount > zero"]')
    with pytest.raises(SpecError, match=r"line 13, transitions\[0\]\.guards\[0\]"):
        parse_spec(text, source="toy.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "absent.yaml")


def test_unknown_transition_lookup() -> None:
    with pytest.raises(SpecError, match="no transition 'fly'"):
        parse_spec(BASE).transition("fly")


def test_unknown_shipped_spec() -> None:
    with pytest.raises(SpecError, match="no shipped spec"):
        shipped_spec("Nope")


def test_spec_round_trips_through_pydantic() -> None:
    spec = shipped_spec("ModelLicence")
    again = ContractSpec.model_validate(spec.model_dump(by_alias=True))
    assert again.digest() == spec.digest()


TOKENS = [
    "amount",
    "total",
    "owner",
    "msg.sender",
    "msg.value",
    "block.timestamp",
    "0",
    "1",
    "2**256",
    "True",
    "keccak(",
    "address(0)",
    "bytes32(0)",
    ")",
    "(",
    ",",
    "+",
    "-",
    "*",
    "//",
    "%",
    "==",
    "!=",
    "<",
    ">=",
    "and",
    "or",
    "not",
    "[",
    "]",
    "=",
    "+=",
    ";",
    "'x'",
    "tx.origin",
    "__import__",
    "lambda",
    ".",
    "credit(",
    "total[",
    "if",
    "\\n",
]


@settings(max_examples=150, deadline=None, database=None)
@given(
    guard=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map(" ".join),
    statement=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map(" ".join),
)
def test_fuzzed_expressions_fail_only_with_spec_error(guard: str, statement: str) -> None:
    text = _edit(
        ["transitions", 0],
        {
            "name": "add",
            "from": "Open",
            "role": "owner",
            "inputs": {"amount": "uint256"},
            "guards": [guard],
            "statements": [statement],
        },
    )
    try:
        spec = parse_spec(text)
    except SpecError:
        return
    # Whatever the checker accepts, the generator turns into code without crashing.
    source = generate_solidity(spec)
    assert "contract Toy" in source
    for banned in ("tx.origin", "__import__", "lambda"):
        assert banned not in source


@settings(max_examples=100, deadline=None, database=None)
@given(text=st.text(max_size=300))
def test_arbitrary_text_fails_only_with_spec_error(text: str) -> None:
    with contextlib.suppress(SpecError):
        parse_spec(text)


def test_oversized_expressions_are_rejected() -> None:
    with pytest.raises(SpecError, match="longer than"):
        parse_spec(_edit(["transitions", 0, "guards"], ["-" * 5000 + "amount > 0"]))
    with pytest.raises(SpecError, match="syntax nodes"):
        parse_spec(_edit(["transitions", 0, "guards"], ["not " * 150 + "True"]))
