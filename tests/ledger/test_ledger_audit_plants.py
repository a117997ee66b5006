"""Issue 17, finding 8 (part): the aggregator can remove a plant, and a removed plant is out."""

from __future__ import annotations

import pytest
from ledger_kit import PLANT, STRANGER

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import Chain, CompilerConfig, FederatedRoundAuditClient

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
    audit.commit_round(MODEL, 1, FederatedRoundAuditClient.identities_digest([keep]))
    with pytest.raises(ContractRevertError, match="needs role plant"):
        audit.attest(1, sender=drop)
    with pytest.raises(ContractRevertError, match="not allowed in state Committed"):
        audit.remove_plant(keep)
    audit.attest(1, sender=keep)
    assert audit.attestations == 1
