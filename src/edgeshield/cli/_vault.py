"""``edgeshield vault``: keys, sealing, opening, inspecting and licensing model bundles."""

from __future__ import annotations

import enum
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from safetensors import SafetensorError

from edgeshield._files import read_small_file
from edgeshield.cli._outputs import check_writable, replace_file
from edgeshield.cli._render import JsonOption, console, print_json
from edgeshield.cli._render import visible as _clean
from edgeshield.errors import ConfigError, StorageError
from edgeshield.vault import (
    BundleInfo,
    DeviceKey,
    DevicePublicKey,
    HashAlgorithm,
    LedgerRef,
    OwnerKey,
    OwnerPublicKey,
    SealOptions,
    generate_manifest_key,
    inspect_bundle,
    issue_licence,
    open_bundle,
    read_licence,
    refuse_existing,
    seal_file,
    sign_model_directory,
    verify_bundle,
    verify_model_directory,
    write_key_file,
)

__all__ = ["app"]

app = typer.Typer(
    help="Seal models for edge devices: keys, bundles, licences, manifests.",
    no_args_is_help=True,
)
licence_app = typer.Typer(help="Issue and read licence tokens.", no_args_is_help=True)
app.add_typer(licence_app, name="licence")


def _why(exc: OSError | UnicodeDecodeError) -> str:
    """A file error in a few words."""
    return "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc.strerror)


class KeyKind(enum.Enum):
    """Which key pair ``keygen`` writes."""

    OWNER = "owner"
    DEVICE = "device"
    MANIFEST = "manifest"


class HashName(enum.Enum):
    """Digest names accepted by ``seal --hash``."""

    BLAKE3_SEGMENTS = "blake3-segments"
    BLAKE3 = "blake3"
    SHA256 = "sha256"


PassphraseEnv = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env",
        help="Name of an environment variable holding the private key's passphrase.",
    ),
]
OwnerPublicOption = Annotated[
    Path, typer.Option("--owner-public", help="The owner's public key (PEM).")
]


def _say(text: str) -> None:
    """Print one line literally: no Rich markup, emoji codes or highlighting."""
    console.print(_clean(text), markup=False, emoji=False, highlight=False)


