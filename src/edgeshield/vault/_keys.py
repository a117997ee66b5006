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

from edgeshield._files import read_small_file
from edgeshield.errors import ConfigError, StorageError
from edgeshield.vault._pkcs8 import encrypt_pkcs8

_RAW = serialization.Encoding.Raw


def key_id_of(raw_public: bytes) -> str:
    """Return the fingerprint of a raw 32-byte public key: first 16 bytes of SHA-256, hex."""
    return hashlib.sha256(raw_public).digest()[:16].hex()


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return read_small_file(path)
    except OSError as exc:
        raise StorageError(f"cannot read key file {os.fspath(path)}: {exc.strerror}") from exc


_CREATE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _create(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (never an existing file, never through a symlink) holding ``data``."""
    fd = os.open(path, _CREATE, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed (or an ACL widened) the mode
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        if fd >= 0:
            os.close(fd)
        path.unlink(missing_ok=True)
        raise


def write_key_file(
    path: str | os.PathLike[str], data: bytes, *, private: bool, overwrite: bool = False
) -> None:
    """Write a key file safely: mode 0600 (private) or 0644, whatever the umask.

    Without ``overwrite`` an existing path (a file, a directory, a symlink, even a dangling
    one) is refused: a second ``keygen`` must not destroy the owner key every device trusts.
    With ``overwrite`` the key goes to a fresh file created next to the target and then
    renamed over it, so a symlink at the target is replaced, never followed, and the old
    file's mode and contents never carry over.
    """
    target = Path(path)
    mode = 0o600 if private else 0o644
    try:
        if not overwrite:
            _create(target, data, mode)
            return
        partial = target.with_name(f".{target.name}.{os.urandom(8).hex()}.partial")
        _create(partial, data, mode)
        try:
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    except FileExistsError as exc:
        raise StorageError(
            f"key file {target} already exists; refusing to overwrite it "
            "(--force / overwrite=True replaces it)"
        ) from exc
    except OSError as exc:
        raise StorageError(f"cannot write key file {target}: {exc.strerror}") from exc


def private_pem(key: Any, passphrase: bytes | str | None) -> bytes:
    """Return a pyca private key as PKCS#8 PEM, scrypt-encrypted when a passphrase is given."""
    secret = _passphrase(passphrase)
    if secret is None:
        return bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return encrypt_pkcs8(bytes(der), secret)


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

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the key to ``path`` as PEM (mode 0644); an existing file needs ``overwrite``."""
        write_key_file(path, self.to_pem(), private=False, overwrite=overwrite)

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
        """Return PKCS#8 PEM bytes, encrypted with ``passphrase`` when one is given.

        Encryption is PBES2 with scrypt (N = 2^17, r = 8, p = 1) and AES-256-CBC, see
        :mod:`edgeshield.vault._pkcs8`; any PKCS#8 loader reads the result.
        """
        return private_pem(self._key, passphrase)

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        passphrase: bytes | str | None = None,
        overwrite: bool = False,
    ) -> None:
        """Write the key to ``path`` as PEM (mode 0600); an existing file needs ``overwrite``.

        The file is created with ``O_EXCL | O_NOFOLLOW``: see :func:`write_key_file`.
        """
        write_key_file(path, self.to_pem(passphrase=passphrase), private=True, overwrite=overwrite)

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


def refuse_existing(paths: list[Path], *, overwrite: bool) -> None:
    """Raise :class:`StorageError` before a key pair is written if any path exists.

    Checked for the whole pair first, so a refusal never leaves half a new pair on disk;
    ``O_EXCL`` at creation still closes the race. With ``overwrite`` a directory (not a
    symlink to one, which is replaced) is still refused up front: the rename onto it would
    fail only after the private key had replaced the old one, leaving half a pair.
    """
    for path in paths:
        if overwrite and os.path.isdir(path) and not os.path.islink(path):
            raise StorageError(f"cannot write key file {path}: Is a directory")
        if not overwrite and os.path.lexists(path):
            raise StorageError(
                f"key file {path} already exists; refusing to overwrite it "
                "(--force / overwrite=True replaces it)"
            )
