"""Owner and device keys: PEM round trips, passphrases, fingerprints and bad key files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edgeshield.errors import ConfigError, StorageError
from edgeshield.vault import DeviceKey, DevicePublicKey, OwnerKey, OwnerPublicKey


@pytest.mark.parametrize("kind", [OwnerKey, DeviceKey])
@pytest.mark.parametrize("passphrase", [None, "correct horse", b"bytes pass"])
def test_private_key_round_trip(
    tmp_path: Path, kind: type[OwnerKey] | type[DeviceKey], passphrase: str | bytes | None
) -> None:
    key = kind.generate()
    path = tmp_path / "key.pem"
    key.save(path, passphrase=passphrase)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_bytes()
    assert (b"ENCRYPTED" in text) == (passphrase is not None)
    loaded = kind.load(path, passphrase=passphrase)
    assert loaded.public_key() == key.public_key()
    assert "<private>" in repr(loaded)


@pytest.mark.parametrize(
    ("kind", "public_kind"), [(OwnerKey, OwnerPublicKey), (DeviceKey, DevicePublicKey)]
)
def test_public_key_round_trip(
    tmp_path: Path,
    kind: type[OwnerKey] | type[DeviceKey],
    public_kind: type[OwnerPublicKey] | type[DevicePublicKey],
) -> None:
    public = kind.generate().public_key()
    path = tmp_path / "key.pub.pem"
    public.save(path)
    loaded = public_kind.load(path)
    assert loaded == public
    assert hash(loaded) == hash(public)
    assert public_kind.from_raw(public.raw()) == public
    assert len(public.key_id) == 32
    assert public.key_id in repr(public)


def test_key_ids_differ_between_keys() -> None:
    assert OwnerKey.generate().public_key().key_id != OwnerKey.generate().public_key().key_id


def test_owner_signature_verifies() -> None:
    key = OwnerKey.generate()
    signature = key.sign(b"message")
    assert key.public_key().verify_signature(signature, b"message")
    assert not key.public_key().verify_signature(signature, b"other")


def test_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    OwnerKey.generate().save(path, passphrase="right")
    with pytest.raises(ConfigError, match="wrong passphrase"):
        OwnerKey.load(path, passphrase="wrong")


def test_missing_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    DeviceKey.generate().save(path, passphrase="secret")
    with pytest.raises(ConfigError, match="encrypted: give its passphrase"):
        DeviceKey.load(path)


def test_unneeded_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    DeviceKey.generate().save(path)
    with pytest.raises(ConfigError, match="not encrypted"):
        DeviceKey.load(path, passphrase="secret")


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(ConfigError, match="must not be empty"):
        OwnerKey.generate().to_pem(passphrase="")


def test_key_of_the_wrong_kind(tmp_path: Path) -> None:
    owner_path, device_path = tmp_path / "o.pem", tmp_path / "d.pem"
    OwnerKey.generate().save(owner_path)
    DeviceKey.generate().public_key().save(device_path)
    with pytest.raises(ConfigError, match="X25519 private key"):
        DeviceKey.load(owner_path)
    with pytest.raises(ConfigError, match="Ed25519 public key"):
        OwnerPublicKey.load(device_path)


@pytest.mark.parametrize("kind", [OwnerKey, DeviceKey, OwnerPublicKey, DevicePublicKey])
def test_not_a_pem_file(tmp_path: Path, kind: type[OwnerKey]) -> None:
    path = tmp_path / "junk.pem"
    path.write_bytes(b"-----BEGIN NOTHING-----\n")
    with pytest.raises(ConfigError):
        kind.load(path)


@pytest.mark.parametrize("kind", [OwnerKey, DevicePublicKey])
def test_missing_key_file(tmp_path: Path, kind: type[OwnerKey]) -> None:
    with pytest.raises(StorageError, match="cannot read key file"):
        kind.load(tmp_path / "absent.pem")


def test_unwritable_key_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot write key file"):
        OwnerKey.generate().save(tmp_path / "no" / "k.pem")


@pytest.mark.parametrize("kind", [OwnerKey, DeviceKey, OwnerPublicKey, DevicePublicKey])
def test_bad_raw_bytes(kind: type[OwnerKey]) -> None:
    with pytest.raises(ConfigError):
        kind.from_raw(b"short")