def _passphrase(env: str | None) -> str | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        raise ConfigError(f"environment variable {env} is not set or empty")
    return value


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` staged, then rename it into place (replacing a symlink, never following)."""
    try:
        replace_file(path, text.encode())
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}") from exc


@app.command(name="keygen")
def keygen_cmd(
    out: Annotated[
        Path, typer.Option("--out", help="Path prefix: writes PREFIX.pem and PREFIX.pub.pem.")
    ],
    kind: Annotated[KeyKind, typer.Option("--kind", help="Key pair to generate.")] = (
        KeyKind.DEVICE
    ),
    passphrase_env: PassphraseEnv = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing key files (the old key is lost).")
    ] = False,
) -> None:
    """Generate an owner (Ed25519), device (X25519) or manifest (ECDSA P-256) key pair.

    Refuses to overwrite an existing file unless --force; the private key is created with
    mode 0600 (never through a symlink) whatever the umask.
    """
    private, public = Path(f"{out}.pem"), Path(f"{out}.pub.pem")
    passphrase = _passphrase(passphrase_env)
    if kind is KeyKind.MANIFEST:
        generate_manifest_key(private, public, passphrase=passphrase, overwrite=force)
        _say(f"wrote {private} and {public} (ECDSA P-256, for sign-manifest)")
        return
    key: OwnerKey | DeviceKey = (
        OwnerKey.generate() if kind is KeyKind.OWNER else DeviceKey.generate()
    )
    pem = key.to_pem(passphrase=passphrase)
    refuse_existing([private, public], overwrite=force)
    write_key_file(private, pem, private=True, overwrite=force)
    key.public_key().save(public, overwrite=force)
    _say(f"wrote {private} and {public} (key id {key.public_key().key_id})")


def _load_model(path: Path) -> dict[str, Any]:
    """Read a safetensors file as numpy arrays (no torch), or with torch for BF16/F8 tensors."""
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except TypeError:  # a dtype numpy lacks
        from safetensors.torch import load_file as load_torch

        return load_torch(str(path))


def _parse_metadata(items: list[str]) -> dict[str, str]:
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--meta expects KEY=VALUE, got {item!r}")
        if name in result:  # the last one silently won
            raise ConfigError(f"--meta {name!r} is given twice")
        result[name] = value
    return result


@app.command(name="seal")
def seal_cmd(
    model: Annotated[Path, typer.Argument(help="A .safetensors file to seal.")],
    out: Annotated[Path, typer.Option("--out", help="Bundle file to write.")],
    owner_key: Annotated[Path, typer.Option("--owner-key", help="Owner private key (PEM).")],
    recipient: Annotated[
        list[Path],
        typer.Option("--recipient", help="Device public key (PEM); repeat for more devices."),
    ],
    model_id: Annotated[str, typer.Option("--model-id", help="Name of the model.")],
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Plaintext bytes per encrypted chunk.")
    ] = 4 * 1024 * 1024,
    hash_name: Annotated[HashName, typer.Option("--hash", help="Digest algorithm.")] = (
        HashName.BLAKE3_SEGMENTS
    ),
    no_licence: Annotated[
        bool, typer.Option("--no-licence", help="Let devices open it without a licence.")
    ] = False,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Public KEY=VALUE metadata; repeatable.")
    ] = None,
    passphrase_env: PassphraseEnv = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle.")] = False,
) -> None:
    """Seal a safetensors model for one or more devices."""
    check_writable(out, force=force, what="bundle")
    if not model.is_file():
        raise StorageError(f"cannot read model {model}: no such file")
    try:
        tensors = _load_model(model)
    except (SafetensorError, ValueError, OSError) as exc:
        raise ConfigError(f"{model} is not a readable safetensors file: {exc}") from exc
    owner = OwnerKey.load(owner_key, passphrase=_passphrase(passphrase_env))
    options = SealOptions(
        chunk_size=chunk_size,
        hash_algorithm=HashAlgorithm[hash_name.name],
        licence_required=not no_licence,
    )
    path = seal_file(
        out,
        tensors,
        owner_key=owner,
        recipients=[DevicePublicKey.load(p) for p in recipient],
        model_id=model_id,
        metadata=_parse_metadata(meta or []),
        options=options,
    )
    info = verify_bundle(path, owner_public_key=owner.public_key())
    _say(f"sealed {len(tensors)} tensors for {len(recipient)} device(s) into {path}")
    _say(f"model digest {info.model_digest}")


@app.command(name="open")
def open_cmd(
    bundle: Annotated[Path, typer.Argument(help="The sealed bundle.")],
    out: Annotated[
        Path, typer.Option("--out", help="Plain .safetensors file to write (unprotected!).")
    ],
    device_key: Annotated[Path, typer.Option("--device-key", help="Device private key (PEM).")],
    owner_public: OwnerPublicOption,
    licence: Annotated[
        Path | None, typer.Option("--licence", help="File holding the licence token.")
    ] = None,
    passphrase_env: PassphraseEnv = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
) -> None:
    """Verify, decrypt and write a bundle as a plain safetensors file."""
    check_writable(out, force=force, what="output")
    token = None
    if licence is not None:
        try:
            token = read_small_file(licence).decode().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"cannot read licence {licence}: {_why(exc)}") from exc
    tensors = open_bundle(
        bundle,
        device_key=DeviceKey.load(device_key, passphrase=_passphrase(passphrase_env)),
        owner_public_key=OwnerPublicKey.load(owner_public),
        licence=token,
    )
    from safetensors.torch import save

    try:
        replace_file(out, save(tensors))
    except (OSError, SafetensorError, UnicodeError) as exc:  # a name safetensors cannot encode
        raise StorageError(f"cannot write {out}: {_clean(exc)}") from exc
    _say(f"opened {len(tensors)} tensors into {out} (plaintext: no licence protects it now)")


@app.command(name="inspect")
def inspect_cmd(
    bundle: Annotated[Path, typer.Argument(help="The sealed bundle.")],
    owner_public: Annotated[
        Path | None,
        typer.Option("--owner-public", help="Verify the bundle with this owner key first."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a bundle's public header; verified only with --owner-public.

    Every value is printed literally (no markup, control characters made visible): without
    --owner-public anyone may have written it. ``--json`` says which (``verified``).
    """
    if owner_public is None:
        info = inspect_bundle(bundle)
        title = "bundle header (not verified: pass --owner-public or use `verify`)"
    else:
        info = verify_bundle(bundle, owner_public_key=OwnerPublicKey.load(owner_public))
        title = "bundle header (signature and ciphertext digest verified)"
    if as_json:
        print_json(_header_json(bundle, info, verified=owner_public is not None))
        return
    table = Table(title=title, show_header=False)
    table.add_column("field")
    table.add_column("value")
    rows = {
        "file": str(bundle),
        "format": str(info.format_version),
        "bundle version": str(info.bundle_version),
        "model id": info.model_id,
        "model digest": info.model_digest,
        "owner key id": info.owner_key_id,
        "created": info.created_at.isoformat(),
        "hash": info.hash_algorithm.label,
        "payload": f"{info.payload_size} bytes in {info.chunk_count} chunks of {info.chunk_size}",
        "licence required": "yes" if info.licence_required else "no",
        "recipients": "\n".join(info.recipient_key_ids),
        "tensors": "\n".join(_clean(f"{t.name} {t.dtype} {list(t.shape)}") for t in info.tensors),
    }
    rows.update({f"meta {_clean(k)}": v for k, v in info.metadata.items()})
    for name, value in rows.items():
        cell = value if name in {"recipients", "tensors"} else _clean(value)
        table.add_row(Text(name), Text(cell))
    console.print(table)


def _header_json(bundle: Path, info: BundleInfo, *, verified: bool) -> dict[str, Any]:
    """A bundle's header for ``--json`` (JSON escapes control characters by itself)."""
    return {
        "file": str(bundle),
        "verified": verified,
        "format_version": info.format_version,
        "bundle_version": info.bundle_version,
        "model_id": info.model_id,
        "model_digest": info.model_digest,
        "owner_key_id": info.owner_key_id,
        "created_at": info.created_at.isoformat(),
        "hash": info.hash_algorithm.label,
        "payload_size": info.payload_size,
        "chunk_count": info.chunk_count,
        "chunk_size": info.chunk_size,
        "licence_required": info.licence_required,
        "recipients": list(info.recipient_key_ids),
        "tensors": [
            {"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in info.tensors
        ],
        "metadata": dict(info.metadata),
    }


@app.command(name="verify")
def verify_cmd(
    bundle: Annotated[Path, typer.Argument(help="The sealed bundle.")],
    owner_public: OwnerPublicOption,
    as_json: JsonOption = False,
) -> None:
    """Check a bundle's signature and ciphertext digest (no device key needed)."""
    info = verify_bundle(bundle, owner_public_key=OwnerPublicKey.load(owner_public))
    if as_json:
        print_json(_header_json(bundle, info, verified=True))
        return
    _say(f"{bundle}: signature and ciphertext digest OK (model {info.model_id!r})")


def _aware(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"not an ISO 8601 time: {_clean(text)!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@licence_app.command(name="issue")
def licence_issue_cmd(
    owner_key: Annotated[Path, typer.Option("--owner-key", help="Owner private key (PEM).")],
    device_public: Annotated[
        Path, typer.Option("--device-public", help="The device's public key (PEM).")
    ],
    out: Annotated[Path, typer.Option("--out", help="File to write the token to.")],
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle", help="Take the model digest from this bundle (verified with the key)."
        ),
    ] = None,
    model_digest: Annotated[
        str | None,
        typer.Option("--model-digest", help="Model digest (64 hex digits, as `vault inspect`)."),
    ] = None,
    valid_from: Annotated[
        str | None, typer.Option("--valid-from", help="ISO 8601 start (default: now, UTC).")
    ] = None,
    days: Annotated[float, typer.Option("--days", help="Validity in days.")] = 30.0,
    quota: Annotated[
        int | None, typer.Option("--quota", help="Query quota (default: unlimited).")
    ] = None,
    contract_address: Annotated[
        str | None, typer.Option("--contract-address", help="Ledger licence contract.")
    ] = None,
    ledger_licence_id: Annotated[
        int | None, typer.Option("--ledger-licence-id", help="Licence id in that contract.")
    ] = None,
    passphrase_env: PassphraseEnv = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
) -> None:
    """Issue a licence letting one device open one model for a time window."""
    check_writable(out, force=force, what="licence")
    if (bundle is None) == (model_digest is None):
        raise ConfigError("give exactly one of --bundle and --model-digest")
    if (contract_address is None) != (ledger_licence_id is None):
        raise ConfigError("give both --contract-address and --ledger-licence-id, or neither")
    if not (math.isfinite(days) and days > 0):
        raise ConfigError("--days must be positive and finite")
    start = datetime.now(UTC) if valid_from is None else _aware(valid_from)
    try:
        expires = start + timedelta(days=days)
    except OverflowError as exc:
        raise ConfigError("--valid-from plus --days is past the year 9999") from exc
    ledger = None
    if contract_address is not None and ledger_licence_id is not None:
        ledger = LedgerRef(contract_address=contract_address, licence_id=ledger_licence_id)
    owner = OwnerKey.load(owner_key, passphrase=_passphrase(passphrase_env))
    # The header is the device's to edit: only a bundle this owner signed names a model.
    digest = (
        verify_bundle(bundle, owner_public_key=owner.public_key()).model_digest
        if bundle is not None
        else str(model_digest)
    )
    token = issue_licence(
        owner,
        device=DevicePublicKey.load(device_public),
        model_digest=digest,
        not_before=start,
        expires=expires,
        query_quota=quota,
        ledger=ledger,
    )
    _write_text(out, token + "\n")
    _say(f"wrote licence to {out} ({days:g} days)")
    _say(f"model digest {digest}")


@licence_app.command(name="show")
def licence_show_cmd(
    token_file: Annotated[Path, typer.Argument(help="File holding the licence token.")],
    owner_public: OwnerPublicOption,
    as_json: JsonOption = False,
) -> None:
    """Check a licence's signature and show its terms."""
    try:
        token = read_small_file(token_file).decode().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"cannot read licence {token_file}: {_why(exc)}") from exc
    licence = read_licence(token, owner_public_key=OwnerPublicKey.load(owner_public))
    if as_json:
        ledger = licence.ledger
        print_json(
            {
                "device_key_id": licence.device_key_id,
                "model_digest": licence.model_digest,
                "not_before": licence.not_before.isoformat(),
                "expires": licence.expires.isoformat(),
                "query_quota": licence.query_quota,
                "ledger": None
                if ledger is None
                else {"contract_address": ledger.contract_address, "licence_id": ledger.licence_id},
            }
        )
        return
    _say(f"device key id  {licence.device_key_id}")
    _say(f"model digest   {licence.model_digest}")
    _say(f"valid          {licence.not_before.isoformat()} .. {licence.expires.isoformat()}")
    _say(f"query quota    {'unlimited' if licence.query_quota is None else licence.query_quota}")
    if licence.ledger is not None:
        _say(f"ledger         {licence.ledger.contract_address} #{licence.ledger.licence_id}")


@app.command(name="sign-manifest")
def sign_manifest_cmd(
    model_dir: Annotated[Path, typer.Argument(help="Plain model directory to sign.")],
    key: Annotated[Path, typer.Option("--key", help="EC private key (keygen --kind manifest).")],
    signature: Annotated[
        Path | None, typer.Option("--signature", help="Signature file (default DIR/model.sig).")
    ] = None,
    passphrase_env: PassphraseEnv = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing signature.")] = False,
) -> None:
    """Write an OpenSSF model-signing signature (verify with `model_signing verify key`)."""
    target = signature or model_dir / "model.sig"
    if target.exists() and not force:
        raise ConfigError(f"signature {target} exists; pass --force to replace it")
    path = sign_model_directory(
        model_dir, private_key=key, signature=signature, passphrase=_passphrase(passphrase_env)
    )
    _say(f"wrote {path}")


@app.command(name="verify-manifest")
def verify_manifest_cmd(
    model_dir: Annotated[Path, typer.Argument(help="Plain model directory to check.")],
    public_key: Annotated[Path, typer.Option("--public-key", help="EC public key (PEM).")],
    signature: Annotated[
        Path | None, typer.Option("--signature", help="Signature file (default DIR/model.sig).")
    ] = None,
) -> None:
    """Verify an OpenSSF model-signing signature of a model directory."""
    verify_model_directory(model_dir, public_key=public_key, signature=signature)
    _say(f"{model_dir}: every file matches the signed manifest")
