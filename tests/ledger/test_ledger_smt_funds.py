"""The funds property in the SMT harness (issue 17): a one-step refund, proved always enabled.

The shipped licence's two funds properties are proved by the sufficient condition "wherever
``prepaid > 0``, the licensee's ``cancel()`` passes its checks, or a deadline has passed and
``tick()`` refunds". The other side: every licence mutant on which the explicit-state checker
strands the prepayment is never proved here (unknown: the condition is refuted, which is no
counterexample; or not checked: no refund to assert, or one whose guard the harness drops).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeshield.errors import SpecError
from edgeshield.ledger import (
    ContractSpec,
    SmtConfig,
    SmtOutcome,
    check_properties,
    parse_spec,
    shipped_spec,
    smt_harness,
    specs_dir,
    verify_smt,
)

RECOVER = "licensee can always recover prepaid"
NOW = RECOVER + " without waiting"
LICENCE_YAML = specs_dir() / "model_licence.yaml"
NO_Z3 = SmtConfig(z3=Path("/nonexistent"))
# The solver's wall-clock budget: the funds proof took 30-40 s per property on a quiet 2-core
# host and ran out at 60 s in a full suite on a busy one (unknown instead of proved), so the
# test gives it room; the verdicts asserted are unchanged.
SOLVER_S = 180


@pytest.fixture(scope="module")
def licence() -> ContractSpec:
    return shipped_spec("ModelLicence")


def _mutant(*edits: tuple[str, str]) -> ContractSpec:
    """The shipped licence YAML with each (old, new) edit applied."""
    text = LICENCE_YAML.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return parse_spec(text, source="<mutant>")


def test_the_harness_tracks_the_balance_and_asserts_the_refund(licence: ContractSpec) -> None:
    source = smt_harness(licence, RECOVER)
    # the nonlinear charge is "any value" (its guard dropped), not a dropped variable
    usage = source[source.index("function reportUsage(") :]
    usage = usage[: usage.index("\n    }\n")]
    assert "uint256 edgeshieldAny_" in usage
    assert "prepaid = edgeshieldAny_;" in usage
    assert "count * pricePerUse" not in source
    # the invariant: cancel's own checks (no pause check: it is exempt) or a due deadline
    query = source[source.index("function edgeshieldFunds_() external view {") :]
    assertion = query.splitlines()[1].strip()
    assert assertion.startswith("assert(prepaid == 0 || (licensee != address(0) && ")
    assert "block.timestamp >= expiresAt" in assertion
    assert "(state == State.Active || state == State.Suspended)" in assertion
    assert "paused" not in assertion


@pytest.mark.slow
def test_the_shipped_licence_funds_properties_are_proved(licence: ContractSpec) -> None:
    verdicts = verify_smt(licence, [RECOVER, NOW], SmtConfig(timeout_s=SOLVER_S))
    for verdict in verdicts:
        assert verdict.outcome is SmtOutcome.PROVED, verdict.explain()
        assert [answer for _, answer in verdict.asserts] == ["proved"]
        assert "sufficient condition proved" in verdict.explain()
        assert "cancel()" in verdict.detail
    # both forms are proved by the same one-step condition: one harness, solved once
    assert smt_harness(licence, RECOVER) == smt_harness(licence, NOW)
    assert verdicts[0].queries >= 1
    assert verdicts[0].same_harness_as is None
    assert str(verdicts[1].same_harness_as) == RECOVER
    assert verdicts[1].queries == 0


#: Licences on which the explicit-state checker strands the prepayment without waiting.
_REFUTED = {
    "a pause blocks cancel": [("    pause_exempt: true\n", "")],
    "no cancel once suspended, expiry refunds nothing": [
        (
            "    from: [Active, Suspended]\n    to: Revoked\n    role: licensee",
            "    from: [Active]\n    to: Revoked\n    role: licensee",
        ),
        (
            '    statements: ["credit(licensee, prepaid)", "prepaid = 0"]\nplugins',
            '    statements: ["prepaid = 0"]\nplugins',
        ),
    ],
    "cancel only before any use": [
        ("    pause_exempt: true\n", '    pause_exempt: true\n    guards: ["uses == 0"]\n')
    ],
    "a usage report can revoke with money left": [
        ("    role: device\n", "    to: Revoked\n    role: device\n")
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_REFUTED))
def test_a_blocked_refund_is_never_proved(name: str) -> None:
    """The condition is refuted; that is reported unknown (not a counterexample), not proved."""
    spec = _mutant(*_REFUTED[name])
    (explicit,) = check_properties(spec, [NOW])
    assert not explicit.holds
    (verdict,) = verify_smt(spec, [NOW], SmtConfig(timeout_s=SOLVER_S))
    assert verdict.outcome is SmtOutcome.UNKNOWN, verdict.explain()
    assert "sufficient condition refuted" in verdict.detail
    assert "not a counterexample" in verdict.detail


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        # the refund goes to the owner: nothing credits the licensee
        ([("credit(licensee, prepaid)", "credit(owner, prepaid)")], "no transition that licensee"),
        # only the owner may cancel
        ([("    to: Revoked\n    role: licensee", "    to: Revoked\n    role: owner")], "no trans"),
    ],
)
def test_no_refund_transition_is_not_checked(edits: list[tuple[str, str]], message: str) -> None:
    spec = _mutant(*edits)
    (explicit,) = check_properties(spec, [NOW])
    assert not explicit.holds
    (verdict,) = verify_smt(spec, [NOW], NO_Z3)
    assert verdict.outcome is SmtOutcome.NOT_CHECKED
    assert message in verdict.detail


def test_a_refund_guard_the_harness_would_drop_is_not_checked() -> None:
    """Soundness: a dropped guard of the refund would make it look enabled; so no verdict."""
    guard = '    guards: ["prepaid * pricePerUse >= uses"]\n'
    spec = _mutant(("    pause_exempt: true\n", "    pause_exempt: true\n" + guard))
    (verdict,) = verify_smt(spec, [NOW], NO_Z3)
    assert verdict.outcome is SmtOutcome.NOT_CHECKED
    assert "drops a guard of cancel" in verdict.detail
    with pytest.raises(SpecError, match="drops a guard of cancel"):
        smt_harness(spec, NOW)


def test_a_balance_updated_nonlinearly_by_time_is_not_checked() -> None:
    spec = _mutant(
        (
            '    statements: ["credit(licensee, prepaid)", "prepaid = 0"]\nplugins',
            '    statements: ["prepaid = prepaid * pricePerUse"]\nplugins',
        )
    )
    (verdict,) = verify_smt(spec, [NOW], NO_Z3)
    assert verdict.outcome is SmtOutcome.NOT_CHECKED
    assert "nonlinear update in a timed transition" in verdict.detail


def test_the_owner_has_no_proved_claim_on_the_prepayment(licence: ContractSpec) -> None:
    """The other side: nothing refunds the vendor the licensee's prepayment."""
    (verdict,) = verify_smt(licence, ["owner can always recover prepaid"], NO_Z3)
    assert verdict.outcome is SmtOutcome.NOT_CHECKED
