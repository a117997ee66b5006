"""Owner signing keys (Ed25519) and device keys (X25519), saved as PEM.

The owner signs bundles and licences; each edge device holds an X25519 key the content key
is wrapped for. Thin wrappers over pyca ``cryptography`` give both a fingerprint (``key_id``),
typed loading with a clear error, and optional passphrase-encrypted PKCS#8 PEM files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, ClassVar, Self

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from edgeshield.errors import ConfigError, StorageError

_RAW = serialization.Encoding.Raw


def key_id_of(raw_public: bytes) -> str:
    """Return the fingerprint of a raw 32-byte public key: first 16 bytes of SHA-256, hex."""
    return hashlib.sha256(raw_public).digest()[:16].hex()


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StorageError(f"cannot read key file {os.fspath(path)}: {exc.strerror}") from exc


def _write(path: str | os.PathLike[str], data: bytes, *, private: bool) -> None:
    target = Path(path)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(target, flags, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise StorageError(f"cannot write key file {target}: {exc.strerror}") from exc


def _passphrase(passphrase: bytes | str | None) -> bytes | None:
    if passphrase is None:
        return None
    value = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if not value:
        raise ConfigError("passphrase must not be empty (pass None for an unencrypted key)")
    return value


class _PublicKey:
    """Shared behaviour of the two public-key wrappers."""

    _kind: ClassVar[str]
    _type: ClassVar[Any]
    __slots__ = ("_key",)

    def __init__(self, key: Any) -> None:
        if not isinstance(key, self._type):
            raise ConfigError(f"not an {self._kind} public key")
        self._key = key

    @classmethod
    def from_raw(cls, data: bytes) -> Self:
        """Build the key from its raw 32 bytes."""
        try:
            return cls(cls._type.from_public_bytes(data))
        except ValueError as exc:
            raise ConfigError(f"not a raw {cls._kind} public key") from exc

    @classmethod
    def from_pem(cls, data: bytes) -> Self:
        """Load the key from SubjectPublicKeyInfo PEM bytes."""
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ConfigError(f"not a PEM {cls._kind} public key") from exc
        return cls(key)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Load the key from a PEM file."""
        return cls.from_pem(_read(path))

    def raw(self) -> bytes:
        """Return the raw 32 bytes of the key."""
        return bytes(self._key.public_bytes(_RAW, serialization.PublicFormat.Raw))

    def to_pem(self) -> bytes:
        """Return SubjectPublicKeyInfo PEM bytes."""
        return bytes(
            self._key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key to ``path`` as PEM."""
        _write(path, self.to_pem(), private=False)

    @property
    def key_id(self) -> str:
        """Fingerprint of the key (32 hex digits), as written in headers and licences."""
        return key_id_of(self.raw())

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _PublicKey)
            and type(other) is type(self)
            and other.raw() == self.raw()
        )

    def __hash__(self) -> int:
        return hash((type(self), self.raw()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self.key_id!r})"


class _PrivateKey:
    """Shared behaviour of the two private-key wrappers."""

    _kind: ClassVar[str]
    _type: ClassVar[Any]
    __slots__ = ("_key",)

    def __init__(self, key: Any) -> None:
        if not isinstance(key, self._type):
            raise ConfigError(f"not an {self._kind} private key")
        self._key = key

    @classmethod
    def generate(cls) -> Self:
        """Generate a fresh random key."""
        return cls(cls._type.generate())

    @classmethod
    def from_raw(cls, data: bytes) -> Self:
        """Build the key from its raw 32 private bytes (tests and vectors)."""
        try:
            return cls(cls._type.from_private_bytes(data))
        except ValueError as exc:
            raise ConfigError(f"not a raw {cls._kind} private key") from exc

    @classmethod
    def from_pem(cls, data: bytes, *, passphrase: bytes | str | None = None) -> Self:
        """Load the key from PKCS#8 PEM bytes, decrypting with ``passphrase`` if given."""
        try:
            key = serialization.load_pem_private_key(data, password=_passphrase(passphrase))
        except TypeError as exc:
            raise ConfigError(
                "key file is encrypted: give its passphrase"
                if passphrase is None
                else "key file is not encrypted: give no passphrase"
            ) from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ConfigError(
                f"cannot load {cls._kind} private key: wrong passphrase or not a PEM key"
            ) from exc
        return cls(key)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, passphrase: bytes | str | None = None) -> Self:
        """Load the key from a PEM file."""
        return cls.from_pem(_read(path), passphrase=passphrase)

    def to_pem(self, *, passphrase: bytes | str | None = None) -> bytes:
        """Return PKCS#8 PEM bytes, encrypted with ``passphrase`` when one is given."""
        secret = _passphrase(passphrase)
        encryption: serialization.KeySerializationEncryption = (
            serialization.NoEncryption()
            if secret is None
            else serialization.BestAvailableEncryption(secret)
        )
        return bytes(
            self._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            )
        )

    def save(self, path: str | os.PathLike[str], *, passphrase: bytes | str | None = None) -> None:
        """Write the key to ``path`` as PEM (file mode 0600)."""
        _write(path, self.to_pem(passphrase=passphrase), private=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<private>)"


class OwnerPublicKey(_PublicKey):
    """The owner's Ed25519 verification key: checks bundle and licence signatures."""

    _kind = "Ed25519"
    _type = ed25519.Ed25519PublicKey
    __slots__ = ()

    def verify_signature(self, signature: bytes, message: bytes) -> bool:
        """Return whether ``signature`` is the owner's signature over ``message``."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class OwnerKey(_PrivateKey):
    """The owner's Ed25519 signing key: signs bundles and licences."""

    _kind = "Ed25519"
    _type = ed25519.Ed25519PrivateKey
    __slots__ = ()

    def public_key(self) -> OwnerPublicKey:
        """Return the matching verification key."""
        return OwnerPublicKey(self._key.public_key())

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature over ``message``."""
        return bytes(self._key.sign(message))


class DevicePublicKey(_PublicKey):
    """An edge device's X25519 public key: bundles are sealed for it."""

    _kind = "X25519"
    _type = x25519.X25519PublicKey
    __slots__ = ()

    def pyca(self) -> x25519.X25519PublicKey:
        """Return the underlying pyca key."""
        key: x25519.X25519PublicKey = self._key
        return key


class DeviceKey(_PrivateKey):
    """An edge device's X25519 private key: the only key that opens its bundles."""

    _kind = "X25519"
    _type = x25519.X25519PrivateKey
    __slots__ = ()

    def public_key(self) -> DevicePublicKey:
        """Return the matching public key."""
        return DevicePublicKey(self._key.public_key())

    def exchange(self, peer: bytes) -> bytes:
        """Return the X25519 shared secret with the raw public key ``peer``."""
        try:
            shared = self._key.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
        except ValueError as exc:  # all-zero shared secret: a small-order point
            raise ValueError("invalid peer key") from exc
        return bytes(shared)
