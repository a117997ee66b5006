"""Typed clients of the shipped contracts on the embedded chain, and chain-level errors."""

from __future__ import annotations

import pytest
from ledger_kit import DAY, DEVICE, LICENSEE, OWNER, PLANT, STRANGER

from edgeshield.errors import ChainError, ConfigError, ContractRevertError
from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    FederatedRoundAuditClient,
    ModelLicenceClient,
    ModelRegistryClient,
    decode_revert,
)

MODEL = b"\x42" * 32
KEY = b"\x07" * 32
SALT = b"\x99" * 32


def test_registry_commit_reveal_and_transfer(chain: Chain, compiler: CompilerConfig) -> None:
    owner, heir = chain.accounts[OWNER], chain.accounts[STRANGER]
    registry = ModelRegistryClient.create(chain, owner=owner, compiler=compiler)
    assert registry.state() == "Unregistered"
    registry.register(MODEL, "ipfs://card")
    commitment = registry.bound_commitment(ModelRegistryClient.commitment_of(KEY, MODEL, SALT))
    registry.commit(commitment)
    with pytest.raises(ContractRevertError, match="guard `keccak") as info:
        registry.reveal(KEY, b"\x00" * 32)
    assert info.value.error_name == "GuardFailed"
    result = registry.reveal(KEY, SALT)
    assert registry.state() == "Revealed"
    assert registry.watermark_key_digest == KEY
    assert registry.committed_at < registry.revealed_at == result.timestamp
    assert registry.commitment == commitment
    registry.transfer_ownership(heir)
    assert (registry.owner, registry.pending_owner) == (owner, heir)
    with pytest.raises(ContractRevertError, match="needs role pendingOwner"):
        registry.accept_ownership(sender=chain.accounts[DEVICE])
    registry.accept_ownership()
    assert registry.owner == heir
    assert int(registry.pending_owner, 16) == 0
    with pytest.raises(ContractRevertError, match="needs role owner"):
        registry.update_metadata("ipfs://x", sender=owner)
    registry.update_metadata("ipfs://new")
    assert registry.metadata_uri == "ipfs://new"
    assert [e.name for e in registry.events()] == [
        "Register",
        "Commit",
        "Reveal",
        "TransferOwnership",
        "AcceptOwnership",
        "UpdateMetadata",
    ]
    again = ModelRegistryClient.attach(chain, registry.address, compiler=compiler)
    assert again.model_digest == MODEL
    assert again.counter() == 3  # changes of state only: register, commit, reveal


def test_licence_lifecycle_and_pull_payments(chain: Chain, compiler: CompilerConfig) -> None:
    owner, licensee, device = (chain.accounts[i] for i in (OWNER, LICENSEE, DEVICE))
    licence = ModelLicenceClient.create(
        chain,
        licensee=licensee,
        device=device,
        model_digest=MODEL,
        price_per_use=7,
        expires_at=chain.next_timestamp() + 30 * DAY,
        owner=owner,
        compiler=compiler,
    )
    assert licence.state() == "Offered"
    assert not licence.is_usable()
    licence.accept(700)
    assert licence.is_usable()
    licence.report_usage(10)
    assert (licence.prepaid, licence.uses, licence.credits(owner)) == (630, 10, 70)
    with pytest.raises(ContractRevertError, match="does not hold"):
        licence.report_usage(1000)
    licence.suspend()
    assert not licence.is_usable()
    with pytest.raises(ContractRevertError, match="not allowed in state Suspended"):
        licence.report_usage(1)
    licence.resume()
    licence.pause()
    with pytest.raises(ContractRevertError, match="ContractPaused"):
        licence.report_usage(1)
    licence.unpause()
    held = chain.balance(licence.address)
    receipt = licence.withdraw(sender=owner)
    assert chain.balance(licence.address) == held - 70
    assert [e.name for e in receipt.events] == ["Withdrawal"]
    with pytest.raises(ContractRevertError, match="NothingToWithdraw"):
        licence.withdraw(sender=owner)
    licence.revoke()
    assert licence.state() == "Revoked"
    assert licence.credits(licensee) == 630
    assert chain.balance(licence.address) == 630


