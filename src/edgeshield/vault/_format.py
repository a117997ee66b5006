"""The sealed-bundle byte layout: fixed prefix, canonical JSON header, chunks, trailer.

Keeping every offset, size and encoding rule in one module lets the sealer, the streaming
loader, ``verify_bundle`` and the fuzz target share exactly one parser. The layout is documented
byte by byte in ``docs/bundle-format.md``; version 2 is::

    prefix   16 bytes   magic(8) | version u16 BE | hash id u8 | reserved u8 | header length u32 BE
    header    H bytes   canonical JSON (UTF-8, sorted keys, no spaces, ASCII only)
    chunks              chunk_count AES-256-GCM ciphertexts, each plaintext length + 16-byte tag
    trailer  96 bytes   ciphertext digest (32) | Ed25519 signature (64)

Version 2 (this one) added the owner-signed ``bundle_version`` release number that devices
use to refuse rollbacks; version 1 bundles are refused (no ``bundle_version`` to check).

Every parse failure raises the one :class:`~edgeshield.errors.IntegrityError` message, so a
caller cannot tell which check refused the bytes.
"""

from __future__ import annotations

import enum
import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

import blake3

from edgeshield.errors import IntegrityError

MAGIC = b"ESVAULT\x00"
FORMAT_VERSION = 2
MAX_BUNDLE_VERSION = (1 << 63) - 1
PREFIX = struct.Struct(">8sHBBI")
PREFIX_SIZE = PREFIX.size  # 16
TAG_SIZE = 16
DIGEST_SIZE = 32
SIGNATURE_SIZE = 64
TRAILER_SIZE = DIGEST_SIZE + SIGNATURE_SIZE
NONCE_PREFIX_SIZE = 7
KEY_ID_HEX = 32
MAX_HEADER_SIZE = 16 * 1024 * 1024
MIN_CHUNK_SIZE = 16
MAX_CHUNK_SIZE = 1 << 30
MAX_CHUNKS = (1 << 32) - 1
MAX_RECIPIENTS = 1024
WRAPPED_KEY_SIZE = 32 + TAG_SIZE
SIGNATURE_CONTEXT = b"edgeshield/vault/v1/bundle\n"
INTEGRITY_MESSAGE = "bundle failed its integrity check (tampered, truncated or not a bundle)"
CIPHER_NAME = "AES-256-GCM"

# safetensors dtype names accepted in the tensor index (the payload is a safetensors file).
SAFETENSORS_DTYPES = frozenset(
    {
        "BOOL",
        "U8",
        "I8",
        "F8_E4M3",
        "F8_E5M2",
        "I16",
        "U16",
        "F16",
        "BF16",
        "I32",
        "U32",
        "F32",
        "I64",
        "U64",
        "F64",
    }
)


class HashAlgorithm(enum.Enum):
    """Digest used for the header digest, the ciphertext digest and the model digest.

    All produce 32 bytes; BLAKE3 is several times faster than SHA-256 on one core.
    ``BLAKE3_SEGMENTS`` (the default since issue 16) is BLAKE3 for the header and ciphertext
    digests and a hash list of 1 MiB BLAKE3 segments for the model digest, which the
    loader's decryption threads compute in parallel (``edgeshield.vault._digest``). SHA256
    and BLAKE3 stay readable: bundles sealed with them open as before.
    """

    SHA256 = 1
    BLAKE3 = 2
    BLAKE3_SEGMENTS = 3

    @property
    def label(self) -> str:
        """Name written in the header: ``"sha256"``, ``"blake3"`` or ``"blake3-segments"``."""
        return self.name.lower().replace("_", "-")


class Hasher(Protocol):
    """The incremental-hash interface shared by hashlib and blake3 objects."""

    def update(self, data: Any, /) -> Any:
        """Absorb ``data``."""

    def digest(self) -> bytes:
        """Return the 32-byte digest."""


def new_hasher(algorithm: HashAlgorithm, *, multithreaded: bool = False) -> Hasher:
    """Return a fresh incremental hasher of the header and ciphertext digests for ``algorithm``.

    ``BLAKE3_SEGMENTS`` is plain BLAKE3 here; only its model digest is segmented (see
    ``edgeshield.vault._digest.model_hasher``).

    ``multithreaded`` lets BLAKE3 split each large update over the CPUs (same digest). The
    bulk passes use it: ``blake3.update`` releases the GIL on large inputs, so its threads
    also use the cores that a load's decryption threads leave idle.
    """
    if algorithm is not HashAlgorithm.SHA256:
        if multithreaded:
            return blake3.blake3(max_threads=blake3.blake3.AUTO)  # type: ignore[no-any-return,unused-ignore]
        return blake3.blake3()  # type: ignore[no-any-return,unused-ignore]
    return hashlib.sha256()


