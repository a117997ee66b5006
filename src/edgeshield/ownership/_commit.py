"""Ownership commitments: bind the watermark key, the released model and the owner, in time.

Why: a watermark shows that the suspect carries the owner's key, but a thief could claim to
have embedded their own key first. Committing to ``H(key digest || model digest || owner)``
before release, on an append-only record with a time stamp, and revealing the key digest
later proves that the owner held the key when the model was released. The hash is the one the
ledger's ``ModelRegistry`` contract checks on reveal: ``keccak256(abi.encode(key_digest,
model_digest, salt))`` with the owner's id as the salt's preimage, which the ledger store binds
to the committing account, the registry and the chain (``keccak256(abi.encode(hash,
msg.sender, address(this), block.chainid))``) so a front-run copy can never be opened.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from eth_hash.auto import keccak

from edgeshield._files import read_small_file
from edgeshield.errors import ConfigError, OwnershipError, StorageError
from edgeshield.ownership._key import WatermarkKey

__all__ = [
    "CommitmentOpening",
    "CommitmentReceipt",
    "CommitmentStore",
    "LedgerCommitmentStore",
    "LocalCommitmentLog",
    "RegistryLike",
    "commitment",
    "owner_salt",
]

Clock = Callable[[], datetime]


def owner_salt(owner_id: str) -> bytes:
    """32-byte salt naming the owner (the ``salt`` the ledger's reveal takes)."""
    if not owner_id or len(owner_id) > 256:
        raise ConfigError("owner id must be 1 to 256 characters")
    return hashlib.sha256(b"edgeshield.ownership.owner/v1\x00" + owner_id.encode()).digest()


def commitment(key: WatermarkKey, model_digest: bytes, owner_id: str) -> bytes:
    """``keccak256(key digest || model digest || owner salt)``: what the owner commits to.

    ``model_digest`` is the 32 bytes of the model digest
    (``bytes.fromhex(classifier.model_digest)``), the one a bundle and a licence name.
    """
    if len(model_digest) != 32:
        raise ConfigError("a model digest is 32 bytes")
    return bytes(keccak(key.digest() + model_digest + owner_salt(owner_id)))


@dataclass(frozen=True, kw_only=True)
class CommitmentOpening:
    """What opens a commitment: the key digest, the model digest and the owner id."""

    key_digest: bytes
    model_digest: bytes
    owner_id: str

    @classmethod
    def of(cls, key: WatermarkKey, model_digest: bytes, owner_id: str) -> CommitmentOpening:
        """The opening of :func:`commitment` for these values."""
        return cls(key_digest=key.digest(), model_digest=model_digest, owner_id=owner_id)

    def commitment(self) -> bytes:
        """The commitment this opening opens."""
        return bytes(keccak(self.key_digest + self.model_digest + owner_salt(self.owner_id)))


@dataclass(frozen=True, kw_only=True)
class CommitmentReceipt:
    """Where and when a commitment was recorded (and revealed, once it is)."""

    commitment: bytes
    committed_at: datetime
    store: str
    revealed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "commitment": self.commitment.hex(),
            "committed_at": self.committed_at.isoformat(),
            "store": self.store,
            "revealed_at": self.revealed_at.isoformat() if self.revealed_at else None,
        }


