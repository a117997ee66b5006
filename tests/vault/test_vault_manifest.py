"""OpenSSF model-signing interop: our signature verifies with model_signing's own verifier."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import model_signing
import pytest
import torch
from safetensors.torch import save_file

from edgeshield.errors import ConfigError, IntegrityError, StorageError
from edgeshield.vault import (
    OwnerKey,
    generate_manifest_key,
    sign_model_directory,
    verify_model_directory,
)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    (model / "weights").mkdir(parents=True)
    save_file({"w": torch.ones(3, 3)}, str(model / "weights" / "model.safetensors"))
    (model / "card.json").write_text('{"name": "failure-classifier"}')
    return model


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "ec.pem", tmp_path / "ec.pub.pem"
    generate_manifest_key(private, public, passphrase="pw")
    return private, public


def test_signature_verifies_with_model_signing(model_dir: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    signature = sign_model_directory(model_dir, private_key=private, passphrase="pw")
    assert signature == model_dir / "model.sig"
    # The library's own verifier, configured as its CLI does for `verify key`.
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
        model_dir, signature
    )
    verify_model_directory(model_dir, public_key=public)


def test_signature_outside_the_directory(
    tmp_path: Path, model_dir: Path, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    target = tmp_path / "model.sig"
    sign_model_directory(model_dir, private_key=private, signature=target, passphrase=b"pw")
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
        model_dir, target
    )


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_changed_directory_fails(model_dir: Path, keys: tuple[Path, Path], change: str) -> None:
    private, public = keys
    sign_model_directory(model_dir, private_key=private, passphrase="pw")
    if change == "edit":
        (model_dir / "card.json").write_text('{"name": "stolen"}')
    elif change == "add":
        (model_dir / "extra.bin").write_bytes(b"x")
    else:
        (model_dir / "card.json").unlink()
    with pytest.raises(ValueError, match="mismatch"):
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
            model_dir, model_dir / "model.sig"
        )
    with pytest.raises(IntegrityError, match="does not match"):
        verify_model_directory(model_dir, public_key=public)


def test_other_key_fails(tmp_path: Path, model_dir: Path, keys: tuple[Path, Path]) -> None:
    private, _ = keys
    sign_model_directory(model_dir, private_key=private, passphrase="pw")
    generate_manifest_key(tmp_path / "o.pem", tmp_path / "o.pub.pem")
    with pytest.raises(IntegrityError):
        verify_model_directory(model_dir, public_key=tmp_path / "o.pub.pem")


def test_bad_inputs(tmp_path: Path, model_dir: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    with pytest.raises(ConfigError, match="not a model directory"):
        sign_model_directory(tmp_path / "absent", private_key=private)
    with pytest.raises(StorageError, match="cannot read key file"):
        sign_model_directory(model_dir, private_key=tmp_path / "absent.pem")
    with pytest.raises(ConfigError, match="wrong passphrase"):
        sign_model_directory(model_dir, private_key=private, passphrase="wrong")
    ed25519 = tmp_path / "ed.pem"
    OwnerKey.generate().save(ed25519)
    with pytest.raises(ConfigError, match="not an EC P-256"):
        sign_model_directory(model_dir, private_key=ed25519)
    with pytest.raises(StorageError, match="cannot read signature"):
        verify_model_directory(model_dir, public_key=public)


def test_model_signing_cli_verifies_our_signature(model_dir: Path, keys: tuple[Path, Path]) -> None:
    """The upstream `model_signing verify key` command accepts what sign-manifest wrote."""
    private, public = keys
    signature = sign_model_directory(model_dir, private_key=private, passphrase="pw")
    command = Path(sys.executable).with_name("model_signing")
    argv = [str(command), "verify", "key", str(model_dir), "--signature", str(signature)]
    result = subprocess.run(
        [*argv, "--public_key", str(public)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verification succeeded" in result.stdout + result.stderr
    (model_dir / "card.json").write_text("{}")
    result = subprocess.run(
        [*argv, "--public_key", str(public)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