def fail() -> IntegrityError:
    """Build the one uniform integrity error (callers chain the cause with ``from``)."""
    return IntegrityError(INTEGRITY_MESSAGE)


@dataclass(frozen=True, kw_only=True)
class Recipient:
    """One device the content key is wrapped for.

    Parameters
    ----------
    key_id : str
        Fingerprint (32 hex digits) of the device's X25519 public key.
    ephemeral_key : bytes
        The sealer's one-time X25519 public key (32 bytes).
    wrapped_key : bytes
        The content key encrypted under the derived key-encryption key (48 bytes).
    """

    key_id: str
    ephemeral_key: bytes
    wrapped_key: bytes

    def to_json(self) -> dict[str, str]:
        """Return the header representation (hex strings)."""
        return {
            "ephemeral_key": self.ephemeral_key.hex(),
            "key_id": self.key_id,
            "wrapped_key": self.wrapped_key.hex(),
        }


@dataclass(frozen=True, kw_only=True)
class TensorEntry:
    """Name, safetensors dtype and shape of one tensor (the public tensor index)."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Header:
    """The decoded bundle header; every field is covered by the owner's signature.

    Parameters
    ----------
    model_id : str
        Human name of the model.
    owner_key_id : str
        Fingerprint of the owner's Ed25519 public key.
    hash_algorithm : HashAlgorithm
        Digest for header, ciphertext and model digests.
    chunk_size : int
        Plaintext bytes per chunk (the last chunk may be shorter).
    payload_size : int
        Length of the plaintext safetensors payload.
    nonce_prefix : bytes
        Seven random bytes; chunk ``i`` uses nonce ``prefix | i (u32 BE) | final flag``.
    model_digest : str
        Hex digest of the plaintext payload; licences name the model by it.
    licence_required : bool
        Whether :func:`open_bundle` refuses to open without a valid licence.
    recipients : tuple[Recipient, ...]
        Devices the content key is wrapped for.
    tensors : tuple[TensorEntry, ...]
        Public index of the tensors in the payload.
    metadata : Mapping[str, str]
        Free-form owner metadata (strings only).
    created_at : int
        Seal time in Unix seconds.
    bundle_version : int
        The owner's release number of this bundle; devices refuse one below their minimum.
    """

    model_id: str
    owner_key_id: str
    hash_algorithm: HashAlgorithm
    chunk_size: int
    payload_size: int
    nonce_prefix: bytes
    model_digest: str
    licence_required: bool
    recipients: tuple[Recipient, ...]
    tensors: tuple[TensorEntry, ...]
    metadata: Mapping[str, str]
    created_at: int
    bundle_version: int

    @property
    def chunk_count(self) -> int:
        """Number of chunks the payload is split into (at least one)."""
        return max(1, -(-self.payload_size // self.chunk_size))

    @property
    def ciphertext_size(self) -> int:
        """Total length of all chunk ciphertexts, tags included."""
        return self.payload_size + TAG_SIZE * self.chunk_count

    def chunk_length(self, index: int) -> int:
        """Plaintext length of chunk ``index``."""
        if index < self.chunk_count - 1:
            return self.chunk_size
        return self.payload_size - self.chunk_size * (self.chunk_count - 1)

    def nonce(self, index: int) -> bytes:
        """Return the 12-byte GCM nonce of chunk ``index`` (prefix, index, final-chunk flag)."""
        final = 1 if index == self.chunk_count - 1 else 0
        return self.nonce_prefix + struct.pack(">IB", index, final)

    def to_json(self) -> dict[str, Any]:
        """Return the header as a JSON-ready dict (keys are sorted on encoding)."""
        return {
            "bundle_version": self.bundle_version,
            "chunk_count": self.chunk_count,
            "chunk_size": self.chunk_size,
            "cipher": CIPHER_NAME,
            "created_at": self.created_at,
            "format": FORMAT_VERSION,
            "hash": self.hash_algorithm.label,
            "licence_required": self.licence_required,
            "metadata": dict(self.metadata),
            "model_digest": self.model_digest,
            "model_id": self.model_id,
            "nonce_prefix": self.nonce_prefix.hex(),
            "owner_key_id": self.owner_key_id,
            "payload_size": self.payload_size,
            "recipients": [r.to_json() for r in self.recipients],
            "tensors": [
                {"dtype": t.dtype, "name": t.name, "shape": list(t.shape)} for t in self.tensors
            ],
        }

    def encode(self) -> bytes:
        """Return the canonical header bytes."""
        return canonical_json(self.to_json())

    def prefix(self, header_length: int) -> bytes:
        """Return the 16-byte fixed prefix for a header of ``header_length`` bytes."""
        return PREFIX.pack(MAGIC, FORMAT_VERSION, self.hash_algorithm.value, 0, header_length)

    def find_recipient(self, key_id: str) -> Recipient | None:
        """Return the recipient entry for ``key_id``, or None."""
        for recipient in self.recipients:
            if recipient.key_id == key_id:
                return recipient
        return None


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON: sorted keys, no whitespace, ASCII only."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _reject_constant(_: str) -> Any:
    raise ValueError("non-finite number")


def _reject_float(_: str) -> Any:
    raise ValueError("floats are not allowed")


def loads_canonical(data: bytes) -> dict[str, Any]:
    """Decode canonical JSON; anything non-canonical raises ``ValueError``."""
    value = json.loads(
        data.decode("ascii"),
        object_pairs_hook=_no_duplicates,
        parse_constant=_reject_constant,
        parse_float=_reject_float,
    )
    if not isinstance(value, dict) or canonical_json(value) != data:
        raise ValueError("not canonical JSON")
    return value


def _int(value: Any, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError("integer out of range")
    return value


def _str(value: Any, max_len: int = 4096) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        raise ValueError("bad string")
    return value


def _hex(value: Any, size: int) -> bytes:
    text = _str(value, 2 * size)
    raw = bytes.fromhex(text)
    if len(raw) != size or raw.hex() != text:
        raise ValueError("bad hex field")
    return raw


def _key_id(value: Any) -> str:
    return _hex(value, KEY_ID_HEX // 2).hex()


_HEADER_KEYS = frozenset(
    {
        "bundle_version",
        "chunk_count",
        "chunk_size",
        "cipher",
        "created_at",
        "format",
        "hash",
        "licence_required",
        "metadata",
        "model_digest",
        "model_id",
        "nonce_prefix",
        "owner_key_id",
        "payload_size",
        "recipients",
        "tensors",
    }
)


def _recipients(value: Any) -> tuple[Recipient, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RECIPIENTS:
        raise ValueError("bad recipient list")
    result = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"ephemeral_key", "key_id", "wrapped_key"}:
            raise ValueError("bad recipient")
        result.append(
            Recipient(
                key_id=_key_id(item["key_id"]),
                ephemeral_key=_hex(item["ephemeral_key"], 32),
                wrapped_key=_hex(item["wrapped_key"], WRAPPED_KEY_SIZE),
            )
        )
    if len({r.key_id for r in result}) != len(result):
        raise ValueError("duplicate recipient")
    return tuple(result)


def _tensors(value: Any) -> tuple[TensorEntry, ...]:
    if not isinstance(value, list):
        raise ValueError("bad tensor index")
    result = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"dtype", "name", "shape"}:
            raise ValueError("bad tensor entry")
        dtype = _str(item["dtype"], 16)
        shape = item["shape"]
        if dtype not in SAFETENSORS_DTYPES or not isinstance(shape, list) or len(shape) > 64:
            raise ValueError("bad tensor entry")
        result.append(
            TensorEntry(
                name=_str(item["name"]),
                dtype=dtype,
                shape=tuple(_int(d, 0, 1 << 62) for d in shape),
            )
        )
    if [t.name for t in result] != sorted({t.name for t in result}):
        raise ValueError("tensor index not sorted or has duplicates")
    return tuple(result)


def _metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("bad metadata")
    return {_str(k, 256): _str(v) for k, v in value.items()}


def decode_header(data: bytes, hash_id: int) -> Header:
    """Decode and validate header bytes; raise ``ValueError`` on any defect."""
    raw = loads_canonical(data)
    if set(raw) != _HEADER_KEYS:
        raise ValueError("unexpected header fields")
    algorithm = HashAlgorithm(hash_id)
    if raw["hash"] != algorithm.label or raw["format"] != FORMAT_VERSION:
        raise ValueError("header disagrees with prefix")
    if raw["cipher"] != CIPHER_NAME or type(raw["licence_required"]) is not bool:
        raise ValueError("bad cipher or licence flag")
    header = Header(
        model_id=_str(raw["model_id"], 256),
        owner_key_id=_key_id(raw["owner_key_id"]),
        hash_algorithm=algorithm,
        chunk_size=_int(raw["chunk_size"], MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
        payload_size=_int(raw["payload_size"], 1, 1 << 50),
        nonce_prefix=_hex(raw["nonce_prefix"], NONCE_PREFIX_SIZE),
        model_digest=_hex(raw["model_digest"], DIGEST_SIZE).hex(),
        licence_required=raw["licence_required"],
        recipients=_recipients(raw["recipients"]),
        tensors=_tensors(raw["tensors"]),
        metadata=_metadata(raw["metadata"]),
        created_at=_int(raw["created_at"], 0, 1 << 40),
        bundle_version=_int(raw["bundle_version"], 0, MAX_BUNDLE_VERSION),
    )
    if header.chunk_count > MAX_CHUNKS or raw["chunk_count"] != header.chunk_count:
        raise ValueError("bad chunk count")
    return header


@dataclass(frozen=True, kw_only=True)
class RawBundle:
    """The framing of one bundle before its header is trusted.

    Only the fixed prefix has been parsed; the header bytes are kept raw so the owner's
    signature can be checked over them before the JSON parser ever sees them.
    """

    header_bytes: bytes
    hash_algorithm: HashAlgorithm
    header_digest: bytes
    chunks_offset: int
    total_size: int
    ciphertext_digest: bytes
    signature: bytes

    def signed_message(self) -> bytes:
        """Return the exact bytes the owner signed."""
        return signed_message(self.header_digest, self.ciphertext_digest)

    def decode(self) -> Header:
        """Decode the header and check the file size it implies; IntegrityError if bad."""
        try:
            header = decode_header(self.header_bytes, self.hash_algorithm.value)
        except (ValueError, UnicodeDecodeError, RecursionError, OverflowError) as exc:
            raise fail() from exc
        if self.chunks_offset + header.ciphertext_size + TRAILER_SIZE != self.total_size:
            raise fail()
        return header


def signed_message(header_digest: bytes, ciphertext_digest: bytes) -> bytes:
    """Return the owner-signed message: context, header digest, ciphertext digest."""
    return SIGNATURE_CONTEXT + header_digest + ciphertext_digest


def read_exact(stream: IO[bytes], size: int) -> bytes:
    """Read exactly ``size`` bytes or raise the integrity error."""
    data = stream.read(size)
    if len(data) != size:
        raise fail()
    return data


def read_raw(stream: IO[bytes], total_size: int) -> RawBundle:
    """Read the prefix, the raw header and the trailer of a bundle of ``total_size`` bytes.

    Raises :class:`IntegrityError` on every framing defect. The header is not parsed here.
    """
    if total_size < PREFIX_SIZE + TRAILER_SIZE:
        raise fail()
    stream.seek(0)
    prefix = read_exact(stream, PREFIX_SIZE)
    magic, version, hash_id, reserved, header_length = PREFIX.unpack(prefix)
    if (
        magic != MAGIC
        or version != FORMAT_VERSION
        or reserved != 0
        or hash_id not in {a.value for a in HashAlgorithm}
        or not 2 <= header_length <= min(MAX_HEADER_SIZE, total_size - PREFIX_SIZE - TRAILER_SIZE)
    ):
        raise fail()
    header_bytes = read_exact(stream, header_length)
    stream.seek(total_size - TRAILER_SIZE)
    trailer = read_exact(stream, TRAILER_SIZE)
    algorithm = HashAlgorithm(hash_id)
    hasher = new_hasher(algorithm)
    hasher.update(prefix)
    hasher.update(header_bytes)
    return RawBundle(
        header_bytes=header_bytes,
        hash_algorithm=algorithm,
        header_digest=hasher.digest(),
        chunks_offset=PREFIX_SIZE + header_length,
        total_size=total_size,
        ciphertext_digest=trailer[:DIGEST_SIZE],
        signature=trailer[DIGEST_SIZE:],
    )
