"""API clients: keys stored only as hashes, each client with an output tier and rate limits.

Why: a leaked client file must not leak usable keys; keys are 256-bit random tokens, so one
SHA-256 per key is enough (no password stretching needed), and lookups compare hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeshield.errors import ConfigError, StorageError
from edgeshield.guard._schema import OutputTier

__all__ = ["ClientRegistry", "ClientSpec", "hash_api_key", "new_api_key"]

_PREFIX = "esk_"


def new_api_key() -> str:
    """A fresh random API key (``esk_`` + 43 URL-safe characters, 256 bits)."""
    return _PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The stored form of a key: SHA-256 hex of its UTF-8 bytes."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class ClientSpec:
    """One API client.

    Parameters
    ----------
    client_id
        Name in the audit log and metrics.
    key_sha256
        Hash of its API key (:func:`hash_api_key`).
    tier
        What it sees of the model's output.
    rate_per_s, burst
        Token bucket: records per second sustained, and the bucket size.
    quota
        Total records this client may ever query (``None``: only the licence quota applies).
    """

    client_id: str
    key_sha256: str
    tier: OutputTier = OutputTier.LABEL_ONLY
    rate_per_s: float = 50.0
    burst: float = 500.0
    quota: int | None = None

    def __post_init__(self) -> None:
        if not self.client_id or len(self.client_id) > 64 or not self.client_id.isprintable():
            raise ConfigError("client_id must be 1-64 printable characters")
        if len(self.key_sha256) != 64 or any(c not in "0123456789abcdef" for c in self.key_sha256):
            raise ConfigError(f"client {self.client_id}: key_sha256 must be 64 hex digits")
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ConfigError(f"client {self.client_id}: rate_per_s > 0 and burst >= 1 needed")
        if self.quota is not None and self.quota < 0:
            raise ConfigError(f"client {self.client_id}: quota must be non-negative")


class ClientRegistry:
    """The clients of one service, looked up by key hash."""

    __slots__ = ("_by_hash", "_by_id")

    def __init__(self, clients: list[ClientSpec] | tuple[ClientSpec, ...] = ()) -> None:
        self._by_hash: dict[str, ClientSpec] = {}
        self._by_id: dict[str, ClientSpec] = {}
        for spec in clients:
            self._insert(spec)

    def _insert(self, spec: ClientSpec) -> None:
        if spec.client_id in self._by_id:
            raise ConfigError(f"client {spec.client_id!r} is defined twice")
        if spec.key_sha256 in self._by_hash:
            raise ConfigError(f"client {spec.client_id!r} reuses another client's key")
        self._by_hash[spec.key_sha256] = spec
        self._by_id[spec.client_id] = spec

    def add(
        self,
        client_id: str,
        *,
        tier: OutputTier = OutputTier.LABEL_ONLY,
        rate_per_s: float = 50.0,
        burst: float = 500.0,
        quota: int | None = None,
        key: str | None = None,
    ) -> str:
        """Register a client and return its API key (shown once, stored only as a hash)."""
        key = key or new_api_key()
        self._insert(
            ClientSpec(
                client_id=client_id,
                key_sha256=hash_api_key(key),
                tier=tier,
                rate_per_s=rate_per_s,
                burst=burst,
                quota=quota,
            )
        )
        return key

    def authenticate(self, key: str) -> ClientSpec | None:
        """The client owning ``key``, or ``None``."""
        return self._by_hash.get(hash_api_key(key))

    def __getitem__(self, client_id: str) -> ClientSpec:
        return self._by_id[client_id]

    def __iter__(self) -> Iterator[ClientSpec]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def to_json(self) -> str:
        """JSON text of the registry (hashes only)."""
        rows = [{**asdict(s), "tier": s.tier.value} for s in self._by_id.values()]
        return json.dumps({"clients": rows}, indent=2)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the registry as JSON (file mode 0600)."""
        try:
            Path(path).write_text(self.to_json())
            os.chmod(path, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot write client file {path}: {exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClientRegistry:
        """Read a registry written by :meth:`save`; an absent file is an empty registry."""
        path = Path(path)
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text())
            rows = data["clients"]
            return cls(
                [
                    ClientSpec(
                        client_id=str(r["client_id"]),
                        key_sha256=str(r["key_sha256"]),
                        tier=OutputTier(r.get("tier", OutputTier.LABEL_ONLY.value)),
                        rate_per_s=float(r.get("rate_per_s", 50.0)),
                        burst=float(r.get("burst", 500.0)),
                        quota=None if r.get("quota") is None else int(r["quota"]),
                    )
                    for r in rows
                ]
            )
        except OSError as exc:
            raise StorageError(f"cannot read client file {path}: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"client file {path} is malformed: {exc}") from exc
