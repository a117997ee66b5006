"""Helpers shared by the ledger tests: deployment arguments, attackers, behaviour checks.

The behaviour checks are plain functions over a compiled contract so that the mutation test
can run them against mutants of the generated code as well as against the real thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import (
    Chain,
    CompiledContract,
    CompilerConfig,
    ContractSpec,
    DeployedContract,
    ModelLicenceClient,
    compile_solidity,
)

DAY = 86_400
DIGEST = b"\x11" * 32

# Roles by account index on the embedded chain.
OWNER, LICENSEE, DEVICE, STRANGER, PLANT = range(5)
PREPAID = 10**18


def active_licence(chain: Chain, compiler: CompilerConfig) -> ModelLicenceClient:
    """A year-long ModelLicence, accepted by the licensee with ``PREPAID`` wei."""
    a = chain.accounts
    licence = ModelLicenceClient.create(
        chain,
        licensee=a[LICENSEE],
        device=a[DEVICE],
        model_digest=b"\x42" * 32,
        price_per_use=10**15,
        expires_at=chain.next_timestamp() + 365 * DAY,
        owner=a[OWNER],
        compiler=compiler,
    )
    licence.accept(PREPAID)
    return licence


def constructor_args(
    spec: ContractSpec, chain: Chain, *, licensee: str | None = None, expires_in: int = 10 * DAY
) -> dict[str, Any]:
    """Named constructor arguments for the shipped specs."""
    if spec.contract != "ModelLicence":
        return {}
    accounts = chain.accounts
    return {
        "licensee": licensee or accounts[LICENSEE],
        "device": accounts[DEVICE],
        "modelDigest": DIGEST,
        "pricePerUse": 10,
        "expiresAt": chain.next_timestamp() + expires_in,
    }


def ordered(spec: ContractSpec, args: dict[str, Any]) -> list[Any]:
    """Constructor arguments in ABI order."""
    return [args[name] for name in spec.constructor_inputs]


def deploy(
    chain: Chain, spec: ContractSpec, compiled: CompiledContract, **kwargs: Any
) -> DeployedContract:
    """Deploy ``compiled`` (generated from ``spec``) from the owner account."""
    args = constructor_args(spec, chain, **kwargs)
    return chain.deploy(compiled, ordered(spec, args), sender=chain.accounts[OWNER])


def counter(contract: DeployedContract) -> int:
    """Current transition counter."""
    return int(contract.call("transitionCounter"))


def counter_arg(spec: ContractSpec, name: str, contract: DeployedContract) -> list[int]:
    """The ``expectedCounter`` argument of transition ``name``: none if it takes no counter."""
    return [counter(contract)] if spec.takes_counter(name) else []


def error_of(action: Callable[[], Any]) -> str | None:
    """Run ``action``; the custom error's name if it reverted, None if it succeeded."""
    try:
        action()
    except ContractRevertError as exc:
        return exc.error_name
    return None


def transact_error(
    contract: DeployedContract, function: str, args: list[Any], *, sender: str, value: int = 0
) -> str | None:
    """Send a transaction; the custom error's name if it reverted, None if it succeeded."""
    try:
        contract.transact(function, *args, sender=sender, value=value)
    except ContractRevertError as exc:
        return exc.error_name
    return None


def sample_inputs(spec: ContractSpec, name: str, chain: Chain) -> list[Any]:
    """Valid-looking inputs for transition ``name`` (role checks come before guards)."""
    values = {
        "uint256": 1,
        "bool": True,
        "address": chain.accounts[STRANGER],
        "bytes32": DIGEST,
        "string": "x",
    }
    return [values[t] for t in spec.transition(name).inputs.values()]


# --- attackers ---------------------------------------------------------------------------------

ATTACKER_SOURCE = """
// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

interface ILicence {
    function accept(uint256 expectedCounter) external payable;
    function topUp(uint256 expectedCounter) external payable;
    function withdraw() external;
    function transitionCounter() external view returns (uint256);
}

/// A licensee contract that re-enters the licence when it receives ether.
contract ReentrantLicensee {
    ILicence public target;
    uint256 public reentries;
    bytes4 public lastError;
    uint8 public mode; // 0: re-enter withdraw, 1: re-enter a transition

    constructor(uint8 mode_) { mode = mode_; }

    function setTarget(address target_) external { target = ILicence(target_); }

    function acceptLicence() external payable {
        target.accept{value: msg.value}(target.transitionCounter());
    }

    function attack() external { target.withdraw(); }

    receive() external payable {
        if (reentries > 3) return;
        reentries += 1;
        if (mode == 0) {
            try target.withdraw() {} catch (bytes memory reason) { lastError = bytes4(reason); }
        } else {
            uint256 c = target.transitionCounter();
            try target.topUp{value: msg.value}(c) {} catch (bytes memory reason) {
                lastError = bytes4(reason);
            }
        }
    }
}

interface ISuspend {
    function suspend(uint256 expectedCounter) external;
    function transitionCounter() external view returns (uint256);
}

/// A contract the owner is lured into calling; it tries to act with the owner's authority.
contract Phisher {
    bool public succeeded;

    function claimReward(address licence) external {
        ISuspend target = ISuspend(licence);
        try target.suspend(target.transitionCounter()) { succeeded = true; } catch {}
    }
}
"""


