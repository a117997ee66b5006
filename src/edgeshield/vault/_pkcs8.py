"""Passphrase-encrypted PKCS#8 with scrypt: standard PEM any OpenSSL-based loader reads.

Why: pyca's ``BestAvailableEncryption`` stretches a passphrase with PBKDF2-HMAC-SHA256 at
2,048 iterations, which lets a thief who copied a key file try about a thousand passphrases
per second on one core. pyca cannot be told to use more for PKCS#8, so this module writes the
``EncryptedPrivateKeyInfo`` itself (RFC 5958): PBES2 (RFC 8018) with the memory-hard scrypt
KDF (Percival and Josefsson, RFC 7914, 2016) at OWASP's recommended N = 2^17, r = 8, p = 1
(128 MiB per guess), and AES-256-CBC. The result is an ordinary ``ENCRYPTED PRIVATE KEY``
PEM: ``load_pem_private_key`` and ``model_signing`` read it unchanged, and older key files
(PBKDF2) still load. ``benchmarks/vault_kdf.py`` measures the guesses per second.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_PBES2 = "1.2.840.113549.1.5.13"
_SCRYPT = "1.3.6.1.4.1.11591.4.11"
_AES256_CBC = "2.16.840.1.101.3.4.1.42"


@dataclass(frozen=True, kw_only=True)
class ScryptParams:
    """scrypt cost parameters (RFC 7914): CPU/memory cost ``n``, block size ``r``, ``p``."""

    n: int = 1 << 17
    r: int = 8
    p: int = 1


KEY_FILE_KDF = ScryptParams()
"""The parameters every passphrase-protected key file is written with (OWASP 2023)."""


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _sequence(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def _octets(data: bytes) -> bytes:
    return _tlv(0x04, data)


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        encoded = [arc & 0x7F]
        arc >>= 7
        while arc:
            encoded.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(encoded))
    return _tlv(0x06, bytes(body))


def encrypt_pkcs8(
    private_key_info: bytes, passphrase: bytes, *, params: ScryptParams = KEY_FILE_KDF
) -> bytes:
    """Encrypt an unencrypted PKCS#8 DER key; return ``ENCRYPTED PRIVATE KEY`` PEM bytes.

    Parameters
    ----------
    private_key_info : bytes
        The DER ``PrivateKeyInfo`` (``PrivateFormat.PKCS8`` with ``NoEncryption``).
    passphrase : bytes
        The non-empty passphrase.
    params : ScryptParams
        scrypt cost; the default is :data:`KEY_FILE_KDF`.
    """
    salt, iv = os.urandom(16), os.urandom(16)
    key = Scrypt(salt=salt, length=32, n=params.n, r=params.r, p=params.p).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    plaintext = padder.update(private_key_info) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    kdf = _sequence(
        _oid(_SCRYPT),
        _sequence(
            _octets(salt),
            _integer(params.n),
            _integer(params.r),
            _integer(params.p),
            _integer(32),
        ),
    )
    algorithm = _sequence(_oid(_PBES2), _sequence(kdf, _sequence(_oid(_AES256_CBC), _octets(iv))))
    der = _sequence(algorithm, _octets(ciphertext))
    text = base64.b64encode(der).decode("ascii")
    lines = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return (
        f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{lines}\n-----END ENCRYPTED PRIVATE KEY-----\n"
    ).encode("ascii")
