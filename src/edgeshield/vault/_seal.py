"""Seal a state dict: safetensors payload, chunked AES-256-GCM, wrapped keys, signature.

This is the owner's side of the vault: one call turns ``dict[str, torch.Tensor]`` (or numpy
arrays, so that sealing a file needs no torch) into a bundle only the named devices can open
and nobody can alter. Chunk ``i`` is encrypted with nonce ``prefix | i | final`` and the
header digest as associated data, the STREAM construction of Hoang, Reyhanitabar, Rogaway
and Vizár ("Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO
2015), so reordering, truncation and extension all fail to decrypt.

Sealing costs no copy of the model: the safetensors payload (tensors sorted by name) is laid
out as views of the tensors' own memory, hashed for the model digest in one pass (with
``blake3-segments``, its 1 MiB segments on several threads), and encrypted chunk by chunk in
a second, so memory is the state dict plus a few chunks.
"""

from __future__ import annotations

import bisect
import io
import itertools
import json
import os
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgeshield.errors import ConfigError, StorageError
from edgeshield.vault._digest import SEGMENT_SIZE, combine_segments, model_hasher, segment_digests
from edgeshield.vault._format import (
    MAX_BUNDLE_VERSION,
    MAX_CHUNK_SIZE,
    MAX_CHUNKS,
    MAX_RECIPIENTS,
    MIN_CHUNK_SIZE,
    NONCE_PREFIX_SIZE,
    TAG_SIZE,
    HashAlgorithm,
    Header,
    TensorEntry,
    new_hasher,
    signed_message,
)
from edgeshield.vault._keys import DevicePublicKey, OwnerKey
from edgeshield.vault._licence import Clock, system_clock
from edgeshield.vault._stream import default_threads, torch_dtypes
from edgeshield.vault._wrap import wrap_key

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray

Tensors = Mapping[str, "torch.Tensor"] | Mapping[str, "NDArray[Any]"]
"""A state dict: torch tensors, or numpy arrays."""

# numpy dtype name -> safetensors dtype name (numpy lacks BF16 and the F8 types).
_NUMPY_DTYPES = {
    "bool": "BOOL",
    "uint8": "U8",
    "int8": "I8",
    "int16": "I16",
    "uint16": "U16",
    "float16": "F16",
    "int32": "I32",
    "uint32": "U32",
    "float32": "F32",
    "int64": "I64",
    "uint64": "U64",
    "float64": "F64",
}


def _library(tensor: object) -> str | None:
    """Return "torch" or "numpy" for a tensor or array of that library, else None.

    Neither library is imported here: an object can only be one of their arrays if its
    library is already loaded.
    """
    for library, kind in (("torch", "Tensor"), ("numpy", "ndarray")):
        module = sys.modules.get(library)
        if module is not None and isinstance(tensor, getattr(module, kind)):
            return library
    return None


def _dtype_name(tensor: Any) -> str | None:
    """Return the safetensors dtype name of a tensor or array; None if it has no such name."""
    if _library(tensor) == "torch":
        return {dtype: name for name, dtype in torch_dtypes().items()}.get(tensor.dtype)
    return _NUMPY_DTYPES.get(tensor.dtype.name) if tensor.dtype.isnative else None


