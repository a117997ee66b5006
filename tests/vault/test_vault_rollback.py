"""Payload digest, expected model and rollback: an authentic bundle that is not the one asked for.

Written from the attacker's side: a sealer (or a key holder exploiting that AES-GCM is not
key-committing) whose signed ``model_digest`` is not the payload's; a device fed an older,
genuinely signed bundle; a device fed another genuine model.
"""

from __future__ import annotations

import io
import json
import struct

import blake3
import pytest
import torch
from vault_helpers import World, fixed_clock, make_licence

from edgeshield.errors import ConfigError, IntegrityError, LicenceError, RollbackError
from edgeshield.vault import SealOptions, inspect_bundle, open_bundle, seal, verify_bundle
from edgeshield.vault._format import (
    INTEGRITY_MESSAGE,
    PREFIX_SIZE,
    TRAILER_SIZE,
    read_raw,
    signed_message,
)


def _sealed(world: World, version: int, value: float = 1.0) -> bytes:
    return seal(
        {"w": torch.full((40,), value)},
        owner_key=world.owner,
        recipients=[world.device.public_key()],
        model_id="failure-classifier",
        options=SealOptions(chunk_size=64, bundle_version=version),
        clock=fixed_clock(),
    )


def _open(world: World, bundle: bytes, **kwargs: object) -> dict[str, torch.Tensor]:
    digest = inspect_bundle(bundle).model_digest
    return open_bundle(
        bundle,
        device_key=world.device,
        owner_public_key=world.owner.public_key(),
        licence=make_licence(world.owner, world.device, digest),
        clock=fixed_clock(),
        **kwargs,  # type: ignore[arg-type]
    )


def _payload(world: World, bundle: bytes) -> bytes:
    """Decrypt a bundle's chunks with the device key, as a key holder could."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from edgeshield.vault._wrap import unwrap_key

    raw = read_raw(io.BytesIO(bundle), len(bundle))
    old = raw.decode()
    recipient = old.find_recipient(world.device.public_key().key_id)
    assert recipient is not None
    aead = AESGCM(unwrap_key(recipient, world.device))
    ciphertext = bundle[raw.chunks_offset : -TRAILER_SIZE]
    plain, position = b"", 0
    for index in range(old.chunk_count):
        size = old.chunk_length(index) + 16
        piece = ciphertext[position : position + size]
        plain += aead.decrypt(old.nonce(index), piece, raw.header_digest)
        position += size
    return plain


def _owner_signed(world: World, bundle: bytes, edit: dict[str, object]) -> bytes:
    """Rebuild ``bundle`` with header fields ``edit``, re-encrypted and signed by the owner.

    The chunks' AAD is the header digest, so they are re-encrypted under the new one with the
    content key; a ``"hash"`` edit also sets the prefix's hash id. Header and ciphertext
    digests are plain BLAKE3 under every algorithm but SHA-256, which these edits never use.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from edgeshield.vault._format import HashAlgorithm
    from edgeshield.vault._wrap import unwrap_key

    plain = _payload(world, bundle)
    (length,) = struct.unpack(">I", bundle[12:16])
    header = json.loads(bundle[PREFIX_SIZE : PREFIX_SIZE + length])
    header.update(edit)
    hash_id = next(a.value for a in HashAlgorithm if a.label == header["hash"])
    assert hash_id != HashAlgorithm.SHA256.value
    body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    framed = bundle[:10] + bytes([hash_id]) + bundle[11:12] + struct.pack(">I", len(body)) + body
    old = read_raw(io.BytesIO(bundle), len(bundle)).decode()
    recipient = old.find_recipient(world.device.public_key().key_id)
    assert recipient is not None
    aead = AESGCM(unwrap_key(recipient, world.device))
    new_digest = blake3.blake3(framed).digest()
    chunks = [
        aead.encrypt(
            old.nonce(index),
            plain[index * old.chunk_size : index * old.chunk_size + old.chunk_length(index)],
            new_digest,
        )
        for index in range(old.chunk_count)
    ]
    body_ct = b"".join(chunks)
    ct_digest = blake3.blake3(body_ct).digest()
    return framed + body_ct + ct_digest + world.owner.sign(signed_message(new_digest, ct_digest))


