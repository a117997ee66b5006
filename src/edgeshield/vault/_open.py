"""Open, verify and inspect sealed bundles: the device's side of the vault.

Order matters and is fixed: the owner's signature over the framing and header is checked
before the header is parsed; the caller's expected model and minimum bundle version, the
device and the licence are checked before anything is decrypted; every chunk is
authenticated as it is decrypted; and the plaintext (model) digest is compared with the
signed one before a single tensor is returned. That check authenticates the weights
themselves, so it subsumes the signed ciphertext digest (which :func:`verify_bundle` checks, having
no key to decrypt with), and it matters because AES-GCM is not key-committing: without it,
the digest that licences name would be a claim of the sealer, not a property of the weights.
"""

from __future__ import annotations

import hmac
import io
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from edgeshield.errors import (
    ConfigError,
    KeyMismatchError,
    LicenceError,
    RollbackError,
    StorageError,
)
from edgeshield.vault._format import (
    DIGEST_SIZE,
    FORMAT_VERSION,
    HashAlgorithm,
    Header,
    TensorEntry,
    fail,
    read_raw,
)
from edgeshield.vault._keys import DeviceKey, OwnerPublicKey
from edgeshield.vault._licence import Clock, Licence, read_licence, system_clock
from edgeshield.vault._source import BundleBytes, map_file
from edgeshield.vault._stream import hash_ciphertext, load_tensors
from edgeshield.vault._wrap import unwrap_key

if TYPE_CHECKING:
    import torch

BundleSource = str | os.PathLike[str] | bytes
"""A bundle given as a file path or as its bytes."""


@contextmanager
def _opened(source: BundleSource) -> Iterator[tuple[IO[bytes], int, BundleBytes]]:
    """Yield a stream over the bundle, its size and zero-copy views of its bytes."""
    if isinstance(source, bytes | bytearray | memoryview):
        # bytes are immutable and BytesIO shares them; anything else is copied once, so the
        # caller cannot change the bundle between the checks and the decryption.
        blob = source if isinstance(source, bytes) else bytes(source)
        yield io.BytesIO(blob), len(blob), BundleBytes(memoryview(blob))
        return
    if not isinstance(source, str | os.PathLike):
        raise ConfigError("bundle source must be a path or bytes")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below)
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        handle = os.fdopen(fd, "rb")
    except OSError as exc:
        raise StorageError(f"cannot read bundle {os.fspath(source)}: {exc.strerror}") from exc
    with handle:
        fd = handle.fileno()
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StorageError(f"cannot read bundle {os.fspath(source)}: not a regular file")
        size = st.st_size
        try:
            # Mapped, not read: decryption reads the page cache in place instead of copying
            # each chunk into a buffer first. What the file holds is still only trusted once
            # the tags and the plaintext digest have been checked.
            views = map_file(fd, size)
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot map bundle {os.fspath(source)}: {exc}") from exc
        try:
            yield handle, size, views
        finally:
            views.close()


def _check_owner(owner_public_key: OwnerPublicKey) -> None:
    if not isinstance(owner_public_key, OwnerPublicKey):
        raise ConfigError("owner_public_key must be an OwnerPublicKey")


def _authenticated_header(
    stream: IO[bytes], size: int, owner_public_key: OwnerPublicKey
) -> tuple[Header, bytes, int, bytes]:
    raw = read_raw(stream, size)
    if not owner_public_key.verify_signature(raw.signature, raw.signed_message()):
        raise fail()
    header = raw.decode()
    if header.owner_key_id != owner_public_key.key_id:
        raise fail()
    return header, raw.header_digest, raw.chunks_offset, raw.ciphertext_digest


def verify_bundle(source: BundleSource, *, owner_public_key: OwnerPublicKey) -> BundleInfo:
    """Check a bundle's framing, signature and ciphertext digest without decrypting it.

    Anyone with the owner's public key can run this (no device key needed). Returns the
    header, now verified (use it rather than :func:`inspect_bundle` before trusting a
    field); raises :class:`IntegrityError` if anything was altered. The model digest can
    only be checked against the plaintext, by :func:`open_bundle`.
    """
    _check_owner(owner_public_key)
    with _opened(source) as (stream, size, _):
        header, _, offset, expected = _authenticated_header(stream, size, owner_public_key)
        actual = hash_ciphertext(stream, header, offset)
    if not hmac.compare_digest(actual, expected):
        raise fail()
    return _info(header)


def _check_wanted(
    header: Header, expected_model_digest: str | None, min_bundle_version: int
) -> None:
    if expected_model_digest is not None and not hmac.compare_digest(
        header.model_digest, expected_model_digest
    ):
        raise RollbackError(
            f"bundle holds model {header.model_digest[:16]}…, "
            f"not the expected {expected_model_digest[:16]}…"
        )
    if header.bundle_version < min_bundle_version:
        raise RollbackError(
            f"bundle version {header.bundle_version} is older than the required "
            f"{min_bundle_version} (rollback refused)"
        )


def _check_options(expected_model_digest: str | None, min_bundle_version: int) -> None:
    if expected_model_digest is not None and (
        not isinstance(expected_model_digest, str)
        or len(expected_model_digest) != 2 * DIGEST_SIZE
        or any(c not in "0123456789abcdef" for c in expected_model_digest)
    ):
        raise ConfigError("expected_model_digest must be 64 lowercase hex digits or None")
    if type(min_bundle_version) is not int or min_bundle_version < 0:
        raise ConfigError("min_bundle_version must be a non-negative integer")


