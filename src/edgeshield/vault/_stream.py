"""Streaming decryption into one preallocated buffer, and tensors built over that buffer.

Loading must not cost a second copy of the model: chunks are read into one reusable
ciphertext buffer, hashed (on a helper thread, since BLAKE3 and AES-GCM both release the
GIL) while they are decrypted straight into their slot of the output buffer, and the
tensors are then views into that buffer. Extra memory is about one chunk.
"""

from __future__ import annotations

import json
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgeshield.vault._format import TAG_SIZE, Header, fail, new_hasher

# Hash on a helper thread only when chunks are big enough to amortise the hand-off.
_THREADED_CHUNK = 256 * 1024

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


def hash_ciphertext(stream: IO[bytes], header: Header, offset: int) -> bytes:
    """Return the digest of all chunk ciphertexts, reading one chunk at a time."""
    hasher = new_hasher(header.hash_algorithm)
    buffer = bytearray(header.chunk_size + TAG_SIZE)
    view = memoryview(buffer)
    stream.seek(offset)
    for index in range(header.chunk_count):
        size = header.chunk_length(index) + TAG_SIZE
        if stream.readinto(view[:size]) != size:  # type: ignore[attr-defined]
            raise fail()
        hasher.update(view[:size])
    return hasher.digest()


def decrypt_stream(
    stream: IO[bytes], header: Header, offset: int, header_digest: bytes, content_key: bytes
) -> tuple[torch.Tensor, bytes]:
    """Decrypt every chunk into a new uint8 tensor; return it and the ciphertext digest.

    Every failed tag raises :class:`IntegrityError` after the partial plaintext has been
    zeroed. The caller must compare the returned digest with the signed one before using
    the plaintext.
    """
    output = torch.empty(header.payload_size, dtype=torch.uint8)
    target = output.numpy().data
    aead = AESGCM(content_key)
    hasher = new_hasher(header.hash_algorithm)
    view = memoryview(bytearray(header.chunk_size + TAG_SIZE))
    pool = ThreadPoolExecutor(max_workers=1) if header.chunk_size >= _THREADED_CHUNK else None
    stream.seek(offset)
    position = 0
    try:
        for index in range(header.chunk_count):
            length = header.chunk_length(index)
            chunk = view[: length + TAG_SIZE]
            if stream.readinto(chunk) != len(chunk):  # type: ignore[attr-defined]
                raise fail()
            hashed = pool.submit(hasher.update, chunk) if pool is not None else None
            try:
                aead.decrypt_into(
                    header.nonce(index), chunk, header_digest, target[position : position + length]
                )
            finally:
                if hashed is None:
                    hasher.update(chunk)
                else:
                    hashed.result()
            position += length
    except InvalidTag as exc:
        output.zero_()
        raise fail(exc) from exc
    except BaseException:
        output.zero_()
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    return output, hasher.digest()


def _entries(raw: dict[str, Any], data_size: int) -> list[tuple[str, str, list[int], int, int]]:
    entries = []
    for name, info in raw.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError("bad tensor entry")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in TORCH_DTYPES or not isinstance(shape, list) or len(offsets) != 2:
            raise ValueError("bad tensor entry")
        if any(type(d) is not int or d < 0 for d in [*shape, *offsets]):
            raise ValueError("bad tensor entry")
        begin, end = offsets
        numel = 1
        for dim in shape:
            numel *= dim
        if not 0 <= begin <= end <= data_size or end - begin != numel * _itemsize(dtype):
            raise ValueError("tensor out of bounds")
        entries.append((name, dtype, shape, begin, end))
    return entries


def _itemsize(dtype: str) -> int:
    return torch.empty((), dtype=TORCH_DTYPES[dtype]).element_size()


def tensors_over(payload: torch.Tensor, header: Header) -> dict[str, torch.Tensor]:
    """Build the state dict as views into ``payload`` (a decrypted safetensors file).

    The tensor names, dtypes and shapes must equal the signed tensor index; a tensor whose
    offset is not aligned for its dtype is copied out instead of viewed.
    """
    try:
        if payload.numel() < 8:
            raise ValueError("payload too short")
        (header_size,) = struct.unpack("<Q", payload[:8].numpy().tobytes())
        if header_size > payload.numel() - 8:
            raise ValueError("bad safetensors header size")
        raw = json.loads(payload[8 : 8 + header_size].numpy().tobytes())
        if not isinstance(raw, dict):
            raise ValueError("bad safetensors header")
        start = 8 + header_size
        entries = _entries(raw, payload.numel() - start)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise fail(exc) from exc
    index = sorted((e.name, e.dtype, list(e.shape)) for e in header.tensors)
    if sorted((name, dtype, shape) for name, dtype, shape, _, _ in entries) != index:
        raise fail()
    result: dict[str, torch.Tensor] = {}
    for name, dtype, shape, begin, end in entries:
        torch_dtype = TORCH_DTYPES[dtype]
        raw_bytes = payload[start + begin : start + end]
        if (start + begin) % _itemsize(dtype):
            raw_bytes = raw_bytes.clone()
        result[name] = raw_bytes.view(torch_dtype).reshape(shape)
    return result
