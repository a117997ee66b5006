"""API clients: keys stored only as hashes, each client with an output tier and rate limits.

Why: a leaked client file must not leak usable keys; keys are 256-bit random tokens, so one
SHA-256 per key is enough (no password stretching needed), and lookups compare hashes. A
registry loaded from a file follows it: ``guard revoke-client`` and ``guard rotate-key``
replace the file atomically and the running service sees the change on its next request.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeshield._files import read_small_file
from edgeshield.errors import ConfigError, StorageError
from edgeshield.guard._schema import OutputTier

__all__ = ["ClientRegistry", "ClientSpec", "hash_api_key", "new_api_key"]

_PREFIX = "esk_"
#: Bounds of a client's token bucket: a rate under one record per ~12 days, or a bucket
#: larger than a billion records, is a typo (and once overflowed ``Retry-After``).
MIN_RATE_PER_S = 1e-6
MAX_RATE_PER_S = 1e9
MAX_BURST = 1e9
MAX_CLIENT_FILE_BYTES = 16 << 20
"""The most a client file may hold (about 60,000 clients)."""
MAX_QUOTA = (1 << 63) - 1
"""The largest client quota: what the guard's SQL counters hold (as a licence's quota)."""


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
        for name in ("rate_per_s", "burst"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"client {self.client_id}: {name} must be a number")
        if not MIN_RATE_PER_S <= self.rate_per_s <= MAX_RATE_PER_S:  # NaN fails too
            raise ConfigError(
                f"client {self.client_id}: rate_per_s must lie in"
                f" [{MIN_RATE_PER_S:g}, {MAX_RATE_PER_S:g}] records/s"
            )
        if not 1 <= self.burst <= MAX_BURST:
            raise ConfigError(f"client {self.client_id}: burst must lie in [1, {MAX_BURST:g}]")
        if self.quota is not None and (
            type(self.quota) is not int or not 0 <= self.quota <= MAX_QUOTA
        ):
            raise ConfigError(
                f"client {self.client_id}: quota must be an integer in [0, {MAX_QUOTA}]"
            )


class ClientRegistry:
    """The clients of one service, looked up by key hash."""

    __slots__ = ("_by_hash", "_by_id", "_lock", "_path", "_revoked", "_seen")

    def __init__(self, clients: list[ClientSpec] | tuple[ClientSpec, ...] = ()) -> None:
        self._by_hash: dict[str, ClientSpec] = {}
        self._by_id: dict[str, ClientSpec] = {}
        #: Revoked ids: the guard's state keeps their counters, alarm and history under the
        #: id, so a new client must not inherit them by reusing it.
        self._revoked: set[str] = set()
        self._path: Path | None = None
        self._seen: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        for spec in clients:
            self._insert(spec)

    def _refresh(self) -> None:
        """Re-read the file this registry was loaded from if it changed (revoke, rotate)."""
        if self._path is None:
            return
        try:
            st = os.stat(self._path)
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            seen = (0, 0, 0)  # every client removed
        except OSError as exc:
            raise StorageError(f"cannot read client file {self._path}: {exc}") from exc
        with self._lock:
            if seen == self._seen:
                return
            fresh = type(self).load(self._path)  # fails closed: a malformed file is an error
            self._by_hash, self._by_id, self._seen = fresh._by_hash, fresh._by_id, fresh._seen
            self._revoked = fresh._revoked

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
        if client_id != client_id.strip():
            raise ConfigError(f"client id {client_id!r} starts or ends with white space")
        taken = {c.casefold(): c for c in (*self._by_id, *self._revoked)}
        if client_id not in taken.values() and client_id.casefold() in taken:
            # the audit log and alarms list ids: 'ALICE' beside 'alice' misleads a reviewer
            raise ConfigError(
                f"client id {client_id!r} differs from {taken[client_id.casefold()]!r} only in"
                " case; choose a distinct id"
            )
        if client_id in self._revoked:
            raise ConfigError(
                f"client {client_id!r} was revoked: the guard's state keeps its quota use,"
                " alarm and history under that id; choose a new id"
            )
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

    def remove(self, client_id: str) -> None:
        """Revoke a client: its key stops working (its counters and audit stay)."""
        spec = self._by_id.pop(client_id, None)
        if spec is None:
            raise ConfigError(f"no client {client_id!r}")
        del self._by_hash[spec.key_sha256]
        self._revoked.add(client_id)

    def rotate(self, client_id: str, *, key: str | None = None) -> str:
        """Give a client a new key (returned once); the old key stops working."""
        spec = self._by_id.get(client_id)
        if spec is None:
            raise ConfigError(f"no client {client_id!r}")
        key = key or new_api_key()
        fresh = ClientSpec(**{**asdict(spec), "key_sha256": hash_api_key(key)})
        if fresh.key_sha256 in self._by_hash:
            raise ConfigError(f"client {client_id!r}: the new key is already in use")
        del self._by_hash[spec.key_sha256]
        self._by_hash[fresh.key_sha256] = fresh
        self._by_id[client_id] = fresh
        return key

    def authenticate(self, key: str) -> ClientSpec | None:
        """The client owning ``key``, or ``None`` (re-reads a changed client file first)."""
        self._refresh()
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
        return json.dumps({"clients": rows, "revoked": sorted(self._revoked)}, indent=2)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the registry as JSON (mode 0600), atomically: a reader sees old or new."""
        target = Path(path)
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
                    handle.write(self.to_json())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"cannot write client file {path}: {exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClientRegistry:
        """Read a registry written by :meth:`save`; an absent file is an empty registry."""
        path = Path(path)
        if not path.exists():
            registry = cls()
            registry._path, registry._seen = path, (0, 0, 0)
            return registry
        try:
            st = os.stat(path)
            # a regular file of at most 16 MiB: a FIFO hung add-client, a sparse file of GBs
            # was read whole before the JSON failed
            data = json.loads(read_small_file(path, limit=MAX_CLIENT_FILE_BYTES))
            if not isinstance(data, dict):
                raise TypeError("the file must hold a JSON object")
            rows = data["clients"]
            revoked = data.get("revoked", [])
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise TypeError('"clients" must be a list of objects')
            if not isinstance(revoked, list) or not all(isinstance(r, str) for r in revoked):
                raise TypeError('"revoked" must be a list of client ids')
            registry = cls(
                [
                    ClientSpec(
                        client_id=str(r["client_id"]),
                        key_sha256=str(r["key_sha256"]),
                        tier=OutputTier(r.get("tier", OutputTier.LABEL_ONLY.value)),
                        rate_per_s=r.get("rate_per_s", 50.0),
                        burst=r.get("burst", 500.0),
                        quota=r.get("quota"),
                    )
                    for r in rows
                ]
            )
            registry._revoked = set(revoked)
            registry._path, registry._seen = path, (st.st_ino, st.st_mtime_ns, st.st_size)
            return registry
        except OSError as exc:
            raise StorageError(f"cannot read client file {path}: {exc.strerror or exc}") from exc
        except KeyError as exc:  # Python's text would be just the key: "'key_sha256'"
            raise ConfigError(f"client file {path} is malformed: missing {exc.args[0]!r}") from exc
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"client file {path} is malformed: {exc}") from exc
