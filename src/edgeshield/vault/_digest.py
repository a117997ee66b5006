"""The model digest, and its segmented BLAKE3 form that many threads can compute at once.

Why: a sealed load must hash every plaintext byte, and one BLAKE3 hasher fed in payload order
is a sequential pass that the decryption threads cannot share; on two cores the load cost
decryption plus hashing, one after the other. ``blake3-segments`` (hash id 3) makes the
model digest a hash list instead: each 1 MiB segment of the payload is hashed on its own,
so the thread that decrypts a chunk hashes that chunk's segments at once, while they are
still in its cache, and the segments' digests are combined in order at the end::

    d_i    = BLAKE3(payload[i * S : (i + 1) * S])            S = 1 MiB, the last one shorter
    digest = BLAKE3(TAG | payload size u64 BE | S u64 BE | d_0 | d_1 | ... | d_{n-1})

with ``n = ceil(size / S)``. Size and segment size fix ``n`` and every boundary, so the outer
input parses one way only and a collision of the digest is a collision of BLAKE3. The tag's
first eight bytes, read as a safetensors header length, exceed any the loader accepts, so
the outer input is never itself a payload. The segment size is part of the format, not of
the bundle (its chunk size may be anything): the same weights have the same digest in every
bundle, model card and licence. Header and ciphertext digests stay plain BLAKE3 (they are
short or already streamed once), see :func:`edgeshield.vault._format.new_hasher`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import blake3

from edgeshield.vault._format import HashAlgorithm, Hasher, new_hasher

SEGMENT_SIZE = 1024 * 1024
"""Plaintext bytes per segment of the ``blake3-segments`` model digest (part of the format)."""

SEGMENT_TAG = b"edgeshield/vault/model-digest/blake3-segments/v1\n"
"""Domain separation of the outer hash of ``blake3-segments``."""


def segment_digests(plaintext: memoryview | bytes | Sequence[memoryview]) -> list[bytes]:
    """Return the BLAKE3 digest of each 1 MiB segment of ``plaintext``, in order.

    ``plaintext`` is one buffer or consecutive pieces of one (a chunk decrypted into
    several tensors); it must start on a segment boundary. ``blake3`` releases the GIL on
    inputs this large, so threads hash in parallel.
    """
    pieces = [plaintext] if isinstance(plaintext, memoryview | bytes) else plaintext
    hasher = SegmentedHasher()
    for piece in pieces:
        hasher.update(piece)
    return hasher.segments()


def combine_segments(size: int, digests: Iterable[bytes]) -> bytes:
    """Return the ``blake3-segments`` digest of a payload of ``size`` bytes from its segments'."""
    outer = blake3.blake3(SEGMENT_TAG + struct.pack(">QQ", size, SEGMENT_SIZE))
    for digest in digests:
        outer.update(digest)
    return outer.digest()  # type: ignore[no-any-return,unused-ignore]


class SegmentedHasher:
    """Incremental ``blake3-segments``: bytes in payload order, or whole segments' digests.

    :meth:`update` takes plaintext in order (any split); :meth:`add_segments` takes the
    digests of whole segments another thread has already hashed, and only where the bytes
    so far end on a segment boundary (the loader's fast path, when chunks are whole
    segments). Only the 32-byte digests are kept: 32 KiB per GiB of model.
    """

    def __init__(self) -> None:
        self._digests: list[bytes] = []
        self._size = 0
        self._current: Any = None  # the open segment's BLAKE3 hasher, if any
        self._filled = 0  # bytes in the open segment

    def update(self, data: Any, /) -> None:
        """Absorb the next ``data`` bytes of the payload."""
        if self._current is None and self._size % SEGMENT_SIZE:
            raise ValueError("a short segment must be the last one")
        view = memoryview(data).cast("B")
        position = 0
        while position < len(view):
            if self._current is None:
                self._current, self._filled = blake3.blake3(), 0
            take = min(SEGMENT_SIZE - self._filled, len(view) - position)
            self._current.update(view[position : position + take])
            self._filled += take
            position += take
            if self._filled == SEGMENT_SIZE:
                self._close()
        self._size += len(view)

    def add_segments(self, digests: list[bytes], length: int) -> None:
        """Append the digests of the next ``length`` payload bytes, hashed elsewhere.

        Raises ``ValueError`` unless the bytes so far end on a segment boundary and
        ``digests`` has one entry per segment of ``length`` bytes (a caller's bug, not data).
        """
        if self._current is not None or len(digests) != -(-length // SEGMENT_SIZE):
            raise ValueError("segments must start on a segment boundary")
        if self._size % SEGMENT_SIZE:
            raise ValueError("a short segment must be the last one")
        self._digests.extend(digests)
        self._size += length

    def segments(self) -> list[bytes]:
        """Return the digests of the segments absorbed so far, the open (short) one last."""
        if self._current is None:
            return list(self._digests)
        return [*self._digests, self._current.digest()]

    def digest(self) -> bytes:
        """Return the 32-byte digest of everything absorbed (the hasher stays usable)."""
        return combine_segments(self._size, self.segments())

    def _close(self) -> None:
        self._digests.append(self._current.digest())
        self._current, self._filled = None, 0


def model_hasher(algorithm: HashAlgorithm) -> Hasher:
    """Return a fresh incremental hasher of the model digest under ``algorithm``.

    BLAKE3 and SHA-256 hash the payload as one stream (BLAKE3 on its own threads);
    ``blake3-segments`` is :class:`SegmentedHasher`.
    """
    if algorithm is HashAlgorithm.BLAKE3_SEGMENTS:
        return SegmentedHasher()
    return new_hasher(algorithm, multithreaded=True)
