"""withdrawTo (issue 17, low): a payee that cannot receive ether still collects its refund.

A licensee that is a contract without ``receive()`` is credited its refund on ``cancel``;
``withdraw()`` can never pay it (the transfer reverts), so before ``withdrawTo`` the money was
stuck. Now it sends its credit to an address of its choice; nobody else can move that credit,
and the zero address is refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from ledger_kit import DEVICE, OWNER, STRANGER, deploy, error_of, transact_error

from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    compile_solidity,
    compiled_for,
    shipped_spec,
)

LICENCE = shipped_spec("ModelLicence")
ZERO = "0x" + "00" * 20
PREPAID = 1_000
SOURCE = """
// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

interface ILicence {
    function accept(uint256 expectedCounter) external payable;
    function cancel() external;
    function withdraw() external;
    function withdrawTo(address payable to) external;
    function transitionCounter() external view returns (uint256);
}

/// A licensee contract with no receive(): it can never take ether itself.
contract NoReceiveLicensee {
    ILicence public target;

    function setTarget(address target_) external { target = ILicence(target_); }

    function acceptLicence() external payable {
        target.accept{value: msg.value}(target.transitionCounter());
    }

    function cancelLicence() external { target.cancel(); }

    function pull() external { target.withdraw(); }

    function pullTo(address payable to) external { target.withdrawTo(to); }
}
"""


@pytest.fixture
def cancelled(chain: Chain, compiler: CompilerConfig) -> tuple[Any, Any]:
    """A licence whose contract licensee cancelled: its refund is credited and stuck."""
    helper = compile_solidity(SOURCE, "NoReceiveLicensee", compiler)
    licensee = chain.deploy(helper, [], sender=chain.accounts[STRANGER])
    licence = deploy(chain, LICENCE, compiled_for(LICENCE, compiler), licensee=licensee.address)
    licensee.transact("setTarget", licence.address, sender=chain.accounts[STRANGER])
    licensee.transact("acceptLicence", sender=chain.accounts[STRANGER], value=PREPAID)
    licensee.transact("cancelLicence", sender=chain.accounts[STRANGER])
    assert licence.call("credits", licensee.address) == PREPAID
    return licence, licensee


def test_withdraw_cannot_pay_a_contract_without_receive(
    chain: Chain, cancelled: tuple[Any, Any]
) -> None:
    licence, licensee = cancelled
    assert error_of(lambda: licensee.transact("pull", sender=chain.accounts[STRANGER]))
    assert licence.call("credits", licensee.address) == PREPAID


def test_withdraw_to_an_address_of_its_choice(chain: Chain, cancelled: tuple[Any, Any]) -> None:
    licence, licensee = cancelled
    wallet = chain.accounts[7]
    before = chain.balance(wallet)
    result = licensee.transact("pullTo", wallet, sender=chain.accounts[STRANGER])
    assert chain.balance(wallet) - before == PREPAID
    assert licence.call("credits", licensee.address) == 0
    assert chain.balance(licence.address) == 0
    withdrawal = [e for e in licence.events(result.block_number) if e.name == "Withdrawal"]
    assert [(e.args["payee"], e.args["amount"]) for e in withdrawal] == [
        (licensee.address, PREPAID)
    ]


def test_nobody_else_can_redirect_the_credit(chain: Chain, cancelled: tuple[Any, Any]) -> None:
    """The attacker's side: withdrawTo moves only the caller's own credit."""
    licence, licensee = cancelled
    for thief in (chain.accounts[OWNER], chain.accounts[DEVICE], chain.accounts[STRANGER]):
        error = transact_error(licence, "withdrawTo", [thief], sender=thief)
        assert error == "NothingToWithdraw"
    assert licence.call("credits", licensee.address) == PREPAID


def test_the_zero_address_is_refused(chain: Chain, cancelled: tuple[Any, Any]) -> None:
    licence, licensee = cancelled
    assert error_of(lambda: licensee.transact("pullTo", ZERO, sender=chain.accounts[STRANGER]))
    assert licence.call("credits", licensee.address) == PREPAID
    # directly: the zero address is refused before the credit is looked at
    owner = chain.accounts[OWNER]
    assert transact_error(licence, "withdrawTo", [ZERO], sender=owner) == "ZeroAddress"