def test_signed_digest_that_is_not_the_payloads_is_refused(world: World) -> None:
    """The owner's signature over a wrong model digest does not make it true."""
    forged = _owner_signed(world, world.bundle, {"model_digest": "ab" * 32})  # "premium"
    assert (
        verify_bundle(forged, owner_public_key=world.owner.public_key()).model_digest == "ab" * 32
    )
    with pytest.raises(IntegrityError) as refused:
        _open(world, forged)
    assert str(refused.value) == INTEGRITY_MESSAGE
    assert _open(world, world.bundle)  # the honest bundle still opens


@pytest.mark.parametrize("chunk_size", [4096, 1024 * 1024, 1024 * 1024 + 16])
def test_digest_of_another_algorithm_is_refused(world: World, chunk_size: int) -> None:
    """A signed header whose model digest is the payload's under another algorithm is refused.

    The header's ``hash`` says how the model digest was computed; the loader computes it
    that way only (``blake3-segments`` in the workers when chunks hold whole segments, in
    order otherwise), so a plain BLAKE3 digest under ``blake3-segments`` (or the reverse)
    fails, while the same forgery with matching algorithm and digest opens.
    """
    bundle = seal(
        {"a": torch.arange(300_000, dtype=torch.float32), "b": torch.ones(5)},
        owner_key=world.owner,
        recipients=[world.device.public_key()],
        model_id="failure-classifier",
        options=SealOptions(chunk_size=chunk_size),
        clock=fixed_clock(),
    )
    assert inspect_bundle(bundle).hash_algorithm.label == "blake3-segments"
    segments = inspect_bundle(bundle).model_digest
    plain = blake3.blake3(_payload(world, bundle)).hexdigest()
    assert plain != segments
    honest = _owner_signed(world, bundle, {"hash": "blake3", "model_digest": plain})
    assert torch.equal(_open(world, honest)["b"], torch.ones(5))  # the forging is faithful
    for edit in ({"model_digest": plain}, {"hash": "blake3", "model_digest": segments}):
        with pytest.raises(IntegrityError):
            _open(world, _owner_signed(world, bundle, edit))
    assert torch.equal(_open(world, bundle)["b"], torch.ones(5))


def test_older_bundle_is_refused_with_a_minimum_version(world: World) -> None:
    old, new = _sealed(world, 3, 1.0), _sealed(world, 5, 2.0)
    assert torch.equal(_open(world, new, min_bundle_version=5)["w"], torch.full((40,), 2.0))
    with pytest.raises(RollbackError, match="bundle version 3 is older than the required 5"):
        _open(world, old, min_bundle_version=5)
    assert _open(world, old, min_bundle_version=3)  # equal is fine; default 0 accepts all


def test_bundle_version_cannot_be_raised_by_the_attacker(world: World) -> None:
    old = _sealed(world, 3)
    edited = old.replace(b'"bundle_version":3', b'"bundle_version":9', 1)
    assert edited != old
    with pytest.raises(IntegrityError):
        _open(world, edited, min_bundle_version=5)


def test_another_genuine_model_is_refused_when_one_is_expected(world: World) -> None:
    other = _sealed(world, 0, 7.0)
    with pytest.raises(RollbackError, match="not the expected"):
        _open(world, other, expected_model_digest=world.model_digest)
    opened = open_bundle(
        world.bundle,
        device_key=world.device,
        owner_public_key=world.owner.public_key(),
        licence=world.licence,
        clock=fixed_clock(),
        expected_model_digest=world.model_digest,
    )
    assert set(opened) == set(world.tensors)


def test_licence_for_another_model_still_refused(world: World) -> None:
    other = _sealed(world, 0, 7.0)
    with pytest.raises(LicenceError, match="another model"):
        open_bundle(
            other,
            device_key=world.device,
            owner_public_key=world.owner.public_key(),
            licence=world.licence,
            clock=fixed_clock(),
        )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("expected_model_digest", "AB" * 32),
        ("expected_model_digest", "ab"),
        ("expected_model_digest", 5),
        ("min_bundle_version", -1),
        ("min_bundle_version", 1.5),
        ("min_bundle_version", True),
    ],
)
def test_bad_options_are_config_errors(world: World, option: str, value: object) -> None:
    with pytest.raises(ConfigError):
        _open(world, world.bundle, **{option: value})


@pytest.mark.parametrize("version", [-1, 1 << 63, 1.0, True])
def test_bad_bundle_version_is_refused_at_seal(version: object) -> None:
    with pytest.raises(ConfigError, match="bundle_version"):
        SealOptions(bundle_version=version)  # type: ignore[arg-type]
