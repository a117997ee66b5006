"""blake3-segments: the incremental hasher, and the loader's two ways of computing it.

With chunks of whole 1 MiB segments the decryption threads hash the segments (the fast
path); otherwise the calling thread hashes the plaintext in order. Both must give the one
digest :func:`model_digest` gives, and both must refuse a bundle altered anywhere.
"""

from __future__ import annotations

import os
import random

import blake3
import pytest
import torch
from vault_helpers import World

from edgeshield.errors import IntegrityError
from edgeshield.vault import SealOptions, model_digest, open_bundle, seal
from edgeshield.vault._digest import (
    SEGMENT_SIZE,
    SEGMENT_TAG,
    SegmentedHasher,
    combine_segments,
    segment_digests,
)
from edgeshield.vault._format import PREFIX_SIZE, TAG_SIZE, TRAILER_SIZE

MIB = 1024 * 1024


def by_recipe(data: bytes) -> bytes:
    outer = SEGMENT_TAG + len(data).to_bytes(8, "big") + SEGMENT_SIZE.to_bytes(8, "big")
    for start in range(0, len(data), SEGMENT_SIZE):
        outer += blake3.blake3(data[start : start + SEGMENT_SIZE]).digest()
    return blake3.blake3(outer).digest()  # type: ignore[no-any-return]


@pytest.mark.parametrize("size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, 3 * SEGMENT_SIZE + 5])
def test_any_split_gives_the_recipe_digest(size: int) -> None:
    data = os.urandom(size)
    expected = by_recipe(data)
    assert combine_segments(size, segment_digests(data)) == expected
    rng = random.Random(size)
    hasher = SegmentedHasher()
    position = 0
    while position < size:
        step = rng.choice([1, 17, 4096, SEGMENT_SIZE - 3, SEGMENT_SIZE, 2 * SEGMENT_SIZE + 1])
        hasher.update(data[position : position + step])
        position += step
    assert hasher.digest() == expected
    assert hasher.digest() == expected  # digest() does not consume the hasher


def test_whole_segments_from_threads_mix_with_ordered_bytes() -> None:
    data = os.urandom(5 * SEGMENT_SIZE + 100)
    hasher = SegmentedHasher()
    hasher.update(data[: 2 * SEGMENT_SIZE])  # ends on a boundary
    middle = data[2 * SEGMENT_SIZE : 4 * SEGMENT_SIZE]
    hasher.add_segments(segment_digests(middle), len(middle))
    rest = data[4 * SEGMENT_SIZE :]
    hasher.add_segments(segment_digests(rest), len(rest))  # short last segment
    assert hasher.digest() == by_recipe(data)


def test_misaligned_segments_are_a_caller_error() -> None:
    hasher = SegmentedHasher()
    hasher.update(b"x")
    with pytest.raises(ValueError, match="boundary"):
        hasher.add_segments([bytes(32)], SEGMENT_SIZE)
    aligned = SegmentedHasher()
    with pytest.raises(ValueError, match="boundary"):
        aligned.add_segments([bytes(32)], 2 * SEGMENT_SIZE)  # one digest for two segments
    aligned.add_segments([bytes(32)], 10)
    with pytest.raises(ValueError, match="last one"):
        aligned.update(b"more")
    with pytest.raises(ValueError, match="last one"):
        aligned.add_segments([bytes(32)], SEGMENT_SIZE)


def test_segment_size_and_length_are_bound() -> None:
    """Same segment digests, other size: another digest (the size is hashed)."""
    digests = segment_digests(bytes(SEGMENT_SIZE))
    assert combine_segments(SEGMENT_SIZE, digests) != combine_segments(SEGMENT_SIZE + 1, digests)
    assert by_recipe(b"") != blake3.blake3(b"").digest()


def big_model() -> dict[str, torch.Tensor]:
    """About 3.3 MiB: four segments, tensors straddling segment and chunk boundaries."""
    generator = torch.Generator().manual_seed(7)
    return {
        "a.weight": torch.randn(300_000, generator=generator),
        "b.bias": torch.randn(3, generator=generator),
        "c.weight": torch.randn(500, 1_000, generator=generator),
        "d.steps": torch.tensor([11], dtype=torch.int64),
    }


# 1, 2 MiB: whole segments per chunk (threads hash them); the rest: ordered fallback.
CHUNKS = [MIB, 2 * MIB, MIB + 16, 3 * MIB // 2, 4 * MIB, 4096]


@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize("threads", [1, 3])
def test_both_paths_load_and_agree(world: World, chunk_size: int, threads: int) -> None:
    tensors = big_model()
    bundle = seal(
        tensors,
        owner_key=world.owner,
        recipients=[world.device.public_key()],
        model_id="segments",
        options=SealOptions(chunk_size=chunk_size, licence_required=False),
    )
    loaded = open_bundle(
        bundle, device_key=world.device, owner_public_key=world.owner.public_key(), threads=threads
    )
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor), name
    assert f'"model_digest":"{model_digest(tensors)}"'.encode() in bundle


def chunk_span(bundle: bytes, index: int, chunk_size: int) -> tuple[int, int]:
    header_length = int.from_bytes(bundle[12:16], "big")
    start = PREFIX_SIZE + header_length + index * (chunk_size + TAG_SIZE)
    return start, min(start + chunk_size + TAG_SIZE, len(bundle) - TRAILER_SIZE)


@pytest.mark.parametrize("chunk_size", [MIB, MIB + 16])
def test_altered_chunks_are_refused_on_both_paths(world: World, chunk_size: int) -> None:
    bundle = seal(
        big_model(),
        owner_key=world.owner,
        recipients=[world.device.public_key()],
        model_id="segments",
        options=SealOptions(chunk_size=chunk_size, licence_required=False),
    )
    first, second = chunk_span(bundle, 1, chunk_size), chunk_span(bundle, 2, chunk_size)
    middle = bytearray(bundle)
    middle[first[0] + chunk_size // 2] ^= 0x10
    last = bytearray(bundle)
    last[-TRAILER_SIZE - 20] ^= 1
    swapped = (
        bundle[: first[0]]
        + bundle[second[0] : second[1]]
        + bundle[first[0] : first[1]]
        + bundle[second[1] :]
    )
    for altered in (bytes(middle), bytes(last), swapped):
        with pytest.raises(IntegrityError):
            open_bundle(altered, device_key=world.device, owner_public_key=world.owner.public_key())
