"""Parallel decryption straight into the tensors' own storage.

Loading must not cost a second copy of the model, nor leave cores idle. Once the first chunks
have revealed the safetensors header, every tensor gets its own preallocated storage and worker
threads decrypt the remaining chunks (chunks are independent), each directly into its tensor's
storage; a chunk that straddles tensors is decrypted piece by piece into each of them (pyca's
streaming AES-GCM), and only bytes outside every tensor (the safetensors header, padding) go to
a per-slot scratch buffer. Chunks are zero-copy views (:class:`BundleBytes`: the mapped file or
the bytes given), so decryption reads the page cache in place. The plaintext's digest, compared
with the signed ``model_digest``, authenticates what was loaded. pyca's ``decrypt_into``
(cryptography 50) and ``blake3`` both release the GIL on large inputs, so threads decrypt and
hash on all cores at once.

How the digest is computed depends on the bundle's hash algorithm. With ``blake3-segments``
(the default) and a chunk size that is a whole number of 1 MiB segments, the thread that
decrypts a chunk also hashes its segments right away, while they are in its cache, and this
thread only appends the segments' digests in chunk order: hashing is as parallel as decryption.
Otherwise (BLAKE3 or SHA-256 bundles, or segments that straddle chunks) this thread hashes each
plaintext in chunk order meanwhile, one sequential pass (BLAKE3 on its own threads) that the
decryption cannot overlap fully. ``benchmarks/vault.py`` reports the scaling with 1, 2 and 4
threads. Extra memory is one chunk buffer per chunk in flight, and per-tensor storage lets the
allocator recycle memory exactly as ``torch.load`` does.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import json
import os
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import IO, TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgeshield.vault._digest import SEGMENT_SIZE, SegmentedHasher, model_hasher
from edgeshield.vault._format import TAG_SIZE, Hasher, Header, fail, new_hasher
from edgeshield.vault._source import BundleBytes

if TYPE_CHECKING:
    import torch

_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024

# safetensors dtype name -> bytes per element (the names the tensor index accepts).
_ITEMSIZE = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


@cache
def torch_dtypes() -> dict[str, torch.dtype]:
    """Return safetensors dtype name -> torch dtype (imports torch: only opening needs it)."""
    import torch

    return {
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


def _read_chunk(stream: IO[bytes], view: memoryview) -> None:
    if stream.readinto(view) != len(view):  # type: ignore[attr-defined]
        raise fail()


def hash_ciphertext(stream: IO[bytes], header: Header, offset: int) -> bytes:
    """Return the digest of all chunk ciphertexts, reading one chunk at a time."""
    hasher = new_hasher(header.hash_algorithm, multithreaded=True)
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

    def pieces(self, start: int, end: int, slot: _Slot) -> list[memoryview]:
        """Return where each part of payload ``[start, end)`` goes, in order.

        Tensor bytes go to their tensor's storage; bytes outside every tensor (the
        safetensors header, padding) to the slot's scratch buffer, at their chunk offset.
        """
        pieces = []
        for segment in self._overlapping(start, end):
            low, high = max(start, segment.start), min(end, segment.end)
            if high <= low:
                continue
            if segment.target is None:
                pieces.append(slot.scratch[low - start : high - start])
                slot.used = True
            else:
                pieces.append(segment.target[low - segment.start : high - segment.start])
        return pieces

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
    import torch

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
            if dtype not in _ITEMSIZE or not isinstance(shape, list):
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
        plan.storages[name] = (storage, torch_dtypes()[dtype], shape)
        plan.segments.append(_Segment(begin, end, storage.numpy().data if end > begin else None))
        position = end
    if position < payload_size:
        plan.segments.append(_Segment(position, payload_size, None))
    return plan


def default_threads() -> int:
    """Decryption threads when the caller does not say: the CPUs, at most 4.

    ``benchmarks/vault.py`` measured half the CPUs (one thread on two cores) no faster when
    the memory is reused and slower when every load faults its memory in, where faults on
    several threads overlap.
    """
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class _Slot:
    """One in-flight chunk's scratch buffer: the first chunks, and bytes outside any tensor."""

    scratch: memoryview
    storage: torch.Tensor
    used: bool = False

    def wipe(self) -> None:
        """Zero the scratch buffer if a chunk went through it (no plaintext left behind)."""
        if self.used:
            self.storage.zero_()


