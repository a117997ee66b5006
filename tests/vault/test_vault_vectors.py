"""Known-answer vectors: a tiny bundle and licence with fixed keys and nonces, byte for byte.

If the format drifts (field order, nonce layout, key wrapping, signature context...), these
tests fail. Regenerate deliberately, with a format version bump, by running this file:
``python tests/vault/test_vault_vectors.py``. Format 2 (issue 16) added the signed
``bundle_version``; ``vectors/tiny_bundle_v1.esb`` is the last format-1 vector, kept to show
that the bump is deliberate: it is refused, not misread. The vector is a BLAKE3 bundle and
stays one: ``blake3-segments`` (hash id 3, the default since) is pinned by the literal
digests below and by a bare-primitive re-implementation of its recipe.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch

from edgeshield.errors import IntegrityError
from edgeshield.vault import (
    DeviceKey,
    HashAlgorithm,
    LedgerRef,
    OwnerKey,
    SealOptions,
    inspect_bundle,
    issue_licence,
    model_digest,
    open_bundle,
    read_licence,
    seal,
    verify_bundle,
)

VECTORS = Path(__file__).parent / "vectors"
SPEC = (
    json.loads((VECTORS / "tiny_bundle.json").read_text())
    if (VECTORS / "tiny_bundle.json").exists()
    else None
)
OWNER = OwnerKey.from_raw(
    bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
)
DEVICES = [
    DeviceKey.from_raw(
        bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    ),
    DeviceKey.from_raw(
        bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    ),
]
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def counter_entropy(seed: bytes) -> Callable[[int], bytes]:
    """Deterministic stand-in for os.urandom: SHA-256(seed | counter), truncated."""
    counter = iter(range(1 << 30))

    def draw(size: int) -> bytes:
        assert size <= 32
        return hashlib.sha256(seed + next(counter).to_bytes(4, "big")).digest()[:size]

    return draw


def tensors() -> dict[str, torch.Tensor]:
    return {
        "bias": torch.tensor([0.5, -1.25, 3.0], dtype=torch.float32),
        "weight": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8,
        "steps": torch.tensor([7], dtype=torch.int64),
    }


def build_bundle() -> bytes:
    return seal(
        tensors(),
        owner_key=OWNER,
        recipients=[d.public_key() for d in DEVICES],
        model_id="kat-tiny",
        metadata={"purpose": "known-answer vector"},
        options=SealOptions(chunk_size=48, hash_algorithm=HashAlgorithm.BLAKE3, bundle_version=3),
        clock=lambda: CREATED,
        _entropy=counter_entropy(b"edgeshield-vault-kat-v1"),
    )


def build_licence(model_digest: str) -> str:
    return issue_licence(
        OWNER,
        device=DEVICES[0].public_key(),
        model_digest=model_digest,
        not_before=datetime(2026, 1, 1, tzinfo=UTC),
        expires=datetime(2027, 1, 1, tzinfo=UTC),
        query_quota=5000,
        ledger=LedgerRef(contract_address="0x" + "5a" * 20, licence_id=1),
    )


def test_bundle_is_byte_for_byte_stable() -> None:
    assert SPEC is not None
    expected = (VECTORS / "tiny_bundle.esb").read_bytes()
    assert hashlib.sha256(expected).hexdigest() == SPEC["bundle_sha256"]
    assert build_bundle() == expected


def test_vector_fields() -> None:
    assert SPEC is not None
    bundle = (VECTORS / "tiny_bundle.esb").read_bytes()
    assert bundle[:16].hex() == SPEC["prefix_hex"]
    header = bundle[16 : 16 + int.from_bytes(bundle[12:16], "big")]
    assert header.decode("ascii") == SPEC["header"]
    assert OWNER.public_key().raw().hex() == SPEC["owner_public_key"]
    assert [d.public_key().raw().hex() for d in DEVICES] == SPEC["device_public_keys"]


def test_model_digest_is_the_vectors_header_digest() -> None:
    """The model digest computed without sealing is the one the sealed header records."""
    assert SPEC is not None
    blake = HashAlgorithm.BLAKE3
    assert model_digest(tensors(), hash_algorithm=blake) == SPEC["model_digest"]
    numpy = {name: t.numpy() for name, t in tensors().items()}
    assert model_digest(numpy, hash_algorithm=blake) == SPEC["model_digest"]
    sha = model_digest(tensors(), hash_algorithm=HashAlgorithm.SHA256)
    assert sha != SPEC["model_digest"]
    assert len(sha) == 64


def big_tensors() -> dict[str, torch.Tensor]:
    """A 2.5 MiB state dict: three segments, the last one short."""
    return {
        "a": torch.arange(655_360, dtype=torch.float32),
        "b": torch.arange(7, dtype=torch.int64),
    }


# blake3-segments known answers (computed once; the recipe test below re-derives them).
SEGMENTS_TINY = "8a2931322fb31b5ac4c128138fdd2039e1c7a60f843dc4d8942f0a27c88c5ae3"
SEGMENTS_BIG = "e1bde18e9fc26c5c7fce1ceddf32e43f40c21ecb881571755bb8d30f97eb84d3"


def segments_bundle(chunk_size: int) -> bytes:
    """``big_tensors`` sealed with the defaults (blake3-segments), no licence needed."""
    return seal(
        big_tensors(),
        owner_key=OWNER,
        recipients=[DEVICES[0].public_key()],
        model_id="kat-segments",
        options=SealOptions(chunk_size=chunk_size, licence_required=False),
        clock=lambda: CREATED,
        _entropy=counter_entropy(b"edgeshield-vault-kat-segments"),
    )


def segments_by_recipe(payload: bytes) -> str:
    """docs/bundle-format.md's blake3-segments recipe with the bare blake3 package."""
    import blake3

    size, segment = len(payload), 1024 * 1024
    outer = b"edgeshield/vault/model-digest/blake3-segments/v1\n"
    outer += size.to_bytes(8, "big") + segment.to_bytes(8, "big")
    for start in range(0, size, segment):
        outer += blake3.blake3(payload[start : start + segment]).digest()
    return str(blake3.blake3(outer).hexdigest())