def attackers(config: CompilerConfig) -> tuple[CompiledContract, CompiledContract]:
    """The compiled ReentrantLicensee and Phisher contracts."""
    reentrant = compile_solidity(ATTACKER_SOURCE, "ReentrantLicensee", config)
    phisher = compile_solidity(ATTACKER_SOURCE, "Phisher", config)
    return reentrant, phisher


# --- behaviour checks (each returns a list of violations; empty means safe) --------------------


def check_unauthorized(chain: Chain, spec: ContractSpec, compiled: CompiledContract) -> list[str]:
    """Every restricted transition called by a stranger must revert with Unauthorized.

    One deployment serves every call: a reverted call changes nothing.
    """
    violations = []
    contract = deploy(chain, spec, compiled)
    for item in spec.transitions:
        if "anyone" in item.role:
            continue
        args = [*counter_arg(spec, item.name, contract), *sample_inputs(spec, item.name, chain)]
        value = 1 if item.payable else 0
        error = transact_error(
            contract, item.name, args, sender=chain.accounts[STRANGER], value=value
        )
        if error != "Unauthorized":
            violations.append(f"{item.name} by a stranger: {error or 'succeeded'}")
    return violations


def check_wrong_state(chain: Chain, spec: ContractSpec, compiled: CompiledContract) -> list[str]:
    """Each transition called by its role in the initial state, if not a source, must revert."""
    violations = []
    role_account = {"owner": OWNER, "licensee": LICENSEE, "device": DEVICE, "aggregator": OWNER}
    contract = deploy(chain, spec, compiled)
    for item in spec.transitions:
        if spec.initial in item.from_ or item.role[0] not in role_account:
            continue
        sender = chain.accounts[role_account[item.role[0]]]
        args = [*counter_arg(spec, item.name, contract), *sample_inputs(spec, item.name, chain)]
        value = 1 if item.payable else 0
        error = transact_error(contract, item.name, args, sender=sender, value=value)
        if error != "InvalidState":
            violations.append(f"{item.name} in {spec.initial}: {error or 'succeeded'}")
    return violations


def check_reentrancy(
    chain: Chain,
    spec: ContractSpec,
    compiled: CompiledContract,
    attacker: CompiledContract,
    mode: int = 0,
) -> list[str]:
    """A re-entering licensee gets back exactly its refund, never more."""
    owner = chain.accounts[OWNER]
    thief = chain.deploy(attacker, [mode], sender=chain.accounts[STRANGER])
    licence = deploy(chain, spec, compiled, licensee=thief.address)
    thief.transact("setTarget", licence.address, sender=chain.accounts[STRANGER])
    deposit = 10**18
    # Someone else's money sits in the contract too: the owner's earnings are credited.
    thief.transact("acceptLicence", sender=chain.accounts[STRANGER], value=deposit)
    # Half the deposit is used (credited to the owner), half is refunded on revocation.
    licence.transact("reportUsage", counter(licence), deposit // 20, sender=chain.accounts[DEVICE])
    licence.transact("revoke", counter(licence), sender=owner)
    before = chain.balance(thief.address)
    error = error_of(lambda: thief.transact("attack", sender=chain.accounts[STRANGER]))
    gained = chain.balance(thief.address) - before
    violations = []
    refund = deposit // 2
    if error is None and gained != refund:
        violations.append(f"attacker gained {gained} wei, entitled to {refund}")
    if error is None and chain.balance(licence.address) != deposit - refund:
        violations.append(
            f"licence holds {chain.balance(licence.address)} wei, "
            f"expected the owner's {deposit - refund}"
        )
    return violations


def check_phishing(
    chain: Chain, spec: ContractSpec, compiled: CompiledContract, phisher: CompiledContract
) -> list[str]:
    """A contract the owner calls cannot use the owner's authority (no tx.origin)."""
    licence = deploy(chain, spec, compiled)
    licence.transact("accept", counter(licence), sender=chain.accounts[LICENSEE], value=100)
    bait = chain.deploy(phisher, [], sender=chain.accounts[STRANGER])
    bait.transact("claimReward", licence.address, sender=chain.accounts[OWNER])
    if bait.call("succeeded") or spec.states[int(licence.call("state"))] != "Active":
        return ["a phishing contract suspended the licence with the owner's authority"]
    return []
