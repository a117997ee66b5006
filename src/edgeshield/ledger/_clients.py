"""Typed clients for the three shipped contracts, for the packages that use the ledger.

Why: the vault (licences), ownership (commitments) and federated (round audit) packages
should call ``licence.report_usage(3)``, not assemble ABI calls; each client is a thin, typed
layer over :class:`SpecContract` for one shipped spec, with the role holder as the default
sender of each transition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from edgeshield.ledger._chain import Chain, TxResult
from edgeshield.ledger._compiler import CompilerConfig
from edgeshield.ledger._contract import SpecContract, shipped_spec

__all__ = ["FederatedRoundAuditClient", "ModelLicenceClient", "ModelRegistryClient"]


class _Client(SpecContract):
    CONTRACT = ""

    @classmethod
    def attach(cls, chain: Chain, address: str, *, compiler: CompilerConfig | None = None) -> Self:
        """Attach to an already deployed instance at ``address``."""
        return cls.at(chain, shipped_spec(cls.CONTRACT), address, compiler=compiler)

    def _address(self, name: str) -> str:
        return to_checksum_address(self.get(name))


class ModelRegistryClient(_Client):
    """One model's registration, owner, and commit-reveal ownership claim."""

    CONTRACT = "ModelRegistry"

    @classmethod
    def create(
        cls, chain: Chain, *, owner: str | None = None, compiler: CompilerConfig | None = None
    ) -> Self:
        """Deploy a registry owned by ``owner`` (default: the chain's first account)."""
        return cls.deploy(chain, shipped_spec(cls.CONTRACT), {}, sender=owner, compiler=compiler)

    @staticmethod
    def commitment_of(key_digest: bytes, model_digest: bytes, salt: bytes) -> bytes:
        """``keccak256(abi.encode(key_digest, model_digest, salt))``: what :meth:`commit` takes."""
        return keccak(
            abi_encode(["bytes32", "bytes32", "bytes32"], [key_digest, model_digest, salt])
        )

    def bound_commitment(self, commitment: bytes, *, committer: str | None = None) -> bytes:
        """What :meth:`commit` sends: ``commitment`` bound to committer, registry and chain.

        Why: ``keccak256(abi.encode(commitment, committer, address(this), block.chainid))`` is
        what ``reveal`` recomputes with ``msg.sender``, so a front-runner who copies the hash
        into its own registry, or from another account or chain, can never open it.
        """
        return keccak(
            abi_encode(
                ["bytes32", "address", "address", "uint256"],
                [
                    commitment,
                    to_checksum_address(committer or self.owner),
                    to_checksum_address(self.address),
                    self.deployed.chain.w3.eth.chain_id,
                ],
            )
        )

    @property
    def owner(self) -> str:
        """Current owner."""
        return self._address("owner")

    @property
    def pending_owner(self) -> str:
        """The address ownership was offered to (zero when none)."""
        return self._address("pendingOwner")

    @property
    def model_digest(self) -> bytes:
        """Registered model digest."""
        return bytes(self.get("modelDigest"))

    @property
    def metadata_uri(self) -> str:
        """Registered metadata URI."""
        return str(self.get("metadataUri"))

    @property
    def commitment(self) -> bytes:
        """The committed hash (zero before :meth:`commit`)."""
        return bytes(self.get("commitment"))

    @property
    def committed_at(self) -> int:
        """Block timestamp of the commitment."""
        return int(self.get("committedAt"))

    @property
    def revealed_at(self) -> int:
        """Block timestamp of the reveal."""
        return int(self.get("revealedAt"))

    @property
    def watermark_key_digest(self) -> bytes:
        """The revealed watermark-key digest."""
        return bytes(self.get("watermarkKeyDigest"))

    def register(self, digest: bytes, uri: str, *, sender: str | None = None) -> TxResult:
        """Register the model digest and its metadata URI."""
        return self.transition(
            "register", {"digest": digest, "uri": uri}, sender=sender or self.owner
        )

    def update_metadata(self, uri: str, *, sender: str | None = None) -> TxResult:
        """Change the metadata URI."""
        return self.transition("updateMetadata", {"uri": uri}, sender=sender or self.owner)

    def commit(self, commitment: bytes, *, sender: str | None = None) -> TxResult:
        """Commit to ``bound_commitment(commitment_of(key_digest, model_digest, salt))``."""
        return self.transition("commit", {"hash": commitment}, sender=sender or self.owner)

    def reveal(self, key_digest: bytes, salt: bytes, *, sender: str | None = None) -> TxResult:
        """Open the commitment; proves the key was held at :attr:`committed_at`."""
        return self.transition(
            "reveal", {"keyDigest": key_digest, "salt": salt}, sender=sender or self.owner
        )

    def transfer_ownership(self, new_owner: str, *, sender: str | None = None) -> TxResult:
        """Offer the model to ``new_owner`` (it moves when ``new_owner`` accepts)."""
        return self.transition(
            "transferOwnership", {"newOwner": new_owner}, sender=sender or self.owner
        )

    def accept_ownership(self, *, sender: str | None = None) -> TxResult:
        """The offered owner takes the model."""
        return self.transition("acceptOwnership", sender=sender or self.pending_owner)


