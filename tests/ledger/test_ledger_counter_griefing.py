"""Issue 17, finding 7: the transition counter no longer lets one role void another's call.

The counter counted every transition, so the licensee's ``topUp`` ordered ahead of the
owner's ``suspend`` made it revert ``StaleCounter``, and of three plants attesting in one block
only the first was recorded. It now counts changes of state: self-loops leave it alone, a
change of state still voids a transaction prepared before it, and ``acceptDevice`` names the
device it consents to, so a proposal swapped in ahead of it makes it revert.
"""

from __future__ import annotations

import pytest
from ledger_kit import DEVICE, LICENSEE, OWNER, PLANT, STRANGER, active_licence

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import Chain, CompilerConfig, FederatedRoundAuditClient

MODEL = b"\x42" * 32


def test_a_top_up_ordered_first_no_longer_voids_the_owners_suspend(
    chain: Chain, compiler: CompilerConfig
) -> None:
    licence = active_licence(chain, compiler)
    seen = licence.counter()  # the owner prepares suspend() against this counter
    a = chain.accounts  # the licensee's and the device's transactions land first
    licence.transition("topUp", sender=a[LICENSEE], value=10**15, counter=seen)
    licence.transition("reportUsage", {"count": 3}, sender=a[DEVICE], counter=seen)
    assert licence.counter() == seen
    licence.transition("suspend", sender=a[OWNER], counter=seen)
    assert licence.state() == "Suspended"
    assert licence.counter() == seen + 1


def test_a_change_of_state_still_voids_a_transaction_prepared_before_it(
    chain: Chain, compiler: CompilerConfig
) -> None:
    """The ordering protection kept: no top-up paid into a licence suspended under it."""
    licence = active_licence(chain, compiler)
    seen = licence.counter()  # the licensee prepares topUp() while the licence is Active
    licence.transition("suspend", sender=chain.accounts[OWNER], counter=seen)
    prepaid = licence.prepaid
    with pytest.raises(ContractRevertError, match="StaleCounter"):
        licence.transition("topUp", sender=chain.accounts[LICENSEE], value=10**15, counter=seen)
    assert licence.prepaid == prepaid


def test_accept_device_names_the_device_so_a_swapped_proposal_reverts(
    chain: Chain, compiler: CompilerConfig
) -> None:
    a = chain.accounts
    licence = active_licence(chain, compiler)
    licence.rebind_device(a[STRANGER])
    seen = licence.pending_device  # what the licensee reviewed
    licence.rebind_device(a[OWNER])  # the owner swaps the proposal in ahead of the consent
    with pytest.raises(ContractRevertError, match="GuardFailed"):
        licence.accept_device(seen)
    assert licence.device == a[DEVICE]
    licence.accept_device(a[OWNER])  # consenting to what is proposed now still works
    assert licence.device == a[OWNER]


def _mining_paused(chain: Chain, paused: bool) -> None:
    """Queue transactions instead of mining each (the embedded chain, or a dev node's RPC)."""
    if chain.is_embedded:
        tester = chain._tester
        if paused:
            tester.disable_auto_mine_transactions()
        else:
            tester.enable_auto_mine_transactions()
    else:
        chain.w3.provider.make_request("evm_setAutomine", [not paused])  # type: ignore[arg-type]


def _mine(chain: Chain) -> None:
    if chain.is_embedded:
        chain._tester.mine_blocks(1)
    else:
        chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_three_plants_attesting_in_one_block_are_all_recorded(
    chain: Chain, compiler: CompilerConfig
) -> None:
    a = chain.accounts
    plants = [a[PLANT + i] for i in range(3)]
    audit = FederatedRoundAuditClient.create(chain, compiler=compiler)
    for plant in plants:
        audit.add_plant(plant)
    audit.open_round(MODEL, plants)
    seen = audit.counter()
    contract = chain.w3.eth.contract(address=audit.address, abi=audit.deployed.compiled.abi)
    _mining_paused(chain, True)
    try:
        hashes = [
            contract.functions.attest(seen, 1).transact({"from": plant, "gas": 500_000})
            for plant in plants
        ]
        _mine(chain)
    finally:
        _mining_paused(chain, False)
    receipts = [chain.w3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert [r["status"] for r in receipts] == [1, 1, 1]
    assert audit.attestations == 3
    assert all(audit.attested_round(p) == 1 for p in plants)


@pytest.mark.slow
def test_the_griefing_scenarios_on_hardhat(hardhat_url: str, compiler: CompilerConfig) -> None:
    chain = Chain.connect(hardhat_url)
    test_a_top_up_ordered_first_no_longer_voids_the_owners_suspend(chain, compiler)
    test_a_change_of_state_still_voids_a_transaction_prepared_before_it(chain, compiler)
    test_accept_device_names_the_device_so_a_swapped_proposal_reverts(chain, compiler)
    test_three_plants_attesting_in_one_block_are_all_recorded(chain, compiler)
