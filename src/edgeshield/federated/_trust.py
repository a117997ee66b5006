"""What a plant trusts: the vendor's Ed25519 signature on the Flower App, and its own policy.

Flower 1.42 can make a SuperNode refuse unsigned apps (``--trusted-entities``), but only for
apps whose signature the Flower platform hub attached: a Flower App Bundle (FAB) submitted
from a directory reaches the SuperNode with no verification record, and the SuperNode refuses
every such run. EdgeShield therefore signs the FAB itself and verifies it on the plant, with
pyca/cryptography's Ed25519 (no home-made primitive):

* :func:`sign_app` builds the FAB exactly as ``flwr run`` will (Flower's own builder, fixed
  dates), hashes every entry (SHA-256) into a manifest and writes the vendor's signature over
  it to ``edgeshield-signature.json`` inside the app directory;
* :func:`verify_fab` recomputes the manifest from the FAB the plant received and checks the
  signature under the vendor's public key. Every failure (no signature, another key, one
  changed, added or removed file) raises the same :class:`~edgeshield.errors.UntrustedAppError`.

:class:`PlantPolicy` is the rest of the plant's side: the vendor key plus the minimum privacy
the plant accepts (SecAgg+ required, a record-level DP noise floor and clip ceiling), checked
on every training instruction before any row is read.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import tomllib
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flwr.app import Message
from flwr.app.message_type import MessageType
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key

from edgeshield.errors import ConfigError, PlantPolicyError, UntrustedAppError, redact_urls

__all__ = [
    "SIGNATURE_FILE",
    "PlantPolicy",
    "generate_vendor_key",
    "load_vendor_key",
    "redact_urls",
    "sign_app",
    "verify_fab",
]

#: The file in the app directory (and so in the FAB) that carries the vendor's signature.
SIGNATURE_FILE = "edgeshield-signature.json"
_DOMAIN = b"edgeshield flower app signature v1\n"
_UNTRUSTED = "the Flower App is not signed by the vendor's key"


def generate_vendor_key(
    directory: str | Path, name: str = "vendor", *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Create the vendor's Ed25519 app-signing pair: ``name.key`` (PKCS#8 PEM, 0600), ``name.pub``.

    The public key is in OpenSSH format; every plant gets a copy (``--vendor-key``). An
    existing key file is refused unless ``overwrite`` (a second run must not destroy the key
    every plant trusts); files are written as :func:`~edgeshield.vault.write_key_file` does.

    Raises
    ------
    StorageError
        A key file exists (without ``overwrite``) or cannot be written.
    """
    from edgeshield.vault import refuse_existing, write_key_file

    out = Path(directory)
    private, public = out / f"{name}.key", out / f"{name}.pub"
    refuse_existing([private, public], overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ssh = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    write_key_file(private, pem, private=True, overwrite=overwrite)
    write_key_file(public, ssh, private=False, overwrite=overwrite)
    return private, public


def load_vendor_key(path: str | Path) -> Ed25519PublicKey:
    """Load the vendor's Ed25519 public key (OpenSSH or PEM)."""
    try:
        data = Path(path).read_bytes()
        key = (
            serialization.load_pem_public_key(data)
            if data.startswith(b"-----")
            else serialization.load_ssh_public_key(data)
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the vendor's public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"the vendor's key {path} is not an Ed25519 public key")
    return key


def _load_private(path: str | Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the vendor's signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"the signing key {path} is not an Ed25519 private key")
    return key


def _manifest(fab: bytes) -> bytes:
    """``path sha256`` per FAB entry, sorted; the signature file and ``.info/`` left out."""
    with zipfile.ZipFile(io.BytesIO(fab)) as archive:
        lines = sorted(
            f"{name} {hashlib.sha256(archive.read(name)).hexdigest()}"
            for name in archive.namelist()
            if name != SIGNATURE_FILE and not name.startswith(".info/")
        )
    return _DOMAIN + "\n".join(lines).encode()


def _require_app_dir(app: Path) -> None:
    """Refuse what is not a Flower App directory before the old signature is removed."""
    if not app.is_dir():
        raise ConfigError(f"{app} is not a directory (a Flower App from `fl app --out`)")
    project = app / "pyproject.toml"
    try:
        tomllib.loads(project.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{app} is not a Flower App: it has no pyproject.toml") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{project} is not readable TOML: {exc}") from exc


def sign_app(app_dir: str | Path, signing_key: str | Path) -> Path:
    """Sign the Flower App in ``app_dir`` with the vendor's Ed25519 key (see module docstring).

    Sign after the last change to the directory: any later edit voids the signature.
    """
    from flwr.cli.build import build_fab_from_disk

    app = Path(app_dir)
    key = _load_private(signing_key)
    _require_app_dir(app)
    (app / SIGNATURE_FILE).unlink(missing_ok=True)
    with warnings.catch_warnings():  # Flower's builder uses a pathspec API deprecated upstream
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            fab = build_fab_from_disk(app)
        except ValueError as exc:  # e.g. pyproject.toml excluded by the app's .gitignore
            raise ConfigError(f"cannot build a Flower App from {app}: {exc}") from exc
    manifest = _manifest(fab)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    record = {
        "version": 1,
        "signer": public.decode(),
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "signature": base64.b64encode(key.sign(manifest)).decode(),
    }
    out = app / SIGNATURE_FILE
    out.write_text(json.dumps(record, indent=2))
    return out


def verify_fab(fab: bytes, vendor_key: Ed25519PublicKey) -> str:
    """Return the FAB's manifest digest when the vendor signed it; else raise.

    Raises
    ------
    UntrustedAppError
        For every failure alike: not a zip, no signature file, a malformed one, another
        signer, or any entry added, removed or changed after signing.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(fab)) as archive:
            record = json.loads(archive.read(SIGNATURE_FILE))
        manifest = _manifest(fab)
        vendor_key.verify(base64.b64decode(record["signature"], validate=True), manifest)
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError, InvalidSignature) as exc:
        raise UntrustedAppError(_UNTRUSTED) from exc
    return hashlib.sha256(manifest).hexdigest()


@dataclass(frozen=True, kw_only=True)
class PlantPolicy:
    """The least a plant accepts from the server, checked on every training instruction.

    Parameters
    ----------
    vendor_key
        The vendor's Ed25519 public key; only FABs it signed run on this plant.
    require_secagg
        Refuse plain (unmasked) training rounds: the plant's update leaves only under SecAgg+.
    min_noise_multiplier
        Refuse training without record-level DP-SGD of at least this noise multiplier.
    max_clip
        Refuse record-level DP-SGD with a per-sample clip norm above this (with a fixed noise
        multiplier, a larger clip is not weaker per se, but it is the parameter the plant's
        DP officer signed off on; ``None`` accepts any).
    """

    vendor_key: Ed25519PublicKey
    require_secagg: bool = True
    min_noise_multiplier: float | None = None
    max_clip: float | None = None

    def __post_init__(self) -> None:
        if self.min_noise_multiplier is not None and not self.min_noise_multiplier > 0:
            raise ConfigError("the plant's noise multiplier floor must be positive")
        if self.max_clip is not None and not self.max_clip > 0:
            raise ConfigError("the plant's clip ceiling must be positive")

    def check(self, message: Message) -> None:
        """Raise :class:`PlantPolicyError` when ``message`` asks for less than the policy."""
        if message.metadata.message_type != MessageType.TRAIN:
            return
        configs = message.content.config_records
        staged = RECORD_KEY_CONFIGS in configs and Key.STAGE in configs[RECORD_KEY_CONFIGS]
        if self.require_secagg and not staged:
            raise PlantPolicyError(
                "plant policy: SecAgg+ is required, the server sent a plain training round"
            )
        fit = configs.get("fitins.config")
        if fit is None:  # a SecAgg+ key-exchange stage: no training, no data read
            return
        noise = float(fit.get("dp_noise", 0.0))  # type: ignore[arg-type]
        clip = float(fit.get("dp_clip", math.inf))  # type: ignore[arg-type]
        if self.min_noise_multiplier is not None and not noise >= self.min_noise_multiplier:
            raise PlantPolicyError(
                f"plant policy: record-level DP noise multiplier >= {self.min_noise_multiplier}"
                f" is required, the server asked for {noise}"
            )
        if self.min_noise_multiplier is not None and bool(fit.get("dp_reproducible", False)):
            raise PlantPolicyError(
                "plant policy: fresh DP noise is required, the server asked for noise drawn from"
                " the run's seed (whoever knows the seed can subtract it)"
            )
        if self.max_clip is not None and (noise <= 0 or not clip <= self.max_clip):
            raise PlantPolicyError(
                f"plant policy: record-level DP with clip <= {self.max_clip} is required, the"
                f" server asked for {'no DP' if noise <= 0 else clip}"
            )
