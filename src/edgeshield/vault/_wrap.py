"""Wrap the per-bundle content key for each recipient device (X25519 + HKDF + AES-GCM).

An ECIES-style construction: for each device the sealer draws a one-time X25519 key,
derives a key-encryption key with HKDF-SHA256 from the shared secret (salted with both
public keys, so the derived key is bound to this exact pair), and encrypts the content key
with AES-256-GCM. Only the holder of the device private key recomputes the shared secret.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edgeshield.vault._format import Recipient
from edgeshield.vault._keys import DeviceKey, DevicePublicKey

WRAP_INFO = b"edgeshield/vault/v1/key-wrap"
_ZERO_NONCE = bytes(12)  # each key-encryption key is used exactly once


def _kek(shared: bytes, ephemeral: bytes, device: bytes) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + device, info=WRAP_INFO
    ).derive(shared)
    return AESGCM(derived)


def wrap_key(
    content_key: bytes, device: DevicePublicKey, entropy: Callable[[int], bytes]
) -> Recipient:
    """Encrypt ``content_key`` so that only ``device``'s private key can recover it."""
    ephemeral = x25519.X25519PrivateKey.from_private_bytes(entropy(32))
    ephemeral_raw = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    device_raw = device.raw()
    shared = ephemeral.exchange(device.pyca())
    wrapped = _kek(shared, ephemeral_raw, device_raw).encrypt(
        _ZERO_NONCE, content_key, device.key_id.encode("ascii")
    )
    return Recipient(key_id=device.key_id, ephemeral_key=ephemeral_raw, wrapped_key=wrapped)


def unwrap_key(recipient: Recipient, device: DeviceKey) -> bytes:
    """Recover the content key; raise ``ValueError`` if the entry does not decrypt."""
    public = device.public_key()
    shared = device.exchange(recipient.ephemeral_key)
    try:
        return _kek(shared, recipient.ephemeral_key, public.raw()).decrypt(
            _ZERO_NONCE, recipient.wrapped_key, public.key_id.encode("ascii")
        )
    except InvalidTag as exc:
        raise ValueError("wrapped key does not decrypt") from exc
