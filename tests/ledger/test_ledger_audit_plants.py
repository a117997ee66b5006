"""Issue 17, finding 8: only a round's enrolled participants attest; plants can be removed."""

from __future__ import annotations

import pytest
from ledger_kit import PLANT, STRANGER

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    FederatedRoundAuditClient,
    check_properties,
    shipped_spec,
)

MODEL = b"\x42" * 32


def test_a_removed_plant_cannot_attest(chain: Chain, compiler: CompilerConfig) -> None:
    a = chain.accounts
    audit = FederatedRoundAuditClient.create(chain, compiler=compiler)
    keep, drop = a[PLANT], a[PLANT + 1]
    audit.add_plant(keep)
    audit.add_plant(drop)
    with pytest.raises(ContractRevertError, match="needs role aggregator"):
        audit.remove_plant(drop, sender=a[STRANGER])
    with pytest.raises(ContractRevertError, match="does not hold"):
        audit.remove_plant(a[STRANGER])  # not a plant
    audit.remove_plant(drop)
    assert not audit.is_plant(drop)
    assert audit.plant_count == 1
    audit.open_round(MODEL, [keep])
    with pytest.raises(ContractRevertError, match="needs role plant"):
        audit.attest(1, sender=drop)
    with pytest.raises(ContractRevertError, match="not allowed in state Committed"):
        audit.remove_plant(keep)
    audit.attest(1, sender=keep)
    assert audit.attestations == 1


def test_only_the_rounds_participants_attest(chain: Chain, compiler: CompilerConfig) -> None:
    """The finding: a registered non-participant attested first and blocked a participant."""
    a = chain.accounts
    audit = FederatedRoundAuditClient.create(chain, compiler=compiler)
    participant, outsider = a[PLANT], a[PLANT + 1]
    audit.add_plant(participant)
    audit.add_plant(outsider)
    audit.commit_round(MODEL, 1, FederatedRoundAuditClient.identities_digest([participant]))
    with pytest.raises(ContractRevertError, match="enrolledRound"):
        audit.attest(1, sender=participant)  # not enrolled yet
    with pytest.raises(ContractRevertError, match="needs role aggregator"):
        audit.enrol(outsider, sender=outsider)
    with pytest.raises(ContractRevertError, match="does not hold"):
        audit.enrol(a[STRANGER])  # not a plant
    audit.enrol(participant)
    with pytest.raises(ContractRevertError, match="does not hold"):
        audit.enrol(outsider)  # the round has one participant, already enrolled
    with pytest.raises(ContractRevertError, match="enrolledRound"):
        audit.attest(1, sender=outsider)
    audit.attest(1, sender=participant)
    assert audit.attestations == 1
    # enrolment is per round: the next round starts with nobody enrolled
    audit.close_round()
    audit.open_round(MODEL, [outsider])
    with pytest.raises(ContractRevertError, match="enrolledRound"):
        audit.attest(2, sender=participant)
    audit.attest(2, sender=outsider)
    assert (audit.round, audit.attestations) == (2, 1)


def test_the_checker_proves_attestation_needs_enrolment() -> None:
    """Explicit-state proof over the bounded world (the SMTChecker times out on the mapping)."""
    spec = shipped_spec("FederatedRoundAudit")
    (verdict,) = check_properties(spec, ["attest can only happen after enrol"])
    assert verdict.holds, verdict.explain()