def test_licence_expires_by_time(chain: Chain, compiler: CompilerConfig) -> None:
    licensee, device = chain.accounts[LICENSEE], chain.accounts[DEVICE]
    licence = ModelLicenceClient.create(
        chain,
        licensee=licensee,
        device=device,
        model_digest=MODEL,
        price_per_use=1,
        expires_at=chain.next_timestamp() + DAY,
        compiler=compiler,
    )
    licence.accept(50)
    chain.increase_time(2 * DAY)
    assert licence.state() == "Active"  # the timed transition applies on the next call...
    assert not licence.is_usable()  # ...but a reader can already tell
    with pytest.raises(ContractRevertError, match="not allowed in state Expired"):
        licence.report_usage(1)
    assert licence.state() == "Active"  # that call reverted, so nothing happened
    events = licence.tick().events
    assert [(e.name, e.args["to"]) for e in events] == [("TimedTransition", 4)]
    assert licence.state() == "Expired"
    assert licence.credits(licensee) == 50


def test_licence_rejects_zero_roles(chain: Chain, compiler: CompilerConfig) -> None:
    with pytest.raises(ContractRevertError, match="ZeroAddress"):
        ModelLicenceClient.create(
            chain,
            licensee="0x" + "00" * 20,
            device=chain.accounts[DEVICE],
            model_digest=MODEL,
            price_per_use=1,
            expires_at=2**40,
            compiler=compiler,
        )


def test_round_audit(chain: Chain, compiler: CompilerConfig) -> None:
    plants = [chain.accounts[PLANT], chain.accounts[PLANT + 1]]
    audit = FederatedRoundAuditClient.create(chain, compiler=compiler)
    for plant in plants:
        audit.add_plant(plant)
    assert audit.plant_count == 2
    assert audit.is_plant(plants[0])
    assert not audit.is_plant(chain.accounts[STRANGER])
    identities = FederatedRoundAuditClient.identities_digest(plants)
    assert identities == FederatedRoundAuditClient.identities_digest(plants[::-1])
    audit.commit_round(MODEL, 2, identities)
    assert (audit.round, audit.participants, audit.global_model_digest) == (1, 2, MODEL)
    assert audit.participants_digest == identities
    for plant in plants:
        audit.enrol(plant)
    assert audit.enrolled_round(plants[1]) == 1
    audit.attest(1, sender=plants[0])
    with pytest.raises(ContractRevertError, match="attestedRound"):
        audit.attest(1, sender=plants[0])
    with pytest.raises(ContractRevertError, match="needs role plant"):
        audit.attest(1, sender=chain.accounts[STRANGER])
    audit.attest(1, sender=plants[1])
    assert audit.attestations == 2
    assert audit.attested_round(plants[1]) == 1
    audit.close_round()
    with pytest.raises(ContractRevertError, match="participantCount <= plantCount"):
        audit.commit_round(MODEL, 3, identities)
    audit.finish()
    assert audit.state() == "Closed"


def test_transition_argument_errors(chain: Chain, compiler: CompilerConfig) -> None:
    audit = FederatedRoundAuditClient.create(chain, compiler=compiler)
    with pytest.raises(ConfigError, match="takes"):
        audit.transition("addPlant", {})
    with pytest.raises(ConfigError, match="32 bytes"):
        audit.transition(
            "commitRound", {"modelDigest": "0x12", "participantCount": 1, "identitiesDigest": MODEL}
        )
    with pytest.raises(ConfigError, match="bad call"):
        audit.transition("addPlant", {"plantAddress": "not-an-address"})


def test_decode_revert_variants() -> None:
    assert decode_revert(b"", []) == ("Revert", ())
    panic = bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")
    assert decode_revert(panic, []) == ("Panic", (0x11,))
    assert decode_revert(b"\xde\xad\xbe\xef", [])[0] == "0xdeadbeef"


def test_chain_errors(chain: Chain, compiler: CompilerConfig) -> None:
    with pytest.raises(ConfigError, match="http"):
        Chain.connect("ftp://example.org")
    with pytest.raises(ChainError, match="cannot reach"):
        Chain.connect("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(ChainError, match="no contract"):
        ModelRegistryClient.attach(chain, chain.accounts[STRANGER], compiler=compiler)
    with pytest.raises(ConfigError, match="time only moves forward"):
        chain.increase_time(-1)


def test_embedded_chain_accounts() -> None:
    chain = Chain.embedded(accounts=12)
    assert len(chain.accounts) == 12
    assert chain.balance(chain.accounts[11]) == 10**24
    with pytest.raises(ConfigError, match="accounts"):
        Chain.embedded(accounts=0)