def _slot(chunk_size: int) -> _Slot:
    import torch

    # Uninitialised: every byte is decrypted into before it is read.
    storage = torch.empty(chunk_size, dtype=torch.uint8)
    return _Slot(storage.numpy().data, storage)


@dataclass
class _Loader:
    """Chunk decryption into the planned storages; any thread may run :meth:`chunk`.

    ``segments``: whether :meth:`chunk` also hashes the chunk's whole 1 MiB segments
    (``blake3-segments`` with a chunk size that is a multiple of the segment size).
    """

    header: Header
    offset: int
    header_digest: bytes
    aead: AESGCM
    source: BundleBytes
    key: bytes = field(repr=False)
    segments: bool = False

    def decrypt(self, index: int, slot: _Slot, target: memoryview | None) -> memoryview:
        """Decrypt chunk ``index`` into ``target`` (or the slot's scratch); return the plaintext."""
        header = self.header
        length = header.chunk_length(index)
        where = self.offset + index * (header.chunk_size + TAG_SIZE)
        out = target
        if out is None:
            out, slot.used = slot.scratch[:length], True
        chunk = self.source.view(where, length + TAG_SIZE)
        try:
            self.aead.decrypt_into(header.nonce(index), chunk, self.header_digest, out)
        except InvalidTag as exc:
            raise fail() from exc
        finally:
            chunk.release()  # a view of the mapped file must not outlive the load
        self.source.release(where, length + TAG_SIZE)
        return out

    def scatter(
        self, index: int, pieces: list[memoryview], *, hash_segments: bool = False
    ) -> list[bytes] | None:
        """Decrypt chunk ``index`` piece by piece straight into ``pieces`` (its tensors).

        A chunk that straddles tensors has no one contiguous destination, so it is decrypted
        with pyca's streaming AES-GCM (``update_into`` each piece, then ``finalize`` checks
        the tag) instead of into a scratch buffer and then copied, a second pass over those
        bytes. Every chunk of a ``blake3-segments`` bundle comes here too, with
        ``hash_segments``: its pieces are decrypted at most one segment (1 MiB) at
        a time and each step is hashed at once, while it is still in this core's cache
        (hashing a 4 MiB chunk after decrypting all of it reads it back from memory; see
        ``docs/results.md``, sealed bundles); returns the segments' digests. The pieces hold
        unauthenticated plaintext until ``finalize``; on any failure the caller zeroes every
        storage, as for every chunk.
        """
        header = self.header
        length = header.chunk_length(index)
        where = self.offset + index * (header.chunk_size + TAG_SIZE)
        chunk = self.source.view(where, length + TAG_SIZE)
        try:
            decryptor = Cipher(
                algorithms.AES(self.key), modes.GCM(header.nonce(index), bytes(chunk[length:]))
            ).decryptor()
            decryptor.authenticate_additional_data(self.header_digest)
            hasher = SegmentedHasher() if hash_segments else None
            step = SEGMENT_SIZE if hash_segments else length
            position = 0
            for piece in pieces:
                for offset in range(0, len(piece), max(step, 1)):
                    out = piece[offset : offset + step]
                    decryptor.update_into(chunk[position : position + len(out)], out)
                    if hasher is not None:
                        hasher.update(out)
                    position += len(out)
            if position != length:
                raise fail()
            decryptor.finalize()
        except InvalidTag as exc:
            raise fail() from exc
        finally:
            chunk.release()
        self.source.release(where, length + TAG_SIZE)
        return None if hasher is None else hasher.segments()

    def chunk(
        self, index: int, slot: _Slot, plan: _Tensors
    ) -> tuple[list[memoryview], list[bytes] | None]:
        """Decrypt chunk ``index`` straight into its tensor or, if it straddles, tensors.

        Returns the plaintext (one view, or the pieces in order) and, when :attr:`segments`,
        its segments' BLAKE3 digests, each segment hashed as soon as it is decrypted.
        """
        start = index * self.header.chunk_size
        length = self.header.chunk_length(index)
        if self.segments:
            pieces = plan.pieces(start, start + length, slot)
            return pieces, self.scatter(index, pieces, hash_segments=True)
        target = plan.direct(start, start + length)
        if target is not None:
            pieces = [self.decrypt(index, slot, target)]
        else:
            pieces = plan.pieces(start, start + length, slot)
            self.scatter(index, pieces)
        return pieces, None


