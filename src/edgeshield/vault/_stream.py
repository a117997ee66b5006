"""Streaming decryption straight into the tensors' own storage.

Loading must not cost a second copy of the model. Chunks are read into one reusable
ciphertext buffer and hashed (on a helper thread: BLAKE3 and AES-GCM both release the GIL)
while they are decrypted. Once the first chunks have revealed the safetensors header, every
tensor gets its own preallocated storage and each later chunk is decrypted directly into it
(``AESGCM.decrypt_into``); only a chunk that straddles two tensors goes through a one-chunk
scratch buffer. Extra memory is about two chunks, and per-tensor storage lets the allocator
recycle memory exactly as ``torch.load`` does.
"""

from __future__ import annotations

import bisect
import itertools
import json
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgeshield.vault._format import TAG_SIZE, Hasher, Header, fail, new_hasher

# Hash on a helper thread only when chunks are big enough to amortise the hand-off.
_THREADED_CHUNK = 256 * 1024
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024

# safetensors dtype name -> torch dtype (the names the tensor index accepts).
TORCH_DTYPES: dict[str, torch.dtype] = {
    "BOOL": torch.bool,
    "U8": torch.uint8,
    "I8": torch.int8,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I16": torch.int16,
    "U16": torch.uint16,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I32": torch.int32,
    "U32": torch.uint32,
    "F32": torch.float32,
    "I64": torch.int64,
    "U64": torch.uint64,
    "F64": torch.float64,
}
_ITEMSIZE = {
    name: torch.empty((), dtype=dtype).element_size() for name, dtype in TORCH_DTYPES.items()
}


def _read_chunk(stream: IO[bytes], view: memoryview) -> None:
    if stream.readinto(view) != len(view):  # type: ignore[attr-defined]
        raise fail()


def hash_ciphertext(stream: IO[bytes], header: Header, offset: int) -> bytes:
    """Return the digest of all chunk ciphertexts, reading one chunk at a time."""
    hasher = new_hasher(header.hash_algorithm)
    view = memoryview(bytearray(header.chunk_size + TAG_SIZE))
    stream.seek(offset)
    for index in range(header.chunk_count):
        chunk = view[: header.chunk_length(index) + TAG_SIZE]
        _read_chunk(stream, chunk)
        hasher.update(chunk)
    return hasher.digest()


@dataclass
class _Segment:
    """A payload byte range and where its plaintext goes (None: discarded)."""

    start: int
    end: int
    target: memoryview | None


@dataclass
class _Tensors:
    """Per-tensor storages and the payload segments that fill them."""

    segments: list[_Segment] = field(default_factory=list)
    storages: dict[str, tuple[torch.Tensor, torch.dtype, list[int]]] = field(default_factory=dict)

    def wipe(self) -> None:
        """Zero every storage (best effort: no unauthenticated plaintext lingers)."""
        for storage, _, _ in self.storages.values():
            storage.zero_()

    def result(self) -> dict[str, torch.Tensor]:
        """Return the state dict, each tensor viewing its own storage."""
        return {
            name: storage.view(dtype).reshape(shape)
            for name, (storage, dtype, shape) in self.storages.items()
        }

    def write(self, start: int, data: memoryview) -> None:
        """Copy plaintext that begins at payload offset ``start`` into its segments."""
        end = start + len(data)
        for segment in self._overlapping(start, end):
            if segment.target is None:
                continue
            low, high = max(start, segment.start), min(end, segment.end)
            segment.target[low - segment.start : high - segment.start] = data[
                low - start : high - start
            ]

    def direct(self, start: int, end: int) -> memoryview | None:
        """Return the target slice if ``[start, end)`` lies inside one tensor, else None."""
        found = self._overlapping(start, end)
        target = found[0].target if len(found) == 1 else None
        if target is None:
            return None
        return target[start - found[0].start : end - found[0].start]

    def _overlapping(self, start: int, end: int) -> list[_Segment]:
        # Segments are sorted, contiguous and cover the payload from offset 0.
        first = bisect.bisect_right(self.segments, start, key=lambda s: s.start) - 1
        found = []
        for segment in itertools.islice(self.segments, max(first, 0), None):
            if segment.start >= end:
                break
            if segment.end > start:
                found.append(segment)
        return found


