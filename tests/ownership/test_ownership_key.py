"""Watermark keys and the HMAC-DRBG stream they expand into."""

from __future__ import annotations

import hmac as std_hmac
import os
import stat
from hashlib import sha256
from pathlib import Path

import numpy as np
import pytest

from edgeshield.errors import ConfigError, OwnershipError, StorageError
from edgeshield.ownership import KEY_BYTES, HmacDrbg, WatermarkKey


def _reference_drbg(entropy: bytes, personalization: bytes, length: int) -> bytes:
    """HMAC_DRBG of SP 800-90A written independently with the standard library."""

    def mac(k: bytes, d: bytes) -> bytes:
        return std_hmac.new(k, d, sha256).digest()

    k, v = b"\x00" * 32, b"\x01" * 32
    seed = entropy + personalization
    k = mac(k, v + b"\x00" + seed)
    v = mac(k, v)
    k = mac(k, v + b"\x01" + seed)
    v = mac(k, v)
    out = b""
    while len(out) < length:
        v = mac(k, v)
        out += v
    return out[:length]


def test_drbg_matches_an_independent_implementation() -> None:
    entropy = bytes(range(32))
    assert HmacDrbg(entropy, b"p").generate(100) == _reference_drbg(entropy, b"p", 100)


def test_drbg_streams_are_deterministic_and_domain_separated() -> None:
    key = WatermarkKey.from_bytes(b"\x11" * KEY_BYTES)
    a = key.drbg("triggers/v1").uniform(64)
    assert np.array_equal(a, key.drbg("triggers/v1").uniform(64))
    assert not np.array_equal(a, key.drbg("decoys/v1").uniform(64))
    assert ((a >= 0) & (a < 1)).all()


@pytest.mark.parametrize("length", [0, 1 << 17])
def test_drbg_rejects_bad_requests(length: int) -> None:
    with pytest.raises(ConfigError):
        HmacDrbg(b"\x00" * 32).generate(length)


def test_drbg_needs_entropy() -> None:
    with pytest.raises(ConfigError, match="entropy"):
        HmacDrbg(b"short")


@pytest.mark.parametrize("secret", [b"", b"\x00" * 31, b"\x00" * 33])
def test_key_length_is_checked(secret: bytes) -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        WatermarkKey.from_bytes(secret)


def test_key_save_load_round_trip_owner_only(tmp_path: Path) -> None:
    key = WatermarkKey.generate()
    path = key.save(tmp_path / "wm.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = WatermarkKey.load(path)
    assert again == key
    assert again.to_bytes() == key.to_bytes()
    assert key.to_bytes().hex() not in repr(key)
    assert key.key_id in repr(key)
    assert len(key.key_id) == 16
    assert len(key.digest()) == 32
    assert key.digest() != key.to_bytes()
    assert WatermarkKey.generate() != key


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"format": "other", "key": "00"}',
        '{"format": "edgeshield.watermark-key/1", "key": "abcd"}',
        '{"format": "edgeshield.watermark-key/1", "key": "zz"}',
        "[]",
    ],
)
def test_malformed_key_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(text)
    with pytest.raises(OwnershipError, match="not an EdgeShield watermark key"):
        WatermarkKey.load(path)


def test_missing_key_file_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        WatermarkKey.load(tmp_path / "absent.key")