def _absorb(hasher: Hasher, pieces: list[memoryview], digests: list[bytes] | None) -> None:
    """Add one chunk to the model digest: its plaintext, or its segments' digests."""
    if digests is None:
        for piece in pieces:
            hasher.update(piece)
        return
    if not isinstance(hasher, SegmentedHasher):
        raise TypeError("segment digests need a SegmentedHasher")
    hasher.add_segments(digests, sum(len(piece) for piece in pieces))


def load_tensors(
    source: BundleBytes,
    header: Header,
    offset: int,
    header_digest: bytes,
    content_key: bytes,
    *,
    threads: int | None = None,
) -> tuple[dict[str, torch.Tensor], bytes]:
    """Decrypt the payload into per-tensor storage; return the tensors and the model digest.

    The first chunks (up to the end of the safetensors header) are decrypted in order; then
    ``threads`` workers decrypt the remaining chunks concurrently, each directly into its
    tensor's storage, and either hash its segments too (``blake3-segments`` with whole
    segments per chunk) or leave this thread to hash the plaintext in chunk order. At most
    ``2 * threads`` chunks are in flight, so memory is the model plus that many chunk
    buffers. Every failure raises :class:`IntegrityError` after the storages have been
    zeroed; the caller must compare the digest with the signed ``model_digest`` before using
    the tensors.
    """
    workers = default_threads() if threads is None else threads
    hasher = model_hasher(header.hash_algorithm)
    loader = _Loader(
        header=header,
        offset=offset,
        header_digest=header_digest,
        aead=AESGCM(content_key),
        source=source,
        key=content_key,
        segments=isinstance(hasher, SegmentedHasher) and header.chunk_size % SEGMENT_SIZE == 0,
    )
    slots = [_slot(header.chunk_size) for _ in range(2 * workers)]
    pending = bytearray()  # plaintext seen before the safetensors header is complete
    plan: _Tensors | None = None
    index = 0
    try:
        while plan is None:
            if index == header.chunk_count:
                raise fail()
            plaintext = loader.decrypt(index, slots[0], None)
            hasher.update(plaintext)
            pending += plaintext
            index += 1
            plan = _try_plan(pending, header)
        plan.write(0, memoryview(pending))
        pending = bytearray()
        _parallel(loader, plan, hasher, slots, range(index, header.chunk_count), workers)
    except BaseException:
        if plan is not None:
            plan.wipe()
        raise
    finally:
        for slot in slots:
            slot.wipe()
    return plan.result(), hasher.digest()


def _parallel(
    loader: _Loader,
    plan: _Tensors,
    hasher: Hasher,
    slots: list[_Slot],
    indices: range,
    workers: int,
) -> None:
    """Decrypt ``indices`` on ``workers`` threads; add each chunk to the digest in order."""
    if not indices:
        return
    free = list(slots)
    flight: collections.deque[tuple[Future[tuple[list[memoryview], list[bytes] | None]], _Slot]] = (
        collections.deque()
    )
    upcoming = iter(indices)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vault-decrypt")
    try:
        for index in itertools.islice(upcoming, len(free)):
            slot = free.pop()
            flight.append((pool.submit(loader.chunk, index, slot, plan), slot))
        while flight:
            future, slot = flight.popleft()
            _absorb(hasher, *future.result())
            following = next(upcoming, None)
            if following is not None:
                flight.append((pool.submit(loader.chunk, following, slot, plan), slot))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