def _plan(header_bytes: bytes, payload_size: int, index: Header) -> _Tensors:
    """Parse the decrypted safetensors header; allocate storage for every tensor."""
    try:
        raw = json.loads(header_bytes)
        if not isinstance(raw, dict):
            raise ValueError("bad safetensors header")
        start = 8 + len(header_bytes)
        entries = []
        for name, info in raw.items():
            if name == "__metadata__":
                continue
            if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
                raise ValueError("bad tensor entry")
            dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
            if dtype not in TORCH_DTYPES or not isinstance(shape, list):
                raise ValueError("bad tensor entry")
            if not isinstance(offsets, list) or len(offsets) != 2:
                raise ValueError("bad tensor entry")
            if any(type(d) is not int or d < 0 for d in [*shape, *offsets]):
                raise ValueError("bad tensor entry")
            numel = 1
            for dim in shape:
                numel *= dim
            begin, end = start + offsets[0], start + offsets[1]
            if not start <= begin <= end <= payload_size or end - begin != numel * _ITEMSIZE[dtype]:
                raise ValueError("tensor out of bounds")
            entries.append((begin, end, name, dtype, shape))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise fail() from exc
    expected = sorted((e.name, e.dtype, list(e.shape)) for e in index.tensors)
    if sorted((name, dtype, shape) for _, _, name, dtype, shape in entries) != expected:
        raise fail()
    plan = _Tensors(segments=[_Segment(0, start, None)])
    position = start
    for begin, end, name, dtype, shape in sorted(entries):
        if begin < position:
            raise fail()  # overlapping tensors
        if begin > position:
            plan.segments.append(_Segment(position, begin, None))
        storage = torch.empty(end - begin, dtype=torch.uint8)
        plan.storages[name] = (storage, TORCH_DTYPES[dtype], shape)
        plan.segments.append(_Segment(begin, end, storage.numpy().data if end > begin else None))
        position = end
    if position < payload_size:
        plan.segments.append(_Segment(position, payload_size, None))
    return plan


@dataclass
class _Decryptor:
    """Chunk-by-chunk AES-GCM decryption with the ciphertext hashed alongside."""

    header: Header
    header_digest: bytes
    aead: AESGCM
    hasher: Hasher
    payload_hasher: Hasher
    pool: ThreadPoolExecutor | None

    def decrypt(self, index: int, chunk: memoryview, target: memoryview) -> None:
        """Hash ``chunk``, decrypt it into ``target`` and hash the plaintext.

        Raises IntegrityError if the tag fails. Chunks must come in order: both digests are
        sequential.
        """
        hashed: Future[Any] | None = (
            self.pool.submit(self.hasher.update, chunk) if self.pool is not None else None
        )
        try:
            self.aead.decrypt_into(self.header.nonce(index), chunk, self.header_digest, target)
        except InvalidTag as exc:
            raise fail() from exc
        finally:
            if hashed is None:
                self.hasher.update(chunk)
            else:
                hashed.result()
        self.payload_hasher.update(target)


def load_tensors(
    stream: IO[bytes], header: Header, offset: int, header_digest: bytes, content_key: bytes
) -> tuple[dict[str, torch.Tensor], bytes, bytes]:
    """Decrypt the payload into per-tensor storage.

    Returns the tensors, the ciphertext digest and the plaintext (model) digest. Every
    failure raises :class:`IntegrityError` after the storages have been zeroed. The caller
    must compare both digests with the signed ones before using the tensors.
    """
    pool = ThreadPoolExecutor(max_workers=1) if header.chunk_size >= _THREADED_CHUNK else None
    decryptor = _Decryptor(
        header=header,
        header_digest=header_digest,
        aead=AESGCM(content_key),
        hasher=new_hasher(header.hash_algorithm),
        payload_hasher=new_hasher(header.hash_algorithm),
        pool=pool,
    )
    # Uninitialised buffers: every byte is written (read or decrypted) before it is used.
    ciphertext = torch.empty(header.chunk_size + TAG_SIZE, dtype=torch.uint8).numpy().data
    scratch_buffer = torch.empty(header.chunk_size, dtype=torch.uint8)
    scratch = scratch_buffer.numpy().data
    pending = bytearray()  # plaintext seen before the safetensors header is complete
    plan: _Tensors | None = None
    stream.seek(offset)
    position = 0
    try:
        for index in range(header.chunk_count):
            length = header.chunk_length(index)
            chunk = ciphertext[: length + TAG_SIZE]
            _read_chunk(stream, chunk)
            target = plan.direct(position, position + length) if plan is not None else None
            decryptor.decrypt(index, chunk, scratch[:length] if target is None else target)
            if plan is None:
                pending += scratch[:length]
                plan = _try_plan(pending, header)
                if plan is not None:
                    plan.write(0, memoryview(pending))
                    pending = bytearray()
            elif target is None:
                plan.write(position, scratch[:length])
            position += length
        if plan is None:
            raise fail()
    except BaseException:
        if plan is not None:
            plan.wipe()
        raise
    finally:
        if pool is not None:
            pool.shutdown()
        scratch_buffer.zero_()  # no plaintext left behind
    return plan.result(), decryptor.hasher.digest(), decryptor.payload_hasher.digest()


def _try_plan(pending: bytearray, header: Header) -> _Tensors | None:
    """Return the tensor plan once ``pending`` holds the whole safetensors header."""
    if len(pending) < 8:
        return None
    (size,) = struct.unpack("<Q", pending[:8])
    if size > min(_MAX_SAFETENSORS_HEADER, header.payload_size - 8):
        raise fail()
    if len(pending) < 8 + size:
        return None
    return _plan(bytes(pending[8 : 8 + size]), header.payload_size, header)