@dataclass(frozen=True, kw_only=True)
class SealOptions:
    """How a bundle is sealed.

    Parameters
    ----------
    chunk_size : int
        Plaintext bytes per AES-GCM chunk; the loader's extra memory is about one chunk.
    hash_algorithm : HashAlgorithm
        Digest for the header, the ciphertext and the model; ``BLAKE3_SEGMENTS`` (the
        default) lets devices hash the model on all their decryption threads.
    licence_required : bool
        If True (the default) :func:`open_bundle` refuses to open without a valid licence.
    bundle_version : int
        The owner's release number, signed in the header; raise it with every release so
        devices can refuse an older bundle (``open_bundle(min_bundle_version=...)``).
    """

    chunk_size: int = 4 * 1024 * 1024
    hash_algorithm: HashAlgorithm = HashAlgorithm.BLAKE3_SEGMENTS
    licence_required: bool = True
    bundle_version: int = 0

    def __post_init__(self) -> None:
        if type(self.chunk_size) is not int or not (
            MIN_CHUNK_SIZE <= self.chunk_size <= MAX_CHUNK_SIZE
        ):
            raise ConfigError(
                f"chunk_size must be an integer in [{MIN_CHUNK_SIZE}, {MAX_CHUNK_SIZE}]"
            )
        if not isinstance(self.hash_algorithm, HashAlgorithm):
            raise ConfigError("hash_algorithm must be a HashAlgorithm")
        if not isinstance(self.licence_required, bool):
            raise ConfigError("licence_required must be a bool")
        if type(self.bundle_version) is not int or not (
            0 <= self.bundle_version <= MAX_BUNDLE_VERSION
        ):
            raise ConfigError(f"bundle_version must be an integer in [0, {MAX_BUNDLE_VERSION}]")


@dataclass(frozen=True, kw_only=True)
class _Payload:
    """The safetensors payload as views of the tensors' own memory, never one big copy.

    ``pieces`` are, in payload order, the safetensors header and each tensor's bytes, and
    ``starts`` their payload offsets; ``owners`` keeps the (CPU, contiguous) tensors behind
    the views alive.
    """

    pieces: tuple[memoryview, ...]
    starts: tuple[int, ...]
    size: int
    owners: tuple[Any, ...]

    def gather(self, start: int, buffer: memoryview) -> memoryview:
        """Return payload bytes ``[start, start + len(buffer))``: a view, or copied into buffer."""
        end = start + len(buffer)
        filled = 0
        first = max(0, bisect.bisect_right(self.starts, start) - 1)
        for low, piece in zip(self.starts[first:], self.pieces[first:], strict=True):
            high = low + len(piece)
            if high <= start:
                continue
            if low >= end:
                break
            if low <= start and end <= high:
                return piece[start - low : end - low]  # inside one piece: no copy
            part = piece[max(start, low) - low : min(end, high) - low]
            buffer[filled : filled + len(part)] = part
            filled += len(part)
        return buffer[:filled]


@dataclass(frozen=True)
class _Flat:
    """One tensor or array as contiguous CPU memory: its byte view and where it lives."""

    name: str
    dtype: str
    shape: list[int]
    owner: Any
    data: memoryview
    address: int


def _flatten(name: str, tensor: Any) -> _Flat:
    """Return a contiguous CPU view of a torch tensor or numpy array (a copy only if needed)."""
    dtype = _dtype_name(tensor) or ""
    if _library(tensor) == "torch":
        import torch

        flat = tensor.detach().cpu().contiguous()
        data = flat.reshape(-1).view(torch.uint8).numpy().data
        return _Flat(name, dtype, list(flat.shape), flat, data, flat.data_ptr())
    import numpy

    array = numpy.ascontiguousarray(tensor)
    data = array.reshape(-1).view(numpy.uint8).data
    return _Flat(name, dtype, list(array.shape), array, data, array.ctypes.data)


