"""The funds property (issue 17): ``r can always recover v`` on the explored states.

The shipped licence gives the licensee its unspent prepayment back whatever the owner did
first, even without waiting for the expiry (``cancel`` is exempt from the pause); the same
property fails, with the trace that strands the money, on licences that credit the refund to
the owner or have no way out for the licensee, and without waiting it fails on a licence whose
``cancel`` a pause blocks. The CLI exits 1 on a failure. The SMT harness's sufficient
condition for the same property is tested in ``test_ledger_smt_funds.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.errors import SpecError
from edgeshield.ledger import (
    ContractSpec,
    Property,
    PropertyKind,
    check_properties,
    parse_property,
    parse_spec,
    shipped_spec,
    specs_dir,
)

RECOVER = "licensee can always recover prepaid"
LICENCE_YAML = specs_dir() / "model_licence.yaml"


@pytest.fixture(scope="module")
def licence() -> ContractSpec:
    return shipped_spec("ModelLicence")


def _mutant(*edits: tuple[str, str]) -> ContractSpec:
    """The shipped licence YAML with each (old, new) edit applied once."""
    text = LICENCE_YAML.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) >= 1, old
        text = text.replace(old, new)
    return parse_spec(text, source="<mutant>")


def test_parse_funds_templates() -> None:
    assert parse_property(RECOVER) == Property(
        kind=PropertyKind.ALWAYS_RECOVERS, actions=("licensee", "prepaid")
    )
    strict = parse_property(RECOVER + " without waiting")
    assert strict.kind is PropertyKind.RECOVERS_WITHOUT_WAITING
    assert str(strict) == RECOVER + " without waiting"


def test_the_shipped_licence_returns_the_prepayment(licence: ContractSpec) -> None:
    (verdict,) = check_properties(licence, [RECOVER])
    assert verdict.holds, verdict.explain()
    assert verdict.explored > 50


def test_the_owner_has_no_claim_on_the_prepayment(licence: ContractSpec) -> None:
    """The other side: the vendor cannot recover what the licensee prepaid."""
    (verdict,) = check_properties(licence, ["owner can always recover prepaid"])
    assert not verdict.holds
    assert [(s.sender, s.action) for s in verdict.trace] == [("licensee", "accept")]


def test_a_pause_does_not_delay_the_refund(licence: ContractSpec) -> None:
    """Issue 17: a long pause does not hold the prepayment back until the expiry."""
    (verdict,) = check_properties(licence, [RECOVER + " without waiting"])
    assert verdict.holds, verdict.explain()


def test_without_the_exemption_a_pause_strands_the_prepayment() -> None:
    """The property has teeth: with cancel paused like the rest, the refund waits for expiry."""
    spec = _mutant(("    pause_exempt: true\n", ""))
    assert not spec.transition("cancel").pause_exempt
    (verdict,) = check_properties(spec, [RECOVER + " without waiting"])
    assert not verdict.holds
    assert [(s.sender, s.action) for s in verdict.trace] == [
        ("licensee", "accept"),
        ("owner", "pause"),
    ]
    assert "no sequence of licensee's own calls credits licensee its prepaid" in (verdict.explain())


def test_a_refund_to_the_owner_fails() -> None:
    spec = _mutant(("credit(licensee, prepaid)", "credit(owner, prepaid)"))
    (verdict,) = check_properties(spec, [RECOVER])
    assert not verdict.holds
    assert [s.action for s in verdict.trace] == ["accept"]
    assert "own calls and waiting credits licensee its prepaid" in verdict.explain()


def test_no_way_out_after_suspension_fails() -> None:
    """Finding 3's shape: no cancel once suspended, and the expiry refunds nothing."""
    spec = _mutant(
        (
            "    from: [Active, Suspended]\n    to: Revoked\n    role: licensee",
            "    from: [Active]\n    to: Revoked\n    role: licensee",
        ),
        (
            '    statements: ["credit(licensee, prepaid)", "prepaid = 0"]\nplugins',
            '    statements: ["prepaid = 0"]\nplugins',
        ),
    )
    (verdict,) = check_properties(spec, [RECOVER])
    assert not verdict.holds
    assert verdict.trace[0].action == "accept"
    assert verdict.trace[-1].sender == "owner"
    assert verdict.trace[-1].action in ("suspend", "pause")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plant can always recover prepaid", "'plant' is not an address role"),
        ("licensee can always recover modelDigest", "'modelDigest' is not a uint256 variable"),
        ("licensee can always recover prepaid slowly", "unexpected 'slowly'"),
    ],
)
def test_funds_names_are_checked(licence: ContractSpec, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        check_properties(licence, [text])


def test_cli_verify_fails_on_a_stranded_refund(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "licence.yaml"
    text = LICENCE_YAML.read_text(encoding="utf-8")
    path.write_text(
        text.replace("credit(licensee, prepaid)", "credit(owner, prepaid)"), encoding="utf-8"
    )
    assert run(["ledger", "verify", str(path), "-p", RECOVER]) == 1
    out = capsys.readouterr().out
    assert f"FAILS  {RECOVER}" in out
    assert "1. licensee calls accept() paying 1 wei -> Active" in out
    assert run(["ledger", "verify", str(LICENCE_YAML), "-p", RECOVER]) == 0
    assert f"HOLDS  {RECOVER}" in capsys.readouterr().out
