"""The owner's secret watermark key and the HMAC-DRBG stream that every trigger comes from.

Why: the trigger set must be reproducible by the owner alone, years later, from one secret;
deriving it with a standard deterministic random bit generator (NIST SP 800-90A HMAC_DRBG
with SHA-256, built on pyca/cryptography's HMAC) means the key is the only thing to keep.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes, hmac

from edgeshield.errors import ConfigError, OwnershipError, StorageError

__all__ = ["KEY_BYTES", "HmacDrbg", "WatermarkKey"]

KEY_BYTES: Final = 32
"""Length of a watermark key (256 bits)."""

_KEY_FORMAT: Final = "edgeshield.watermark-key/1"
_MAX_REQUEST: Final = 1 << 16


def _hmac(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


class HmacDrbg:
    """HMAC_DRBG (NIST SP 800-90A Rev. 1, section 10.1.2) with SHA-256, no reseeding.

    Why: a deterministic, well-studied expansion of the key into as many uniform bits as the
    trigger derivation needs; different ``personalization`` strings give independent streams.

    Parameters
    ----------
    entropy
        The seed material (the watermark key).
    personalization
        Domain separation: one string per use of the key.
    """

    def __init__(self, entropy: bytes, personalization: bytes = b"") -> None:
        if len(entropy) < 16:
            raise ConfigError("HMAC_DRBG needs at least 128 bits of entropy")
        self._k = b"\x00" * 32
        self._v = b"\x01" * 32
        self._update(entropy + personalization)

    def _update(self, provided: bytes) -> None:
        self._k = _hmac(self._k, self._v + b"\x00" + provided)
        self._v = _hmac(self._k, self._v)
        if provided:
            self._k = _hmac(self._k, self._v + b"\x01" + provided)
            self._v = _hmac(self._k, self._v)

    def generate(self, length: int) -> bytes:
        """Next ``length`` pseudo-random bytes of the stream."""
        if not 0 < length <= _MAX_REQUEST:
            raise ConfigError(f"request between 1 and {_MAX_REQUEST} bytes, got {length}")
        out = b""
        while len(out) < length:
            self._v = _hmac(self._k, self._v)
            out += self._v
        self._update(b"")
        return out[:length]

    def uniform(self, count: int) -> npt.NDArray[np.float64]:
        """``count`` uniform floats in ``[0, 1)`` with 53 random bits each."""
        if count < 1:
            raise ConfigError(f"count must be at least 1, got {count}")
        raw = b"".join(
            self.generate(min(8 * (count - i), _MAX_REQUEST))
            for i in range(0, count, _MAX_REQUEST // 8)
        )
        words = np.frombuffer(raw, dtype=">u8").astype(np.uint64)
        return (words >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class WatermarkKey:
    """A 256-bit secret from which the trigger set and its labels are derived.

    Why: a key object (not raw bytes) keeps the secret out of reprs and logs and gives one
    place for its file format, its public identifier and its commitment digest.
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes) or len(secret) != KEY_BYTES:
            raise ConfigError(f"a watermark key is exactly {KEY_BYTES} bytes")
        self._secret = secret

    @classmethod
    def generate(cls) -> WatermarkKey:
        """A fresh key from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_bytes(cls, data: bytes) -> WatermarkKey:
        """The key whose raw secret is ``data`` (32 bytes)."""
        return cls(bytes(data))

    def to_bytes(self) -> bytes:
        """The raw 32-byte secret."""
        return self._secret

    @property
    def key_id(self) -> str:
        """Public 16-hex-digit identifier; reveals nothing about the secret."""
        return hashlib.sha256(b"edgeshield.ownership.key-id\x00" + self._secret).hexdigest()[:16]

    def digest(self) -> bytes:
        """32-byte digest of the key, the value a commitment binds and a reveal discloses."""
        return hashlib.sha256(b"edgeshield.ownership.key-digest\x00" + self._secret).digest()

    def drbg(self, purpose: str) -> HmacDrbg:
        """A fresh deterministic stream for one ``purpose`` (domain-separated)."""
        return HmacDrbg(self._secret, f"edgeshield.ownership/{purpose}".encode())

    def save(self, path: str | Path) -> Path:
        """Write the key as JSON, readable by the owner only (mode 0600)."""
        path = Path(path)
        text = json.dumps({"format": _KEY_FORMAT, "key": self._secret.hex()}) + "\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        except OSError as exc:
            raise StorageError(f"cannot write watermark key to {path}: {exc}") from exc
        return path

    @classmethod
    def load(cls, path: str | Path) -> WatermarkKey:
        """Read a key written by :meth:`save`.

        Raises
        ------
        StorageError
            The file cannot be read.
        OwnershipError
            The file is not a watermark key.
        """
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise StorageError(f"cannot read watermark key {path}: {exc}") from exc
        try:
            data = json.loads(text)
            if data["format"] != _KEY_FORMAT:
                raise ValueError("format")
            secret = bytes.fromhex(data["key"])
        except (ValueError, KeyError, TypeError) as exc:
            raise OwnershipError(f"{path} is not an EdgeShield watermark key") from exc
        if len(secret) != KEY_BYTES:
            raise OwnershipError(f"{path} is not an EdgeShield watermark key")
        return cls(secret)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WatermarkKey):
            return NotImplemented
        return secrets.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.key_id)

    def __repr__(self) -> str:
        return f"WatermarkKey(key_id={self.key_id!r})"