def test_segments_digest_known_answers() -> None:
    """The default model digest is blake3-segments, pinned for one- and three-segment models."""
    assert model_digest(tensors()) == SEGMENTS_TINY
    assert model_digest(tensors(), hash_algorithm=HashAlgorithm.BLAKE3_SEGMENTS) == SEGMENTS_TINY
    assert model_digest(big_tensors()) == SEGMENTS_BIG
    numpy = {name: t.numpy() for name, t in big_tensors().items()}
    assert model_digest(numpy) == SEGMENTS_BIG
    # the recipe over the payload a bundle encrypts (the tiny vector's is one segment)
    assert segments_by_recipe(open_by_recipe(segments_bundle(48))[1]) == SEGMENTS_BIG
    tiny = open_by_recipe((VECTORS / "tiny_bundle.esb").read_bytes())[1]
    assert segments_by_recipe(tiny) == SEGMENTS_TINY


def test_one_byte_in_a_middle_segment_changes_the_digest() -> None:
    payload = bytearray(open_by_recipe(segments_bundle(48))[1])
    assert 2 * 1024 * 1024 < len(payload) < 3 * 1024 * 1024
    changed = big_tensors()
    changed["a"][300_000] += 1  # byte 1.14 MiB into the payload: the middle segment
    assert model_digest(changed) != SEGMENTS_BIG
    payload[1024 * 1024 + 12_345] ^= 1
    assert segments_by_recipe(bytes(payload)) != SEGMENTS_BIG


def test_vector_opens_with_its_keys() -> None:
    assert SPEC is not None
    bundle = VECTORS / "tiny_bundle.esb"
    verify_bundle(bundle, owner_public_key=OWNER.public_key())
    loaded = open_bundle(
        bundle,
        device_key=DEVICES[0],
        owner_public_key=OWNER.public_key(),
        licence=SPEC["licence"],
        clock=lambda: CREATED,
    )
    for name, tensor in tensors().items():
        assert torch.equal(loaded[name], tensor)


def test_licence_is_byte_for_byte_stable() -> None:
    assert SPEC is not None
    assert build_licence(SPEC["model_digest"]) == SPEC["licence"]
    licence = read_licence(SPEC["licence"], owner_public_key=OWNER.public_key())
    assert licence.query_quota == 5000


