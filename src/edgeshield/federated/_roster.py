"""Which SuperNode is which plant: the vendor's roster of registered SuperNode keys.

Why: a SuperNode's ``--node-config "plant-id='...'"`` is whatever the node says, so a node that
is registered on the SuperLink (or a plant that lies) could claim another plant's name. The
roster is written by the vendor when it registers a plant (``edgeshield fl register``) and
travels with the Flower App; the ServerApp samples only nodes whose key is in it and names
every result by the roster, never by what the node reports.

What makes the key trustworthy on the server: Flower 1.42's SuperLink checks a signature under
the node's registered public key on every Fleet API request (``NodeAuthMiddleware``: the
signer's key must map to the request's node ID), and the Runtime API hands the ServerApp each
node's registered key (``Grid.get_nodes()`` → ``NodeInfo.public_key``, PEM). A node ID is only
a database row number, reassigned on re-registration, so the roster stores the key's SHA-256
fingerprint, not the node ID.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edgeshield.errors import ConfigError

__all__ = ["PlantRoster", "key_fingerprint"]

logger = logging.getLogger(__name__)

#: Format version written into roster files.
ROSTER_VERSION = 1

_PLANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")


class _Node(Protocol):
    """What the roster reads of Flower's ``NodeInfo``."""

    @property
    def node_id(self) -> int: ...

    @property
    def public_key(self) -> bytes: ...


def key_fingerprint(public_key: bytes) -> str:
    """``sha256:<hex>`` of the key's DER SubjectPublicKeyInfo (OpenSSH or PEM input).

    Flower stores a registered SuperNode key as PEM; ``fl node-keys`` writes OpenSSH. Both
    forms of one key give the same fingerprint.

    Raises
    ------
    ConfigError
        When the bytes are not an elliptic-curve public key (what Flower accepts).
    """
    data = public_key.strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_ssh_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"not a SuperNode public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError("not a SuperNode public key: Flower needs an elliptic-curve key")
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class PlantRoster:
    """The vendor's mapping from registered SuperNode key (fingerprint) to plant id.

    One key per plant and one plant per key; both are checked when a plant is added, so a
    second registration can neither take over a plant id nor give one key two names.
    """

    plants: Mapping[str, str] = field(default_factory=dict)  # fingerprint -> plant id

    def __post_init__(self) -> None:
        ids = list(self.plants.values())
        if len(set(ids)) != len(ids):
            raise ConfigError("a roster names each plant once")
        for fingerprint, plant in self.plants.items():
            if not _FINGERPRINT.fullmatch(fingerprint):
                raise ConfigError(f"not a key fingerprint: {fingerprint!r}")
            if not _PLANT_ID.fullmatch(plant):
                raise ConfigError(
                    f"plant id {plant!r}: letters, digits, '.', '_', '-' (at most 64)"
                )

    @property
    def plant_ids(self) -> tuple[str, ...]:
        """The registered plants, sorted."""
        return tuple(sorted(self.plants.values()))

    def plant_of(self, public_key: bytes) -> str | None:
        """The plant registered with ``public_key``, or ``None`` for a key not in the roster."""
        if not public_key:
            return None
        try:
            return self.plants.get(key_fingerprint(public_key))
        except ConfigError:
            return None

    def with_plant(self, plant_id: str, public_key: bytes) -> PlantRoster:
        """A roster with ``plant_id`` registered under ``public_key`` added.

        Raises
        ------
        ConfigError
            When the plant id or the key is already in the roster, or either is malformed.
        """
        fingerprint = key_fingerprint(public_key)
        if plant_id in self.plants.values():
            raise ConfigError(f"plant {plant_id} is already in the roster; a plant has one key")
        if fingerprint in self.plants:
            raise ConfigError(f"this key is already registered as plant {self.plants[fingerprint]}")
        return PlantRoster({**self.plants, fingerprint: plant_id})

    def resolve(self, nodes: Iterable[_Node]) -> dict[int, str]:
        """Node ID → plant id for the nodes whose registered key is in the roster.

        Nodes without a key or with a key outside the roster are left out (and logged once
        per call): they are never sampled and nothing they send is recorded.
        """
        found: dict[int, str] = {}
        for node in nodes:
            plant = self.plant_of(bytes(node.public_key))
            if plant is None:
                logger.warning("node %s is not in the plant roster: never sampled", node.node_id)
                continue
            found[int(node.node_id)] = plant
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``fl register`` writes and the Flower App carries)."""
        return {
            "version": ROSTER_VERSION,
            "plants": [{"plant_id": p, "key": k} for k, p in sorted(self.plants.items())],
        }

    @classmethod
    def from_dict(cls, data: Any) -> PlantRoster:
        """Inverse of :meth:`to_dict`; refuses anything else with a :class:`ConfigError`."""
        try:
            if data["version"] != ROSTER_VERSION:
                raise ConfigError(f"roster version {data['version']!r} is not {ROSTER_VERSION}")
            entries = [(str(e["key"]), str(e["plant_id"])) for e in data["plants"]]
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not a plant roster: {exc!r}") from exc
        if len({k for k, _ in entries}) != len(entries):
            raise ConfigError("a roster lists each key once")
        return cls(dict(entries))

    @classmethod
    def load(cls, path: str | Path) -> PlantRoster:
        """Read a roster file; a missing file is an empty roster (the first registration)."""
        file = Path(path)
        if not file.exists():
            return cls()
        try:
            return cls.from_dict(json.loads(file.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the plant roster {file}: {exc}") from exc

    def save(self, path: str | Path) -> Path:
        """Write the roster atomically (temporary file, then rename)."""
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)
        with os.fdopen(fd, "w") as out:
            json.dump(self.to_dict(), out, indent=2)
        Path(tmp).replace(file)
        return file