class ModelLicenceClient(_Client):
    """A pay-per-use licence of one model on one device."""

    CONTRACT = "ModelLicence"

    @classmethod
    def create(
        cls,
        chain: Chain,
        *,
        licensee: str,
        device: str,
        model_digest: bytes,
        price_per_use: int,
        expires_at: int,
        owner: str | None = None,
        compiler: CompilerConfig | None = None,
    ) -> Self:
        """Offer a licence (deployed by ``owner``, default the chain's first account)."""
        args: dict[str, Any] = {
            "licensee": licensee,
            "device": device,
            "modelDigest": model_digest,
            "pricePerUse": price_per_use,
            "expiresAt": expires_at,
        }
        return cls.deploy(chain, shipped_spec(cls.CONTRACT), args, sender=owner, compiler=compiler)

    @property
    def owner(self) -> str:
        """The licensor."""
        return self._address("owner")

    @property
    def licensee(self) -> str:
        """The paying licensee."""
        return self._address("licensee")

    @property
    def device(self) -> str:
        """The licensed device."""
        return self._address("device")

    @property
    def model_digest(self) -> bytes:
        """Digest of the licensed model."""
        return bytes(self.get("modelDigest"))

    @property
    def price_per_use(self) -> int:
        """Wei per reported use."""
        return int(self.get("pricePerUse"))

    @property
    def expires_at(self) -> int:
        """Unix time of expiry."""
        return int(self.get("expiresAt"))

    @property
    def prepaid(self) -> int:
        """Prepaid wei not yet used."""
        return int(self.get("prepaid"))

    @property
    def uses(self) -> int:
        """Uses reported so far."""
        return int(self.get("uses"))

    @property
    def paused(self) -> bool:
        """Whether the owner paused the contract."""
        return bool(self.get("paused"))

    def is_usable(self) -> bool:
        """Whether the device may run the model now: Active, not paused, not past expiry."""
        return (
            self.state() == "Active"
            and not self.paused
            and self.chain.next_timestamp() < self.expires_at
        )

    def accept(self, value: int, *, sender: str | None = None) -> TxResult:
        """The licensee accepts and prepays ``value`` wei."""
        return self.transition("accept", sender=sender or self.licensee, value=value)

    def top_up(self, value: int, *, sender: str | None = None) -> TxResult:
        """The licensee adds ``value`` wei."""
        return self.transition("topUp", sender=sender or self.licensee, value=value)

    def report_usage(self, count: int, *, sender: str | None = None) -> TxResult:
        """The device reports ``count`` uses; the owner is credited."""
        return self.transition("reportUsage", {"count": count}, sender=sender or self.device)

    def suspend(self, *, sender: str | None = None) -> TxResult:
        """Suspend (owner)."""
        return self.transition("suspend", sender=sender or self.owner)

    def resume(self, *, sender: str | None = None) -> TxResult:
        """Resume a suspended licence (owner)."""
        return self.transition("resume", sender=sender or self.owner)

    def revoke(self, *, sender: str | None = None) -> TxResult:
        """Revoke for good; the prepayment is credited back to the licensee (owner)."""
        return self.transition("revoke", sender=sender or self.owner)

    @property
    def pending_device(self) -> str:
        """The device the owner proposed and the licensee has not accepted (zero if none)."""
        return self._address("pendingDevice")

    def rebind_device(self, new_device: str, *, sender: str | None = None) -> TxResult:
        """Propose another device (owner); it is bound when the licensee accepts it."""
        return self.transition(
            "rebindDevice", {"newDevice": new_device}, sender=sender or self.owner
        )

    def accept_device(self, expected_device: str, *, sender: str | None = None) -> TxResult:
        """The licensee consents to ``expected_device``, the proposal it has seen.

        The device is named again so that an owner's later proposal, ordered ahead of this
        transaction, makes it revert instead of binding a device the licensee never saw.
        """
        return self.transition(
            "acceptDevice", {"expectedDevice": expected_device}, sender=sender or self.licensee
        )

    def cancel(self, *, sender: str | None = None) -> TxResult:
        """The licensee ends the licence; its unspent prepayment is credited back to it.

        Callable while the contract is paused (``pause_exempt`` in the spec) and without a
        transition counter (``counter_exempt``: it ends in Revoked from Active and Suspended
        alike), so neither a pause nor a suspend or resume ordered ahead of it can hold the
        refund back. Take the money with :meth:`withdraw` or :meth:`withdraw_to`.
        """
        return self.transition("cancel", sender=sender or self.licensee)

    def tick(self, *, sender: str | None = None) -> TxResult:
        """Apply the expiry if its time has come (anyone)."""
        return self.call_function("tick", sender=sender)

    def pause(self, *, sender: str | None = None) -> TxResult:
        """Pause every transition but ``cancel`` (owner); ``withdraw`` is never paused."""
        return self.call_function("pause", sender=sender or self.owner)

    def unpause(self, *, sender: str | None = None) -> TxResult:
        """Lift a pause (owner)."""
        return self.call_function("unpause", sender=sender or self.owner)

    def withdraw(self, *, sender: str) -> TxResult:
        """Pull the ether credited to ``sender``."""
        return self.call_function("withdraw", sender=sender)

    def withdraw_to(self, to: str, *, sender: str) -> TxResult:
        """Send the ether credited to ``sender`` to ``to`` (a payee that cannot receive it)."""
        return self.call_function("withdrawTo", [to], sender=sender)