def open_bundle(
    source: BundleSource,
    *,
    device_key: DeviceKey,
    owner_public_key: OwnerPublicKey,
    licence: str | Licence | None = None,
    clock: Clock = system_clock,
    expected_model_digest: str | None = None,
    min_bundle_version: int = 0,
    threads: int | None = None,
) -> dict[str, torch.Tensor]:
    """Verify, decrypt and load a sealed bundle as a state dict.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        The bundle file or its bytes.
    device_key : DeviceKey
        This device's private key; the bundle must be sealed for its public key.
    owner_public_key : OwnerPublicKey
        The owner's key, obtained out of band; bundle and licence must be signed by it.
    licence : str, Licence or None
        The licence token; required when the bundle says so, always checked when given.
    clock : Clock
        Source of the current time for the licence window.
    expected_model_digest : str or None
        Refuse any model but this one (e.g. the licence's ``model_digest``).
    min_bundle_version : int
        Refuse a bundle whose signed ``bundle_version`` is lower (rollback protection: keep
        the highest version opened so far and pass it here).
    threads : int or None
        Decryption threads; None uses the CPUs (at most 4). The result does not depend on it.

    Returns
    -------
    dict[str, torch.Tensor]
        The tensors, each in its own storage.

    Raises
    ------
    IntegrityError
        For every tampering, truncation, extension, a wrong owner key, or a payload whose
        digest is not the signed model digest.
    RollbackError
        An authentic bundle below ``min_bundle_version`` or not ``expected_model_digest``.
    KeyMismatchError
        The bundle is not sealed for ``device_key``.
    LicenceError
        The licence is missing, forged, expired, not yet valid or for another device/model.
    """
    _check_owner(owner_public_key)
    if not isinstance(device_key, DeviceKey):
        raise ConfigError("device_key must be a DeviceKey")
    if licence is not None and not isinstance(licence, str | Licence):
        raise ConfigError("licence must be a token string, a Licence or None")
    _check_options(expected_model_digest, min_bundle_version)
    if threads is not None and (type(threads) is not int or not 1 <= threads <= 64):
        raise ConfigError("threads must be an integer in [1, 64] or None")
    device = device_key.public_key()
    with _opened(source) as (stream, size, views):
        header, digest, offset, _ = _authenticated_header(stream, size, owner_public_key)
        _check_wanted(header, expected_model_digest, min_bundle_version)
        recipient = header.find_recipient(device.key_id)
        if recipient is None:
            raise KeyMismatchError(
                f"bundle is not sealed for this device key (key id {device.key_id})"
            )
        if licence is None and header.licence_required:
            raise LicenceError("bundle requires a licence and none was given")
        if licence is not None:
            token = licence.token if isinstance(licence, Licence) else licence
            read_licence(token, owner_public_key=owner_public_key).check(
                device=device, model_digest=header.model_digest, clock=clock
            )
        try:
            content_key = unwrap_key(recipient, device_key)
        except ValueError as exc:
            raise fail() from exc
        tensors, payload = load_tensors(views, header, offset, digest, content_key, threads=threads)
    # The signed model digest authenticates the plaintext itself, which subsumes the
    # ciphertext digest (that one is for `verify_bundle`, which has no key to decrypt with).
    if not hmac.compare_digest(payload.hex(), header.model_digest):
        for tensor in tensors.values():
            tensor.zero_()
        raise fail()
    return tensors


@dataclass(frozen=True, kw_only=True)
class BundleInfo:
    """The public header of a bundle, as :func:`inspect_bundle` read it (not verified).

    Parameters
    ----------
    format_version : int
        Bundle format version.
    bundle_version : int
        The owner's release number of the bundle (rollback protection).
    model_id : str
        Human name of the model.
    model_digest : str
        Digest of the plaintext payload; licences name the model by it.
    owner_key_id : str
        Fingerprint of the owner key that claims to have signed it.
    hash_algorithm : HashAlgorithm
        Digest algorithm of the bundle.
    chunk_size, chunk_count, payload_size : int
        Chunk layout of the encrypted payload.
    licence_required : bool
        Whether opening needs a licence.
    recipient_key_ids : tuple[str, ...]
        Fingerprints of the devices the bundle is sealed for.
    tensors : tuple[TensorEntry, ...]
        Names, dtypes and shapes of the tensors.
    metadata : Mapping[str, str]
        Owner metadata.
    created_at : datetime
        Seal time (UTC).
    """

    format_version: int
    bundle_version: int
    model_id: str
    model_digest: str
    owner_key_id: str
    hash_algorithm: HashAlgorithm
    chunk_size: int
    chunk_count: int
    payload_size: int
    licence_required: bool
    recipient_key_ids: tuple[str, ...]
    tensors: tuple[TensorEntry, ...]
    metadata: Mapping[str, str]
    created_at: datetime


def inspect_bundle(source: BundleSource) -> BundleInfo:
    """Read a bundle's public header without verifying it (use :func:`verify_bundle` for that).

    Raises :class:`IntegrityError` if the framing or header is malformed.
    """
    with _opened(source) as (stream, size, _):
        header = read_raw(stream, size).decode()
    return _info(header)


def _info(header: Header) -> BundleInfo:
    return BundleInfo(
        format_version=FORMAT_VERSION,
        bundle_version=header.bundle_version,
        model_id=header.model_id,
        model_digest=header.model_digest,
        owner_key_id=header.owner_key_id,
        hash_algorithm=header.hash_algorithm,
        chunk_size=header.chunk_size,
        chunk_count=header.chunk_count,
        payload_size=header.payload_size,
        licence_required=header.licence_required,
        recipient_key_ids=tuple(r.key_id for r in header.recipients),
        tensors=header.tensors,
        metadata=dict(header.metadata),
        created_at=datetime.fromtimestamp(header.created_at, UTC),
    )
