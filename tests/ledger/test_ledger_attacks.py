"""Attacks on the generated contracts: reentrancy, stale counters, wrong callers, phishing."""

from __future__ import annotations

import pytest
from ledger_kit import (
    LICENSEE,
    OWNER,
    STRANGER,
    attackers,
    check_phishing,
    check_reentrancy,
    check_unauthorized,
    check_wrong_state,
    counter,
    deploy,
    error_of,
)

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    ContractSpec,
    Locking,
    compiled_for,
    error_selector,
)

SHIPPED = ("ModelRegistry", "ModelLicence", "FederatedRoundAudit")


@pytest.mark.parametrize("name", SHIPPED)
def test_unauthorized_callers_revert_for_every_transition(
    chain: Chain, specs: dict[str, ContractSpec], compiler: CompilerConfig, name: str
) -> None:
    spec = specs[name]
    assert check_unauthorized(chain, spec, compiled_for(spec, compiler)) == []


@pytest.mark.parametrize("name", SHIPPED)
def test_transitions_revert_outside_their_source_states(
    chain: Chain, specs: dict[str, ContractSpec], compiler: CompilerConfig, name: str
) -> None:
    spec = specs[name]
    assert check_wrong_state(chain, spec, compiled_for(spec, compiler)) == []


@pytest.mark.parametrize("locking", [Locking.TRANSIENT, Locking.STORAGE, Locking.NONE])
def test_reentrant_licensee_cannot_drain(
    chain: Chain, specs: dict[str, ContractSpec], compiler: CompilerConfig, locking: Locking
) -> None:
    spec = specs["ModelLicence"]
    variant = spec.with_plugins(spec.plugins.model_copy(update={"locking": locking}))
    reentrant, _ = attackers(compiler)
    # Checks-effects-interactions alone keeps the funds safe; the lock is defence in depth.
    assert check_reentrancy(chain, variant, compiled_for(variant, compiler), reentrant) == []


@pytest.mark.parametrize("mode", [0, 1], ids=["reenter-withdraw", "reenter-transition"])
def test_lock_rejects_reentry_with_its_own_error(
    chain: Chain, specs: dict[str, ContractSpec], compiler: CompilerConfig, mode: int
) -> None:
    spec = specs["ModelLicence"]
    compiled = compiled_for(spec, compiler)
    reentrant, _ = attackers(compiler)
    thief = chain.deploy(reentrant, [mode], sender=chain.accounts[STRANGER])
    licence = deploy(chain, spec, compiled, licensee=thief.address)
    thief.transact("setTarget", licence.address, sender=chain.accounts[STRANGER])
    thief.transact("acceptLicence", sender=chain.accounts[STRANGER], value=1000)
    licence.transact("revoke", counter(licence), sender=chain.accounts[OWNER])
    thief.transact("attack", sender=chain.accounts[STRANGER])
    assert int(thief.call("reentries")) == 1
    assert "0x" + bytes(thief.call("lastError")).hex() == error_selector("ReentrantCall()")
    assert chain.balance(licence.address) == 0
    assert int(licence.call("credits", thief.address)) == 0


def test_stale_counter_reverts_and_changes_nothing(
    chain: Chain, specs: dict[str, ContractSpec], compiler: CompilerConfig
) -> None:
    spec = specs["ModelLicence"]
    licence = deploy(chain, spec, compiled_for(spec, compiler))
    seen = counter(licence)  # the licensee reads the contract...
    licence.transact("accept", seen, sender=chain.accounts[LICENSEE], value=100)
    # ...and a transaction ordered before theirs (here: the owner suspending) moves it on.
    licence.transact("suspend", counter(licence), sender=chain.accounts[OWNER])
    with pytest.raises(ContractRevertError, match=r"StaleCounter\(1, 2\)") as info:
        licence.transact("topUp", seen + 1, sender=chain.accounts[LICENSEE], value=50)
    assert info.value.error_name == "StaleCounter"
    assert info.value.error_args == (1, 2)
    assert int(licence.call("prepaid")) == 100
    assert error_of(lambda: licence.transact("suspend", 0, sender=chain.accounts[OWNER])) == (
        "StaleCounter"
    )


def test_owner_cannot_be_phished_into_acting(
    chain: Chain, specs: dict[str, ContractSpec], compiler: CompilerConfig
) -> None:
    spec = specs["ModelLicence"]
    _, phisher = attackers(compiler)
    assert check_phishing(chain, spec, compiled_for(spec, compiler), phisher) == []