class CommitmentStore(Protocol):
    """An append-only record of commitments with time stamps (a file, a ledger contract)."""

    def commit(self, value: bytes) -> CommitmentReceipt:
        """Record ``value`` now; return where and when."""
        ...

    def reveal(self, opening: CommitmentOpening) -> CommitmentReceipt:
        """Open a recorded commitment; raise :class:`OwnershipError` if it does not match."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


#: The most a local commitment log may hold (one line of ~150 bytes per commit or reveal).
MAX_LOG_BYTES = 64 << 20


class LocalCommitmentLog:
    """Commitments in a local JSON-lines file with time stamps from an injectable clock.

    Why: the embedded default when no ledger is configured; it gives the same commit/reveal
    interface, but its time stamps are only as trustworthy as the machine that wrote them.
    """

    def __init__(self, path: str | Path, *, clock: Clock = _utc_now) -> None:
        self.path = Path(path)
        self._clock = clock

    def _entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        try:  # a regular file, bounded: /dev/zero grew until the OOM killer, a FIFO hung
            text = read_small_file(self.path, limit=MAX_LOG_BYTES).decode("utf-8")
            entries = [json.loads(line) for line in text.splitlines() if line]
        except OSError as exc:
            raise StorageError(
                f"cannot read commitment log {self.path}: {exc.strerror or exc}"
            ) from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StorageError(f"cannot read commitment log {self.path}: {exc}") from exc
        for number, entry in enumerate(entries, 1):
            if not isinstance(entry, dict) or not {"event", "commitment", "at"} <= entry.keys():
                raise StorageError(
                    f"cannot read commitment log {self.path}: entry {number} is not a commitment"
                )
        return entries

    def _append(self, entry: dict[str, Any]) -> None:
        try:
            with self.path.open("a+b") as handle:
                # a last line without its newline (an editor's save) would be glued to this one
                handle.seek(0, os.SEEK_END)
                lead = b""
                if handle.tell() > 0:
                    handle.seek(-1, os.SEEK_END)
                    lead = b"" if handle.read(1) == b"\n" else b"\n"
                handle.write(lead + (json.dumps(entry) + "\n").encode())
        except OSError as exc:
            raise StorageError(f"cannot write commitment log {self.path}: {exc}") from exc

    def commit(self, value: bytes) -> CommitmentReceipt:
        """Append ``value`` with the current time."""
        if len(value) != 32:
            raise ConfigError("a commitment is 32 bytes")
        self._entries()  # never append to a file that is not a commitment log
        now = self._clock()
        self._append({"event": "commit", "commitment": value.hex(), "at": now.isoformat()})
        return CommitmentReceipt(commitment=value, committed_at=now, store=f"file:{self.path}")

    def lookup(self, value: bytes) -> CommitmentReceipt:
        """The receipt of a recorded commitment (earliest commit, latest reveal)."""
        committed: datetime | None = None
        revealed: datetime | None = None
        for entry in self._entries():
            if entry.get("commitment") != value.hex():
                continue
            at = datetime.fromisoformat(str(entry["at"]))
            if entry.get("event") == "commit" and committed is None:
                committed = at
            elif entry.get("event") == "reveal":
                revealed = at
        if committed is None:
            raise OwnershipError("no such commitment in the log")
        return CommitmentReceipt(
            commitment=value,
            committed_at=committed,
            store=f"file:{self.path}",
            revealed_at=revealed,
        )

    def reveal(self, opening: CommitmentOpening) -> CommitmentReceipt:
        """Check the opening against a recorded commitment and log the reveal."""
        value = opening.commitment()
        self.lookup(value)
        self._append(
            {
                "event": "reveal",
                "commitment": value.hex(),
                "key_digest": opening.key_digest.hex(),
                "model_digest": opening.model_digest.hex(),
                "owner_id": opening.owner_id,
                "at": self._clock().isoformat(),
            }
        )
        return self.lookup(value)


class RegistryLike(Protocol):
    """The part of the ledger's ``ModelRegistryClient`` a commitment store needs."""

    @property
    def address(self) -> str:
        """The registry contract's address."""
        ...

    def commit(self, commitment: bytes) -> object:
        """Send the commit transition."""
        ...

    def reveal(self, key_digest: bytes, salt: bytes) -> object:
        """Send the reveal transition."""
        ...

    @property
    def committed_at(self) -> int:
        """Block time stamp of the commitment."""
        ...

    @property
    def revealed_at(self) -> int:
        """Block time stamp of the reveal."""
        ...

    @property
    def commitment(self) -> bytes:
        """The committed hash."""
        ...

    def bound_commitment(self, commitment: bytes, *, committer: str | None = None) -> bytes:
        """``commitment`` bound to the committer, the registry and the chain."""
        ...


class LedgerCommitmentStore:
    """Commitments in the ledger's ``ModelRegistry`` contract (block time stamps).

    Why: a contract on a chain the owner does not control is a time stamp a third party can
    check; the registry's reveal re-computes the same keccak hash as :func:`commitment`.
    """

    def __init__(self, registry: RegistryLike) -> None:
        self.registry = registry

    def _receipt(self) -> CommitmentReceipt:
        revealed = self.registry.revealed_at
        return CommitmentReceipt(
            commitment=bytes(self.registry.commitment),
            committed_at=datetime.fromtimestamp(self.registry.committed_at, UTC),
            store=f"ledger:ModelRegistry@{self.registry.address}",
            revealed_at=datetime.fromtimestamp(revealed, UTC) if revealed else None,
        )

    def commit(self, value: bytes) -> CommitmentReceipt:
        """Send the registry's commit transition with ``value`` bound to owner, registry, chain."""
        self.registry.commit(self.registry.bound_commitment(value))
        return self._receipt()

    def reveal(self, opening: CommitmentOpening) -> CommitmentReceipt:
        """Send the registry's reveal transition; a mismatch becomes :class:`OwnershipError`."""
        bound = self.registry.bound_commitment(opening.commitment())
        if bound != bytes(self.registry.commitment):
            raise OwnershipError("the opening does not match the registry's commitment")
        try:
            self.registry.reveal(opening.key_digest, owner_salt(opening.owner_id))
        except Exception as exc:
            raise OwnershipError(f"the registry refused the reveal: {exc}") from exc
        return self._receipt()