class FederatedRoundAuditClient(_Client):
    """The audit trail of federated training rounds."""

    CONTRACT = "FederatedRoundAudit"

    @classmethod
    def create(
        cls, chain: Chain, *, aggregator: str | None = None, compiler: CompilerConfig | None = None
    ) -> Self:
        """Deploy an audit trail run by ``aggregator`` (default: the first account)."""
        return cls.deploy(
            chain, shipped_spec(cls.CONTRACT), {}, sender=aggregator, compiler=compiler
        )

    @staticmethod
    def identities_digest(plants: Sequence[str]) -> bytes:
        """``keccak256(abi.encode(sorted addresses))``: a digest of the participants."""
        ordered = sorted(to_checksum_address(p) for p in plants)
        return keccak(abi_encode(["address[]"], [ordered]))

    @property
    def aggregator(self) -> str:
        """The aggregator's address."""
        return self._address("aggregator")

    @property
    def round(self) -> int:
        """Number of the last committed round (0 before the first)."""
        return int(self.get("round"))

    @property
    def attestations(self) -> int:
        """Attestations received for the current round."""
        return int(self.get("attestations"))

    @property
    def participants(self) -> int:
        """Participants declared for the current round."""
        return int(self.get("participants"))

    @property
    def global_model_digest(self) -> bytes:
        """Digest of the current round's global model."""
        return bytes(self.get("globalModelDigest"))

    @property
    def participants_digest(self) -> bytes:
        """Digest of the current round's participant identities."""
        return bytes(self.get("participantsDigest"))

    @property
    def plant_count(self) -> int:
        """Registered plants."""
        return int(self.get("plantCount"))

    def is_plant(self, address: str) -> bool:
        """Whether ``address`` is a registered plant."""
        return bool(self.get("plant", to_checksum_address(address)))

    def attested_round(self, address: str) -> int:
        """Last round ``address`` attested (0 if never)."""
        return int(self.get("attestedRound", to_checksum_address(address)))

    def add_plant(self, plant: str, *, sender: str | None = None) -> TxResult:
        """Register a plant (aggregator, between rounds)."""
        return self.transition(
            "addPlant", {"plantAddress": plant}, sender=sender or self.aggregator
        )

    def remove_plant(self, plant: str, *, sender: str | None = None) -> TxResult:
        """Remove a plant (aggregator, between rounds)."""
        return self.transition(
            "removePlant", {"plantAddress": plant}, sender=sender or self.aggregator
        )

    def commit_round(
        self,
        model_digest: bytes,
        participant_count: int,
        identities_digest: bytes,
        *,
        sender: str | None = None,
    ) -> TxResult:
        """Commit a round's global model, participant count and identities digest."""
        inputs = {
            "modelDigest": model_digest,
            "participantCount": participant_count,
            "identitiesDigest": identities_digest,
        }
        return self.transition("commitRound", inputs, sender=sender or self.aggregator)

    def enrol(self, plant: str, *, sender: str | None = None) -> TxResult:
        """Name ``plant`` a participant of the current round (aggregator); only they attest."""
        return self.transition("enrol", {"plantAddress": plant}, sender=sender or self.aggregator)

    def enrolled_round(self, address: str) -> int:
        """Last round ``address`` was enrolled in (0 if never)."""
        return int(self.get("enrolledRound", to_checksum_address(address)))

    def open_round(
        self, model_digest: bytes, plants: Sequence[str], *, sender: str | None = None
    ) -> list[TxResult]:
        """Commit a round whose participants are ``plants`` and enrol each of them."""
        results = [
            self.commit_round(
                model_digest, len(plants), self.identities_digest(plants), sender=sender
            )
        ]
        results += [self.enrol(plant, sender=sender) for plant in plants]
        return results

    def attest(self, round_number: int, *, sender: str) -> TxResult:
        """An enrolled plant attests its participation in ``round_number``."""
        return self.transition("attest", {"roundNumber": round_number}, sender=sender)

    def close_round(self, *, sender: str | None = None) -> TxResult:
        """Close the current round (aggregator)."""
        return self.transition("closeRound", sender=sender or self.aggregator)

    def finish(self, *, sender: str | None = None) -> TxResult:
        """Close the audit trail for good (aggregator)."""
        return self.transition("finish", sender=sender or self.aggregator)
