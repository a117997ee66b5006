"""Issue 17, finding 7: the transition counter no longer lets one role void another's call.

The counter counted every transition, so the licensee's ``topUp`` ordered ahead of the
owner's ``suspend`` made it revert ``StaleCounter``, and of three plants attesting in one block
only the first was recorded. It now counts changes of state: self-loops leave it alone, a
change of state still voids a transaction prepared before it, and ``acceptDevice`` names the
device it consents to, so a proposal swapped in ahead of it makes it revert. The licensee's
``cancel`` takes no counter at all (``counter_exempt``: Revoked from Active and Suspended
alike), so the owner cannot void it by ordering a suspend or resume ahead of it.
"""

from __future__ import annotations

import pytest
from ledger_kit import DEVICE, LICENSEE, OWNER, PLANT, PREPAID, STRANGER, active_licence

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


@pytest.mark.parametrize(
    "ahead", [("suspend",), ("suspend", "resume")], ids=["suspend", "suspend-resume"]
)
def test_the_owner_front_running_cancel_with_a_change_of_state_cannot_void_it(
    chain: Chain, compiler: CompilerConfig, ahead: tuple[str, ...]
) -> None:
    """The licensee's way out is not griefable through the counter (issue 17).

    The licensee sends ``cancel`` while the licence is Active; the owner sees it in the mempool
    and orders a suspend (or a suspend and a resume: back to Active, the counter two further
    on) ahead of it, the last of them in the same block. ``cancel`` takes no counter
    (``counter_exempt``: it ends in Revoked from Active and Suspended alike), so it still
    succeeds and credits exactly the unspent prepayment.
    """
    a = chain.accounts
    licence = active_licence(chain, compiler)
    licence.report_usage(100)
    unspent = PREPAID - 100 * licence.price_per_use
    seen = licence.counter()
    contract = chain.w3.eth.contract(address=licence.address, abi=licence.deployed.compiled.abi)
    for name in ahead[:-1]:  # the embedded chain queues one transaction per sender and block
        licence.transition(name, sender=a[OWNER])
    _mining_paused(chain, True)
    try:
        last = contract.functions[ahead[-1]](seen + len(ahead) - 1)
        hashes = [last.transact({"from": a[OWNER], "gas": 300_000})]
        hashes.append(contract.functions.cancel().transact({"from": a[LICENSEE], "gas": 300_000}))
        _mine(chain)
    finally:
        _mining_paused(chain, False)
    receipts = [chain.w3.eth.get_transaction_receipt(h) for h in hashes]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]
    assert [r["transactionIndex"] for r in receipts] == [0, 1]  # the owner's ordered first
    assert [r["status"] for r in receipts] == [1, 1]
    assert licence.state() == "Revoked"
    assert licence.counter() == seen + len(ahead) + 1
    assert licence.prepaid == 0
    assert licence.credits(a[LICENSEE]) == unspent
    payee = a[STRANGER]  # withdrawTo: the payee's balance moves by the refund, no gas
    before = chain.balance(payee)
    licence.withdraw_to(payee, sender=a[LICENSEE])
    assert chain.balance(payee) - before == unspent
    assert licence.credits(a[OWNER]) == 100 * licence.price_per_use  # the vendor: used, no more


def test_every_other_transition_keeps_the_ordering_check(
    chain: Chain, compiler: CompilerConfig
) -> None:
    """Only ``cancel`` is exempt: the owner's ``revoke`` prepared before a suspend still reverts."""
    licence = active_licence(chain, compiler)
    assert [t.name for t in licence.spec.transitions if not licence.spec.takes_counter(t.name)] == [
        "cancel"
    ]
    seen = licence.counter()
    licence.suspend()
    with pytest.raises(ContractRevertError, match="StaleCounter"):
        licence.transition("revoke", sender=chain.accounts[OWNER], counter=seen)
    assert licence.state() == "Suspended"


@pytest.mark.slow
def test_the_griefing_scenarios_on_hardhat(hardhat_url: str, compiler: CompilerConfig) -> None:
    chain = Chain.connect(hardhat_url)
    test_a_top_up_ordered_first_no_longer_voids_the_owners_suspend(chain, compiler)
    test_a_change_of_state_still_voids_a_transaction_prepared_before_it(chain, compiler)
    test_accept_device_names_the_device_so_a_swapped_proposal_reverts(chain, compiler)
    test_three_plants_attesting_in_one_block_are_all_recorded(chain, compiler)
    for ahead in [("suspend",), ("suspend", "resume")]:
        test_the_owner_front_running_cancel_with_a_change_of_state_cannot_void_it(
            chain, compiler, ahead
        )