def open_by_recipe(bundle: bytes) -> tuple[dict[str, object], bytes]:
    """Re-implement docs/bundle-format.md with bare primitives: the header and the payload."""
    import blake3
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    header_length = int.from_bytes(bundle[12:16], "big")
    header_end = 16 + header_length
    header = json.loads(bundle[16:header_end])
    header_digest = blake3.blake3(bundle[:header_end]).digest()
    ciphertext = bundle[header_end:-96]
    ciphertext_digest, signature = bundle[-96:-64], bundle[-64:]
    assert blake3.blake3(ciphertext).digest() == ciphertext_digest
    owner = ed25519.Ed25519PublicKey.from_public_bytes(OWNER.public_key().raw())
    owner.verify(signature, b"edgeshield/vault/v1/bundle\n" + header_digest + ciphertext_digest)
    device = x25519.X25519PrivateKey.from_private_bytes(
        bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    )
    device_raw = bytes.fromhex(SPEC["device_public_keys"][0]) if SPEC else b""
    key_id = hashlib.sha256(device_raw).hexdigest()[:32]
    entry = next(r for r in header["recipients"] if r["key_id"] == key_id)
    ephemeral = bytes.fromhex(entry["ephemeral_key"])
    shared = device.exchange(x25519.X25519PublicKey.from_public_bytes(ephemeral))
    kek = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral + device_raw,
        info=b"edgeshield/vault/v1/key-wrap",
    ).derive(shared)
    content_key = AESGCM(kek).decrypt(
        bytes(12), bytes.fromhex(entry["wrapped_key"]), key_id.encode()
    )
    chunk, count = header["chunk_size"], header["chunk_count"]
    plaintext = b""
    for index in range(count):
        piece = ciphertext[index * (chunk + 16) : (index + 1) * (chunk + 16)]
        nonce = (
            bytes.fromhex(header["nonce_prefix"])
            + index.to_bytes(4, "big")
            + bytes([index == count - 1])
        )
        plaintext += AESGCM(content_key).decrypt(nonce, piece, header_digest)
    assert len(plaintext) == header["payload_size"]
    assert header["format"] == 2
    return header, plaintext


def test_vector_decrypts_by_the_documented_recipe() -> None:
    """The bare-primitive recipe opens the vector (a BLAKE3 bundle)."""
    import blake3
    from safetensors.torch import load

    header, plaintext = open_by_recipe((VECTORS / "tiny_bundle.esb").read_bytes())
    assert header["bundle_version"] == 3
    assert header["hash"] == "blake3"
    assert blake3.blake3(plaintext).hexdigest() == header["model_digest"]
    loaded = load(plaintext)
    for name, tensor in tensors().items():
        assert torch.equal(loaded[name], tensor)


@pytest.mark.parametrize("chunk_size", [48, 1024 * 1024, 1024 * 1024 + 48])
def test_segments_bundle_decrypts_by_the_documented_recipe(chunk_size: int) -> None:
    """A blake3-segments bundle (hash id 3) opens by the same recipe and digest recipe."""
    from safetensors.torch import load

    bundle = segments_bundle(chunk_size)
    assert bundle[10] == 3
    header, plaintext = open_by_recipe(bundle)
    assert header["hash"] == "blake3-segments"
    assert header["model_digest"] == SEGMENTS_BIG == segments_by_recipe(plaintext)
    loaded = load(plaintext)
    opened = open_bundle(bundle, device_key=DEVICES[0], owner_public_key=OWNER.public_key())
    for name, tensor in big_tensors().items():
        assert torch.equal(loaded[name], tensor)
        assert torch.equal(opened[name], tensor)


def test_format_1_vector_is_refused() -> None:
    """The version bump is deliberate: a format-1 bundle is refused, never half-understood."""
    old = (VECTORS / "tiny_bundle_v1.esb").read_bytes()
    assert old[8:10] == b"\x00\x01"
    with pytest.raises(IntegrityError):
        verify_bundle(old, owner_public_key=OWNER.public_key())
    with pytest.raises(IntegrityError):
        inspect_bundle(old)


def regenerate() -> None:
    VECTORS.mkdir(exist_ok=True)
    bundle = build_bundle()
    header = bundle[16 : 16 + int.from_bytes(bundle[12:16], "big")].decode("ascii")
    digest = json.loads(header)["model_digest"]
    (VECTORS / "tiny_bundle.esb").write_bytes(bundle)
    spec = {
        "description": "EdgeShield vault format v2 known-answer vector; see test_vault_vectors.py",
        "owner_private_key": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "owner_public_key": OWNER.public_key().raw().hex(),
        "device_public_keys": [d.public_key().raw().hex() for d in DEVICES],
        "entropy": "sha256(b'edgeshield-vault-kat-v1' | counter u32 BE)[:size], in draw order",
        "bundle_sha256": hashlib.sha256(bundle).hexdigest(),
        "prefix_hex": bundle[:16].hex(),
        "header": header,
        "model_digest": digest,
        "licence": build_licence(digest),
    }
    (VECTORS / "tiny_bundle.json").write_text(json.dumps(spec, indent=2) + "\n")


if __name__ == "__main__":
    regenerate()
    sys.exit(0)