def _serialise(tensors: Tensors) -> _Payload:
    """Lay the tensors out as a safetensors file (sorted by name) without copying them."""
    arrays: dict[str, Any] = dict(tensors)
    if len({_library(t) for t in arrays.values()}) != 1:
        raise ConfigError("tensors must be all torch tensors or all numpy arrays")
    items = [_flatten(name, t) for name, t in sorted(arrays.items())]
    spans = sorted((f.address, f.address + len(f.data)) for f in items if len(f.data) > 0)
    if any(a_end > b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans)):
        raise ValueError("some tensors share memory (safetensors refuses shared storage)")
    index: dict[str, Any] = {}
    offset = 0
    for item in items:
        size = len(item.data)
        index[item.name] = {
            "dtype": item.dtype,
            "shape": item.shape,
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = json.dumps(index, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # align the tensor data to 8 bytes, as safetensors does
    head = struct.pack("<Q", len(text)) + text
    pieces = (memoryview(head), *(f.data for f in items if len(f.data) > 0))
    return _Payload(
        pieces=pieces,
        starts=tuple(itertools.accumulate((len(p) for p in pieces[:-1]), initial=0)),
        size=len(head) + offset,
        owners=tuple(f.owner for f in items),
    )


_SEGMENTS_PER_TASK = 16  # 16 MiB of payload per thread-pool task when hashing segments


def _payload_digest(payload: _Payload, algorithm: HashAlgorithm) -> str:
    """Hash the payload pieces in order: the model digest as 64 lowercase hex digits.

    ``blake3-segments`` hashes runs of segments on :func:`default_threads` threads (the
    digest does not depend on how many); each run copies only a segment that straddles two
    pieces, into its own 1 MiB buffer.
    """
    if algorithm is not HashAlgorithm.BLAKE3_SEGMENTS:
        hasher = model_hasher(algorithm)
        for piece in payload.pieces:
            hasher.update(piece)
        return hasher.digest().hex()
    run = _SEGMENTS_PER_TASK * SEGMENT_SIZE

    def hash_run(start: int) -> list[bytes]:
        buffer = memoryview(bytearray(SEGMENT_SIZE))
        digests = []
        for low in range(start, min(start + run, payload.size), SEGMENT_SIZE):
            length = min(SEGMENT_SIZE, payload.size - low)
            digests += segment_digests(payload.gather(low, buffer[:length]))
        return digests

    with ThreadPoolExecutor(default_threads(), thread_name_prefix="vault-hash") as pool:
        runs = pool.map(hash_run, range(0, payload.size, run))
        return combine_segments(payload.size, itertools.chain.from_iterable(runs)).hex()


def model_digest(
    tensors: Tensors, *, hash_algorithm: HashAlgorithm = HashAlgorithm.BLAKE3_SEGMENTS
) -> str:
    """Return the model digest of a state dict: the one name of a model across EdgeShield.

    Why: the same model must show the same digest in its model card, the bundle header, the
    licence that names it, the guard's health answer, the ownership commitment and the
    ledger's registry. This is that digest: ``hash_algorithm`` (``BLAKE3_SEGMENTS``, a hash
    list of 1 MiB BLAKE3 segments, unless the bundle was sealed with another) over the
    canonical safetensors payload :func:`seal` encrypts (tensors sorted by name, no
    metadata), as 64 lowercase hex digits. It names the weights
    only; it is not the SHA-256 of a ``.safetensors`` file, whose bytes also hold metadata.

    Parameters
    ----------
    tensors : Mapping[str, torch.Tensor] or Mapping[str, numpy.ndarray]
        The state dict, as :func:`seal` takes it.
    hash_algorithm : HashAlgorithm
        The digest algorithm; a bundle records its own (``BundleInfo.hash_algorithm``).

    Raises
    ------
    ConfigError
        The tensors cannot be laid out as safetensors.
    """
    _check_tensors(tensors)
    if not isinstance(hash_algorithm, HashAlgorithm):
        raise ConfigError("hash_algorithm must be a HashAlgorithm")
    try:
        payload = _serialise(tensors)
    except (ValueError, RuntimeError, TypeError, NotImplementedError) as exc:
        raise ConfigError(f"cannot serialise tensors as safetensors: {exc}") from exc
    return _payload_digest(payload, hash_algorithm)


@dataclass(frozen=True, kw_only=True)
class _Plan:
    header: Header
    content_key: bytes = field(repr=False)
    payload: _Payload = field(repr=False)


def _check_tensors(tensors: Tensors) -> None:
    if not isinstance(tensors, Mapping) or not tensors:
        raise ConfigError("tensors must be a non-empty mapping of names to tensors")
    for name, tensor in tensors.items():
        if not isinstance(name, str) or _library(tensor) is None:
            raise ConfigError("tensors must map str names to torch.Tensor or numpy array values")
        if _dtype_name(tensor) is None:
            raise ConfigError(f"tensor {name!r} has unsupported dtype {tensor.dtype}")
    if "__metadata__" in tensors:
        # safetensors reserves the key for its metadata: such a bundle would never open
        raise ConfigError("the tensor name '__metadata__' is reserved by safetensors")


def _check_inputs(
    tensors: Tensors,
    recipients: Sequence[DevicePublicKey],
    model_id: str,
    metadata: Mapping[str, str],
) -> None:
    _check_tensors(tensors)
    if isinstance(recipients, DevicePublicKey) or not recipients:
        raise ConfigError("recipients must be a non-empty sequence of DevicePublicKey")
    if not all(isinstance(r, DevicePublicKey) for r in recipients):
        raise ConfigError("recipients must be DevicePublicKey objects")
    if len({r.key_id for r in recipients}) != len(recipients):
        raise ConfigError("recipients contain the same device twice")
    if len(recipients) > MAX_RECIPIENTS:
        raise ConfigError(f"at most {MAX_RECIPIENTS} recipients per bundle")
    if not isinstance(model_id, str) or not 0 < len(model_id) <= 256:
        raise ConfigError("model_id must be a non-empty string of at most 256 characters")
    if not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 256 and len(v) <= 4096
        for k, v in metadata.items()
    ):
        raise ConfigError("metadata must map strings (<= 256 chars) to strings (<= 4096 chars)")
    if any(len(name) > 4096 for name in tensors):
        raise ConfigError("tensor names must be at most 4096 characters")  # the header's limit
    if not all(_is_unicode(text) for text in (model_id, *tensors, *metadata.items())):
        raise ConfigError(
            "model_id, metadata and tensor names must be valid Unicode "
            "(no lone surrogates, as non-UTF-8 bytes become)"
        )


def _is_unicode(text: str | tuple[str, str]) -> bool:
    """Whether ``text`` (or both strings of a pair) encodes as UTF-8: no lone surrogates."""
    try:
        for part in (text,) if isinstance(text, str) else text:
            part.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plan(
    tensors: Tensors,
    *,
    owner_key: OwnerKey,
    recipients: Sequence[DevicePublicKey],
    model_id: str,
    metadata: Mapping[str, str] | None,
    options: SealOptions | None,
    clock: Clock,
    entropy: Callable[[int], bytes],
) -> _Plan:
    options = SealOptions() if options is None else options
    metadata = {} if metadata is None else metadata
    if not isinstance(owner_key, OwnerKey):
        raise ConfigError("owner_key must be an OwnerKey")
    _check_inputs(tensors, recipients, model_id, metadata)
    try:
        payload = _serialise(tensors)
    except (ValueError, RuntimeError, TypeError, NotImplementedError) as exc:
        raise ConfigError(f"cannot serialise tensors as safetensors: {exc}") from exc
    content_key = entropy(32)
    nonce_prefix = entropy(NONCE_PREFIX_SIZE)
    header = Header(
        model_id=model_id,
        owner_key_id=owner_key.public_key().key_id,
        hash_algorithm=options.hash_algorithm,
        chunk_size=options.chunk_size,
        payload_size=payload.size,
        nonce_prefix=nonce_prefix,
        model_digest=_payload_digest(payload, options.hash_algorithm),
        licence_required=options.licence_required,
        recipients=tuple(wrap_key(content_key, device, entropy) for device in recipients),
        tensors=tuple(
            TensorEntry(name=name, dtype=_dtype_name(t) or "", shape=tuple(t.shape))
            for name, t in sorted(dict[str, Any](tensors).items())
        ),
        metadata=dict(metadata),
        created_at=int(clock().timestamp()),
        bundle_version=options.bundle_version,
    )
    if header.chunk_count > MAX_CHUNKS:
        raise ConfigError("chunk_size is too small for this model")
    return _Plan(header=header, content_key=content_key, payload=payload)


def _write(plan: _Plan, owner_key: OwnerKey, sink: IO[bytes]) -> None:
    header = plan.header
    header_bytes = header.encode()
    prefix = header.prefix(len(header_bytes))
    header_hasher = new_hasher(header.hash_algorithm)
    header_hasher.update(prefix + header_bytes)
    header_digest = header_hasher.digest()
    sink.write(prefix + header_bytes)
    aead = AESGCM(plan.content_key)
    hasher = new_hasher(header.hash_algorithm, multithreaded=True)
    view = memoryview(bytearray(header.chunk_size + TAG_SIZE))
    gathered = memoryview(bytearray(header.chunk_size))
    position = 0
    for index in range(header.chunk_count):
        length = header.chunk_length(index)
        chunk = view[: length + TAG_SIZE]
        plaintext = plan.payload.gather(position, gathered[:length])
        aead.encrypt_into(header.nonce(index), plaintext, header_digest, chunk)
        hasher.update(chunk)
        sink.write(chunk)
        position += length
    ciphertext_digest = hasher.digest()
    sink.write(ciphertext_digest)
    sink.write(owner_key.sign(signed_message(header_digest, ciphertext_digest)))


def seal(
    tensors: Tensors,
    *,
    owner_key: OwnerKey,
    recipients: Sequence[DevicePublicKey],
    model_id: str,
    metadata: Mapping[str, str] | None = None,
    options: SealOptions | None = None,
    clock: Clock = system_clock,
    _entropy: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """Seal a state dict for ``recipients`` and return the bundle bytes.

    Parameters
    ----------
    tensors : Mapping[str, torch.Tensor] or Mapping[str, numpy.ndarray]
        The state dict (any dtype safetensors supports; shared storage is refused), as torch
        tensors or as numpy arrays (sealing a file then needs no torch).
    owner_key : OwnerKey
        Signs the bundle; devices verify with its public key.
    recipients : Sequence[DevicePublicKey]
        The devices that may open the bundle.
    model_id : str
        Human name of the model, written in the (public) header.
    metadata : Mapping[str, str] or None
        Extra public header fields.
    options : SealOptions or None
        Chunk size, hash algorithm and licence requirement; defaults if None.
    clock : Clock
        Source of the ``created_at`` time.

    Returns
    -------
    bytes
        The sealed bundle.
    """
    plan = _plan(
        tensors,
        owner_key=owner_key,
        recipients=recipients,
        model_id=model_id,
        metadata=metadata,
        options=options,
        clock=clock,
        entropy=_entropy,
    )
    sink = io.BytesIO()
    _write(plan, owner_key, sink)
    return sink.getvalue()


def seal_file(
    path: str | os.PathLike[str],
    tensors: Tensors,
    *,
    owner_key: OwnerKey,
    recipients: Sequence[DevicePublicKey],
    model_id: str,
    metadata: Mapping[str, str] | None = None,
    options: SealOptions | None = None,
    clock: Clock = system_clock,
) -> Path:
    """Seal a state dict into the file ``path`` (written atomically) and return its path.

    Takes the same arguments as :func:`seal`; the ciphertext is streamed to disk one chunk
    at a time.
    """
    plan = _plan(
        tensors,
        owner_key=owner_key,
        recipients=recipients,
        model_id=model_id,
        metadata=metadata,
        options=options,
        clock=clock,
        entropy=os.urandom,
    )
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("wb") as sink:
            _write(plan, owner_key, sink)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StorageError(f"cannot write bundle {target}: {exc.strerror}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
