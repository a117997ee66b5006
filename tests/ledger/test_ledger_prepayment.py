"""Issue 17, finding 3: the vendor cannot take the prepayment, and the licensee can leave.

The audit's attack: the owner rebinds the device to itself, reports 1000 uses as the "device"
and withdraws the licensee's whole prepayment. Rebinding now needs the licensee's consent, and
the licensee can cancel an active or suspended licence, even a paused one, and pull its
unspent prepayment to an address of its choice. Runs on the embedded chain and on a Hardhat
node.
"""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address
from ledger_kit import DEVICE, LICENSEE, OWNER, PREPAID, STRANGER, active_licence

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import Chain, CompilerConfig


def _vendor_cannot_take_the_prepayment(chain: Chain, compiler: CompilerConfig) -> None:
    owner = chain.accounts[OWNER]
    licence = active_licence(chain, compiler)
    licence.rebind_device(owner)  # only a proposal now
    assert licence.device == chain.accounts[DEVICE]
    assert licence.pending_device == owner
    with pytest.raises(ContractRevertError, match="needs role device"):
        licence.report_usage(1000, sender=owner)
    with pytest.raises(ContractRevertError, match="needs role licensee"):
        licence.accept_device(owner, sender=owner)
    with pytest.raises(ContractRevertError, match="NothingToWithdraw"):
        licence.withdraw(sender=owner)
    assert licence.prepaid == PREPAID


def _licensee_recovers_unspent_prepayment(chain: Chain, compiler: CompilerConfig) -> None:
    owner, licensee = chain.accounts[OWNER], chain.accounts[LICENSEE]
    licence = active_licence(chain, compiler)
    licence.report_usage(100)
    spent = 100 * licence.price_per_use
    licence.suspend()  # the vendor stalls the licence, expiry a year away
    with pytest.raises(ContractRevertError, match="needs role licensee"):
        licence.cancel(sender=chain.accounts[STRANGER])
    licence.cancel()
    assert licence.state() == "Revoked"
    assert licence.credits(licensee) == PREPAID - spent
    before = chain.balance(licensee)
    result = licence.withdraw(sender=licensee)
    assert result.gas_used > 0
    assert chain.balance(licensee) > before
    assert licence.credits(owner) == spent  # the vendor keeps what was used, no more


def _pause_forever_does_not_hold_the_refund(chain: Chain, compiler: CompilerConfig) -> None:
    """The owner pauses for good; the licensee still leaves with its unspent prepayment."""
    owner, licensee = chain.accounts[OWNER], chain.accounts[LICENSEE]
    licence = active_licence(chain, compiler)
    licence.report_usage(100)
    spent = 100 * licence.price_per_use
    licence.pause()  # and never unpause; the expiry is a year away
    with pytest.raises(ContractRevertError, match="ContractPaused"):
        licence.report_usage(1)
    with pytest.raises(ContractRevertError, match="ContractPaused"):
        licence.top_up(1)
    for outsider in (chain.accounts[STRANGER], owner, chain.accounts[DEVICE]):
        with pytest.raises(ContractRevertError, match="needs role licensee"):
            licence.cancel(sender=outsider)
    licence.cancel()
    assert licence.paused
    assert licence.state() == "Revoked"
    assert licence.prepaid == 0
    assert licence.credits(licensee) == PREPAID - spent
    licence.withdraw_to(owner, sender=owner)  # the owner takes what was used, no more
    assert licence.credits(licensee) == PREPAID - spent
    payee = to_checksum_address("0x" + "5a" * 20)  # the licensee's choice, holding nothing
    before = chain.balance(payee)
    licence.withdraw_to(payee, sender=licensee)
    assert chain.balance(payee) - before == PREPAID - spent
    assert licence.credits(licensee) == 0


def test_vendor_cannot_take_the_prepayment(chain: Chain, compiler: CompilerConfig) -> None:
    _vendor_cannot_take_the_prepayment(chain, compiler)


def test_licensee_recovers_unspent_prepayment(chain: Chain, compiler: CompilerConfig) -> None:
    _licensee_recovers_unspent_prepayment(chain, compiler)


def test_pause_forever_does_not_hold_the_refund(chain: Chain, compiler: CompilerConfig) -> None:
    _pause_forever_does_not_hold_the_refund(chain, compiler)


def test_rebinding_with_consent(chain: Chain, compiler: CompilerConfig) -> None:
    licence = active_licence(chain, compiler)
    new = chain.accounts[STRANGER]
    with pytest.raises(ContractRevertError, match="does not hold"):
        licence.accept_device(new)  # nothing proposed
    licence.rebind_device(new)
    licence.accept_device(new)
    assert licence.device == new
    assert int(licence.pending_device, 16) == 0
    licence.report_usage(1, sender=new)


@pytest.mark.slow
def test_prepayment_scenarios_on_hardhat(hardhat_url: str, compiler: CompilerConfig) -> None:
    chain = Chain.connect(hardhat_url)
    _vendor_cannot_take_the_prepayment(chain, compiler)
    _licensee_recovers_unspent_prepayment(chain, compiler)
    _pause_forever_does_not_hold_the_refund(chain, compiler)
