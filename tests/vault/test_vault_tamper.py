"""Tamper sweep: over a thousand altered bundles, each refused with IntegrityError, none loads.

Cases: a single-bit flip in every byte of the bundle, chunk swaps, duplications and drops,
truncations, extensions, header edits (with and without the attacker re-signing), signature
and trailer swaps, and recipient-list edits. ``verify`` (no device key) must refuse them too.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

import pytest
import torch
from vault_helpers import World, fixed_clock, make_licence

from edgeshield.errors import IntegrityError
from edgeshield.vault import DeviceKey, OwnerKey, SealOptions, open_bundle, seal, verify
from edgeshield.vault._format import (
    INTEGRITY_MESSAGE,
    PREFIX_SIZE,
    TAG_SIZE,
    TRAILER_SIZE,
    signed_message,
)


class Parts:
    """The bundle cut at its structural boundaries."""

    def __init__(self, bundle: bytes) -> None:
        (self.header_length,) = struct.unpack(">I", bundle[12:16])
        self.prefix = bundle[:PREFIX_SIZE]
        self.header = bundle[PREFIX_SIZE : PREFIX_SIZE + self.header_length]
        body = bundle[PREFIX_SIZE + self.header_length : -TRAILER_SIZE]
        self.trailer = bundle[-TRAILER_SIZE:]
        raw = json.loads(self.header)
        size, chunk = raw["payload_size"], raw["chunk_size"]
        self.chunks: list[bytes] = []
        position = 0
        while position < len(body):
            length = min(chunk, size) + TAG_SIZE
            self.chunks.append(body[position : position + length])
            position += length
            size -= chunk
        assert b"".join(self.chunks) == body

    def join(
        self,
        header: bytes | None = None,
        chunks: list[bytes] | None = None,
        trailer: bytes | None = None,
    ) -> bytes:
        header = self.header if header is None else header
        prefix = self.prefix[:12] + struct.pack(">I", len(header))
        return (
            prefix
            + header
            + b"".join(self.chunks if chunks is None else chunks)
            + (self.trailer if trailer is None else trailer)
        )


def edited_header(parts: Parts, edit: dict[str, object]) -> bytes:
    raw = json.loads(parts.header)
    raw.update(edit)
    return json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()


def resigned(parts: Parts, header: bytes, attacker: OwnerKey) -> bytes:
    """The attacker edits the header and signs the result with their own key."""
    import blake3

    bundle = parts.join(header=header)
    digest = blake3.blake3(bundle[: PREFIX_SIZE + len(header)]).digest()
    ciphertext_digest = parts.trailer[:32]
    signature = attacker.sign(signed_message(digest, ciphertext_digest))
    return bundle[:-TRAILER_SIZE] + ciphertext_digest + signature


def tampered(world: World) -> Iterator[tuple[str, bytes]]:
    bundle = world.bundle
    parts = Parts(bundle)
    chunks = parts.chunks
    count = len(chunks)
    assert count >= 20
    # 1. one bit flipped in every byte of the bundle, the bit chosen by the position.
    for position in range(len(bundle)):
        flipped = bytearray(bundle)
        flipped[position] ^= 1 << (position * 5 % 8)
        yield f"flip@{position}", bytes(flipped)
    # 2. chunk swaps, duplications, drops and reversal.
    for i in range(count - 1):
        swapped = list(chunks)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        yield f"swap {i}<->{i + 1}", parts.join(chunks=swapped)
    for i in range(0, count, 3):
        swapped = list(chunks)
        swapped[i], swapped[-1] = swapped[-1], swapped[i]
        yield f"swap {i}<->last", parts.join(chunks=swapped)
        yield f"drop {i}", parts.join(chunks=chunks[:i] + chunks[i + 1 :])
        yield f"duplicate {i}", parts.join(chunks=chunks[: i + 1] + chunks[i:])
    yield "reverse", parts.join(chunks=chunks[::-1])
    yield "drop final chunk", parts.join(chunks=chunks[:-1])
    # 3. truncation at many lengths, and extension.
    for length in range(0, len(bundle), 7):
        yield f"truncate to {length}", bundle[:length]
    yield "truncate one byte", bundle[:-1]
    for extra in (b"\x00", b"\x00" * 16, chunks[-1], bundle):
        yield f"append {len(extra)}", bundle + extra
    yield "extra chunk before trailer", parts.join(chunks=[*chunks, chunks[0]])
    yield "prepend", b"\x00" + bundle
    # 4. header edits (the attacker cannot re-sign with the owner's key).
    attacker = OwnerKey.generate()
    thief = DeviceKey.generate()
    raw = json.loads(parts.header)
    edits: list[dict[str, object]] = [
        {"model_id": "other-model"},
        {"licence_required": False},
        {"chunk_size": raw["chunk_size"] * 2},
        {"payload_size": raw["payload_size"] - 1},
        {"metadata": {"plant": "evil"}},
        {"created_at": raw["created_at"] + 1},
        {"model_digest": "0" * 64},
        {"owner_key_id": attacker.public_key().key_id},
        {"hash": "sha256"},
        {"nonce_prefix": "00" * 7},
        {"tensors": raw["tensors"][:-1]},
        {"bundle_version": raw["bundle_version"] + 1},
        {"format": 1},
    ]
    for number, edit in enumerate(edits):
        header = edited_header(parts, edit)
        yield f"header edit {number}", parts.join(header=header)
        yield f"header edit {number} re-signed by attacker", resigned(parts, header, attacker)
    yield "header with a space", parts.join(header=parts.header.replace(b",", b", ", 1))
    yield "prefix version 1 (downgrade)", bundle[:8] + b"\x00\x01" + bundle[10:]
    yield "prefix version 3", bundle[:8] + b"\x00\x03" + bundle[10:]
    yield "prefix hash id sha256", bundle[:10] + b"\x01" + bundle[11:]
    # 5. signature and trailer swaps with another bundle of the same owner.
    other = seal(
        {"w": torch.ones(40)},
        owner_key=world.owner,
        recipients=[world.device.public_key()],
        model_id="failure-classifier",
        options=SealOptions(chunk_size=64),
    )
    yield "signature from another bundle", bundle[:-64] + other[-64:]
    yield "trailer from another bundle", bundle[:-TRAILER_SIZE] + other[-TRAILER_SIZE:]
    yield "zero signature", bundle[:-64] + bytes(64)
    yield "other header, own chunks", Parts(other).join(chunks=chunks)
    yield "own header, other chunks", parts.join(chunks=Parts(other).chunks)
    # 6. recipient-list edits.
    recipients = raw["recipients"]
    wrapped_for_thief = json.loads(
        Parts(
            seal(
                {"w": torch.ones(1)},
                owner_key=attacker,
                recipients=[thief.public_key()],
                model_id="x",
            )
        ).header
    )["recipients"][0]
    recipient_edits: list[list[dict[str, str]]] = [
        recipients[1:],
        recipients[::-1],
        [*recipients, wrapped_for_thief],
        [{**recipients[0], "wrapped_key": recipients[1]["wrapped_key"]}, recipients[1]],
        [{**recipients[0], "ephemeral_key": recipients[1]["ephemeral_key"]}, recipients[1]],
        [{**wrapped_for_thief, "key_id": recipients[0]["key_id"]}, recipients[1]],
    ]
    for number, edit_list in enumerate(recipient_edits):
        header = edited_header(parts, {"recipients": edit_list})
        yield f"recipients edit {number}", parts.join(header=header)
        yield f"recipients edit {number} re-signed", resigned(parts, header, attacker)


def test_tamper_sweep_every_case_is_refused(world: World) -> None:
    cases = list(tampered(world))
    assert len(cases) >= 1000
    assert len({data for _, data in cases}) == len(cases), "cases must all differ"
    licence = world.licence
    owner_public = world.owner.public_key()
    loaded = []
    for name, data in cases:
        assert data != world.bundle, name
        with pytest.raises(IntegrityError) as refused:
            loaded.append(
                open_bundle(
                    data,
                    device_key=world.device,
                    owner_public_key=owner_public,
                    licence=licence,
                    clock=fixed_clock(),
                )
            )
        assert str(refused.value) == INTEGRITY_MESSAGE, name
        with pytest.raises(IntegrityError):
            verify(data, owner_public_key=owner_public)
    assert not loaded


def test_all_integrity_messages_are_identical(world: World) -> None:
    messages = set()
    for _, data in list(tampered(world))[::25]:
        try:
            open_bundle(
                data,
                device_key=world.device,
                owner_public_key=world.owner.public_key(),
                licence=world.licence,
                clock=fixed_clock(),
            )
        except IntegrityError as exc:
            messages.add(str(exc))
    assert len(messages) == 1  # callers cannot tell which check failed


def test_thief_with_own_licence_still_cannot_open(world: World) -> None:
    thief = DeviceKey.generate()
    licence = make_licence(world.owner, thief, world.model_digest)
    parts = Parts(world.bundle)
    recipients = json.loads(parts.header)["recipients"]
    header = edited_header(
        parts, {"recipients": [*recipients, {**recipients[0], "key_id": thief.public_key().key_id}]}
    )
    with pytest.raises(IntegrityError):
        open_bundle(
            parts.join(header=header),
            device_key=thief,
            owner_public_key=world.owner.public_key(),
            licence=licence,
            clock=fixed_clock(),
        )


def test_key_holder_cannot_forge_chunks_past_the_signed_digest(world: World) -> None:
    """A device that knows the content key re-encrypts a chunk validly: the digest refuses it."""
    import io

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from edgeshield.vault._format import read_raw
    from edgeshield.vault._wrap import unwrap_key

    raw = read_raw(io.BytesIO(world.bundle), len(world.bundle))
    header = raw.decode()
    recipient = header.find_recipient(world.device.public_key().key_id)
    assert recipient is not None
    aead = AESGCM(unwrap_key(recipient, world.device))
    parts = Parts(world.bundle)
    index = len(parts.chunks) - 2
    plaintext = aead.decrypt(header.nonce(index), parts.chunks[index], raw.header_digest)
    forged_plaintext = bytes(b ^ 0xFF for b in plaintext)
    chunks = list(parts.chunks)
    chunks[index] = aead.encrypt(header.nonce(index), forged_plaintext, raw.header_digest)
    forged = parts.join(chunks=chunks)
    with pytest.raises(IntegrityError):
        open_bundle(
            forged,
            device_key=world.device,
            owner_public_key=world.owner.public_key(),
            licence=world.licence,
            clock=fixed_clock(),
        )
    with pytest.raises(IntegrityError):
        verify(forged, owner_public_key=world.owner.public_key())
