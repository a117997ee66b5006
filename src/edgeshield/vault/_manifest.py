"""OpenSSF model-signing interop: sign a plain model directory so ``model_signing`` verifies it.

Sealed bundles are EdgeShield's own format; plain exports (a directory of safetensors and
cards) should still be verifiable by the ecosystem's tool. This module drives the
``model-signing`` library (OpenSSF, PyPI ``model-signing``) with a local elliptic-curve key:
no network and no Sigstore, a DSSE-in-Sigstore-bundle signature over a manifest of
per-file SHA-256 digests. ``model_signing`` only accepts NIST P-256/384/521 keys, hence a
separate ECDSA P-256 key rather than the owner's Ed25519 key.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edgeshield._files import read_small_file
from edgeshield.errors import ConfigError, IntegrityError, StorageError
from edgeshield.vault._keys import _passphrase, private_pem, refuse_existing, write_key_file

DEFAULT_SIGNATURE_NAME = "model.sig"
_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def generate_manifest_key(
    private_path: str | os.PathLike[str],
    public_path: str | os.PathLike[str],
    *,
    passphrase: bytes | str | None = None,
    overwrite: bool = False,
) -> None:
    """Write a new ECDSA P-256 key pair (PKCS#8 and SubjectPublicKeyInfo PEM).

    Parameters
    ----------
    private_path, public_path : path
        Where to write the private key (mode 0600) and the public key (mode 0644).
    passphrase : bytes, str or None
        Encrypt the private key with this passphrase (scrypt, as for the vault keys).
    overwrite : bool
        Replace existing files; without it an existing path is refused and nothing is written.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    pem = private_pem(key, passphrase)
    refuse_existing([Path(private_path), Path(public_path)], overwrite=overwrite)
    write_key_file(private_path, pem, private=True, overwrite=overwrite)
    write_key_file(
        public_path,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        private=False,
        overwrite=overwrite,
    )


def _model_signing() -> Any:
    """Import ``model_signing`` lazily (it pulls in sigstore) and untyped."""
    return importlib.import_module("model_signing")


def _check_ec_private_key(path: Path, passphrase: bytes | None) -> None:
    try:
        key = serialization.load_pem_private_key(read_small_file(path), password=passphrase)
    except OSError as exc:
        raise StorageError(f"cannot read key file {path}: {exc.strerror}") from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"cannot load {path}: wrong passphrase or not a PEM key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        raise ConfigError(f"{path} is not an EC P-256/384/521 key (model-signing needs one)")


def _check_ec_public_key(path: Path) -> None:
    try:
        key = serialization.load_pem_public_key(read_small_file(path))
    except OSError as exc:
        raise StorageError(f"cannot read key file {path}: {exc.strerror}") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"cannot load {path}: not a PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
        raise ConfigError(f"{path} is not an EC P-256/384/521 public key (model-signing needs one)")


def _model_dir(model_dir: str | os.PathLike[str]) -> Path:
    path = Path(model_dir)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a model directory")
    return path


def _signature_path(model: Path, signature: str | os.PathLike[str] | None) -> Path:
    return model / DEFAULT_SIGNATURE_NAME if signature is None else Path(signature)


def _ignored(model: Path, signature: Path) -> list[Path]:
    try:
        return [signature.resolve().relative_to(model.resolve())]
    except ValueError:
        return []


def sign_model_directory(
    model_dir: str | os.PathLike[str],
    *,
    private_key: str | os.PathLike[str],
    signature: str | os.PathLike[str] | None = None,
    passphrase: bytes | str | None = None,
) -> Path:
    """Sign every file of ``model_dir`` in the OpenSSF model-signing format.

    Parameters
    ----------
    model_dir : path
        The plain model directory.
    private_key : path
        An EC (P-256/384/521) private key in PEM, e.g. from :func:`generate_manifest_key`.
    signature : path or None
        Where to write the signature; defaults to ``model_dir/model.sig`` (excluded from
        the signed manifest).
    passphrase : bytes, str or None
        Passphrase of the private key, if it is encrypted.

    Returns
    -------
    Path
        The signature file, verifiable with ``model_signing verify key``.
    """
    model_signing = _model_signing()
    model = _model_dir(model_dir)
    target = _signature_path(model, signature)
    key_path = Path(private_key)
    secret = _passphrase(passphrase)
    _check_ec_private_key(key_path, secret)
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=_ignored(model, target))
    config = model_signing.signing.Config().use_elliptic_key_signer(
        private_key=key_path, password=secret
    )
    try:
        config.set_hashing_config(hashing).sign(model, target)
    except OSError as exc:
        raise StorageError(f"cannot sign {model}: {exc}") from exc
    return target


def verify_model_directory(
    model_dir: str | os.PathLike[str],
    *,
    public_key: str | os.PathLike[str],
    signature: str | os.PathLike[str] | None = None,
) -> None:
    """Verify an OpenSSF model-signing signature of ``model_dir`` with ``model_signing``.

    Raises :class:`IntegrityError` if any file was changed, added or removed, or the
    signature is not by ``public_key``.
    """
    model_signing = _model_signing()
    model = _model_dir(model_dir)
    target = _signature_path(model, signature)
    if not target.is_file():
        raise StorageError(f"cannot read signature {target}")
    _check_ec_public_key(Path(public_key))
    try:
        config = model_signing.verifying.Config().use_elliptic_key_verifier(
            public_key=Path(public_key)
        )
    except (ValueError, TypeError, AttributeError, OSError) as exc:
        raise ConfigError(f"cannot use {public_key} as an EC public key") from exc
    try:
        config.verify(model, target)
    except (ValueError, KeyError) as exc:
        raise IntegrityError(f"model directory does not match its signature: {exc}") from exc
