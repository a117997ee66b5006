"""Owner and device keys: PEM round trips, passphrases, fingerprints and bad key files."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from edgeshield.errors import ConfigError, StorageError
from edgeshield.vault import (
    DeviceKey,
    DevicePublicKey,
    OwnerKey,
    OwnerPublicKey,
    generate_manifest_key,
)


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


# --- key files: never destroyed, never exposed (issue 16) -----------------------------------


PRIVATE_WRITERS = ["owner", "device", "manifest"]


def write_private(kind: str, path: Path, *, overwrite: bool = False) -> None:
    """Write a private key of ``kind`` to ``path`` through the library's public surface."""
    if kind == "manifest":
        generate_manifest_key(path, path.with_name(path.name + ".pub"), overwrite=overwrite)
    else:
        (OwnerKey if kind == "owner" else DeviceKey).generate().save(path, overwrite=overwrite)


@pytest.mark.parametrize("kind", PRIVATE_WRITERS)
def test_existing_key_is_never_overwritten(tmp_path: Path, kind: str) -> None:
    """A second keygen must not destroy the key every device trusts."""
    path = tmp_path / "owner.pem"
    path.write_bytes(b"the owner key every device trusts")
    with pytest.raises(StorageError, match="already exists"):
        write_private(kind, path)
    assert path.read_bytes() == b"the owner key every device trusts"
    assert not path.with_name(path.name + ".pub").exists()  # no half pair either


@pytest.mark.parametrize("kind", PRIVATE_WRITERS)
def test_overwrite_gives_a_private_file_whatever_the_old_mode(tmp_path: Path, kind: str) -> None:
    """A world-readable old file must not lend its mode to the new private key."""
    path = tmp_path / "k.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_private(kind, path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


@pytest.mark.parametrize("kind", PRIVATE_WRITERS)
@pytest.mark.parametrize("dangling", [False, True])
def test_symlink_is_never_followed(tmp_path: Path, kind: str, dangling: bool) -> None:
    """An attacker's symlink at the key path must not redirect the private key elsewhere."""
    victim = tmp_path / "public-dir" / "readable.txt"
    victim.parent.mkdir()
    if not dangling:
        victim.write_bytes(b"victim")
    link = tmp_path / "k.pem"
    link.symlink_to(victim)
    with pytest.raises(StorageError, match="already exists"):
        write_private(kind, link)
    write_private(kind, link, overwrite=True)
    assert not link.is_symlink()
    assert stat.S_IMODE(link.stat().st_mode) == 0o600
    if dangling:
        assert not victim.exists()
    else:
        assert victim.read_bytes() == b"victim"


@pytest.mark.parametrize("kind", PRIVATE_WRITERS)
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o777])
def test_private_mode_is_0600_whatever_the_umask(tmp_path: Path, kind: str, umask: int) -> None:
    path = tmp_path / "k.pem"
    public = tmp_path / ("k.pem.pub" if kind == "manifest" else "k.pub.pem")
    previous = os.umask(umask)
    try:
        write_private(kind, path)
        if kind != "manifest":
            OwnerKey.generate().public_key().save(public)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644


def test_public_key_is_not_overwritten_either(tmp_path: Path) -> None:
    path = tmp_path / "owner.pub.pem"
    first = OwnerKey.generate().public_key()
    first.save(path)
    with pytest.raises(StorageError, match="already exists"):
        OwnerKey.generate().public_key().save(path)
    assert OwnerPublicKey.load(path) == first


def test_key_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        OwnerKey.generate().save(tmp_path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.parametrize("kind", [OwnerKey, DeviceKey])
def test_passphrase_key_uses_scrypt(tmp_path: Path, kind: type[OwnerKey] | type[DeviceKey]) -> None:
    """The thief who copies the file faces scrypt (N=2^17, r=8), not 2,048 PBKDF2 rounds."""
    pem = kind.generate().to_pem(passphrase="pw")
    der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    scrypt_oid = bytes.fromhex("06092b06010401da47040b")  # 1.3.6.1.4.1.11591.4.11
    assert scrypt_oid in der
    assert bytes.fromhex("0203020000") in der  # INTEGER 131072 = 2^17
    loaded = serialization.load_pem_private_key(pem, password=b"pw")  # any PKCS#8 loader
    assert loaded is not None
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(pem, password=b"wrong")


def test_legacy_pbkdf2_key_files_still_load(tmp_path: Path) -> None:
    key = OwnerKey.generate()
    legacy = key._key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert OwnerKey.from_pem(legacy, passphrase="pw").public_key() == key.public_key()
