"""Atheris fuzz target for the sealed-bundle parser and loader (``make fuzz``).

Each input is raw bytes, a list of byte edits applied to a valid seed bundle (so the fuzzer
reaches the deep paths: signature, key unwrap, chunk decryption, payload parsing), or a
header edit (issue 16): a fuzzed string in a header text field, or the model digest of a
second bundle of the same owner ("premium"), the result left unsigned, re-signed by an
attacker, or spliced with premium's chunks or trailer. The target fails if anything other
than a :class:`VaultError` escapes, if an altered bundle ever loads or verifies (so ``licence
issue --bundle`` could never name premium's model for it), or if ``vault inspect`` prints a
control character or lets Rich interpret the header's text. Run ``python
tests/vault/fuzz_vault_bundle.py -runs=N``; extra arguments go to libFuzzer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import sys
import tempfile
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import atheris

# Import heavy dependencies before instrumentation so only EdgeShield code is instrumented.
import blake3
import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
import rich.console  # noqa: F401
import safetensors.torch  # noqa: F401
import torch
import typer  # noqa: F401

with atheris.instrument_imports(include=["edgeshield"]):
    from edgeshield.cli._render import console
    from edgeshield.cli._vault import inspect_cmd
    from edgeshield.errors import VaultError
    from edgeshield.vault import (
        BundleInfo,
        DeviceKey,
        OwnerKey,
        SealOptions,
        inspect_bundle,
        issue_licence,
        open_bundle,
        seal,
        verify_bundle,
    )
    from edgeshield.vault._format import PREFIX_SIZE, TRAILER_SIZE, signed_message

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = OwnerKey.from_raw(bytes(range(32)))
ATTACKER = OwnerKey.from_raw(bytes(range(64, 96)))
DEVICE = DeviceKey.from_raw(bytes(range(32, 64)))


def _sealed(tensors: dict[str, torch.Tensor], model_id: str) -> bytes:
    return seal(
        tensors,
        owner_key=OWNER,
        recipients=[DEVICE.public_key()],
        model_id=model_id,
        metadata={"k": "v"},
        options=SealOptions(chunk_size=32),
        clock=lambda: NOW,
    )


SEED = _sealed(
    {"w": torch.arange(24, dtype=torch.float32).reshape(4, 6), "b": torch.ones(3)}, "fuzz"
)
PREMIUM = _sealed({"premium": torch.ones(8)}, "premium")
PREMIUM_DIGEST = inspect_bundle(PREMIUM).model_digest
LICENCE, PREMIUM_LICENCE = (
    issue_licence(
        OWNER,
        device=DEVICE.public_key(),
        model_digest=inspect_bundle(bundle).model_digest,
        not_before=NOW,
        expires=NOW + timedelta(days=1),
    )
    for bundle in (SEED, PREMIUM)
)
# Each rendered candidate is written here and removed at once (libFuzzer exits without atexit).
SCRATCH = Path(tempfile.gettempdir()) / f"fuzz-vault-{os.getpid()}.esb"
UNSAFE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Starts for the fuzzed header text, so that random strings meet Rich markup and escapes.
HOSTILE = (
    "",
    "[green]signature OK[/green]",
    "x[/]",
    "[link=http://e.vil]y[/link]",
    "[bold]",
    ":warning:",
    "\x1b[2K",
    "\x1b]8;;http://e.vil\x07",
    "\x9b",
    "\u202e",
    "\udcff",
    "L" * 250,
)
console.width = 100_000  # no wrapping: the model id must appear in the output as it is


def _split(bundle: bytes) -> tuple[dict[str, object], bytes, bytes]:
    """Return a bundle's header (parsed), its chunks and its trailer."""
    (length,) = struct.unpack(">I", bundle[12:16])
    header = json.loads(bundle[PREFIX_SIZE : PREFIX_SIZE + length])
    return header, bundle[PREFIX_SIZE + length : -TRAILER_SIZE], bundle[-TRAILER_SIZE:]


def header_edit(provider: atheris.FuzzedDataProvider) -> bytes:
    """SEED with one header field changed, then unsigned, re-signed, or spliced with PREMIUM."""
    header, chunks, trailer = _split(SEED)
    text = HOSTILE[provider.ConsumeIntInRange(0, len(HOSTILE) - 1)] + provider.ConsumeUnicode(
        provider.ConsumeIntInRange(0, 300)
    )
    field = provider.ConsumeIntInRange(0, 4)
    if field == 0:
        header["model_id"] = text
    elif field == 1:
        header["metadata"] = {text: "v"}
    elif field == 2:
        header["metadata"] = {"k": text}
    elif field == 3:
        header["tensors"] = [{**header["tensors"][0], "name": text}]  # type: ignore[index]
    else:
        header["model_digest"] = PREMIUM_DIGEST
    encoded = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    prefix = SEED[:12] + struct.pack(">I", len(encoded))
    _, premium_chunks, premium_trailer = _split(PREMIUM)
    finish = provider.ConsumeIntInRange(0, 3)
    if finish == 1:  # the attacker signs the edited header with their own key
        digest = blake3.blake3(prefix + encoded).digest()
        trailer = trailer[:32] + ATTACKER.sign(signed_message(digest, trailer[:32]))
    elif finish == 2:
        trailer = premium_trailer
    elif finish == 3:
        chunks, trailer = premium_chunks, premium_trailer
    return prefix + encoded + chunks + trailer


def candidate(data: bytes) -> bytes:
    """Turn fuzzer bytes into a bundle candidate: raw bytes, byte edits or a header edit."""
    provider = atheris.FuzzedDataProvider(data)
    mode = provider.ConsumeIntInRange(0, 2)
    if mode == 0:
        return provider.ConsumeBytes(provider.remaining_bytes())
    if mode == 2:
        return header_edit(provider)
    bundle = bytearray(SEED)
    for _ in range(provider.ConsumeIntInRange(1, 4)):
        position = provider.ConsumeIntInRange(0, len(bundle) - 1)
        bundle[position] = provider.ConsumeIntInRange(0, 255)
    if provider.ConsumeBool():
        del bundle[provider.ConsumeIntInRange(0, len(bundle)) :]
    return bytes(bundle) + provider.ConsumeBytes(provider.ConsumeIntInRange(0, 8))


def _texts(info: BundleInfo) -> tuple[str, ...]:
    """The header's free text: model id, metadata, tensor names."""
    return (
        info.model_id,
        *(part for item in sorted(info.metadata.items()) for part in item),
        *(t.name for t in info.tensors),
    )


SEEN_TEXTS: set[tuple[str, ...]] = set()


def rendered_inspect(bundle: bytes) -> str:
    """What ``vault inspect`` prints for ``bundle`` (the Rich table, as a terminal sees it)."""
    SCRATCH.write_bytes(bundle)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            inspect_cmd(SCRATCH, owner_public=None)
    finally:
        SCRATCH.unlink()
    return out.getvalue()


def fuzz_one_input(data: bytes) -> None:
    """Fuzz entry point: only VaultError may escape; no altered bundle loads or verifies."""
    bundle = candidate(data)
    authentic = bundle in (SEED, PREMIUM)
    try:
        info = inspect_bundle(bundle)
    except VaultError:
        info = None
    if info is not None and _texts(info) not in SEEN_TEXTS:  # render each new header text once
        SEEN_TEXTS.add(_texts(info))
        text = rendered_inspect(bundle)
        bad = {c for c in text if c != "\n" and unicodedata.category(c) in UNSAFE}
        if bad:
            raise AssertionError(f"inspect printed control characters {sorted(bad)}")
        if info.model_id.isprintable() and info.model_id not in text.replace("\n", ""):
            raise AssertionError("inspect did not print the model id literally")
    try:
        verified = verify_bundle(bundle, owner_public_key=OWNER.public_key())
    except VaultError:
        verified = None
    if verified is not None and not authentic:
        raise AssertionError(f"an altered bundle verified (model {verified.model_digest})")
    for licence, expected in ((LICENCE, None), (PREMIUM_LICENCE, PREMIUM_DIGEST)):
        try:
            open_bundle(
                bundle,
                device_key=DEVICE,
                owner_public_key=OWNER.public_key(),
                licence=licence,
                expected_model_digest=expected,
                clock=lambda: NOW,
            )
        except VaultError:
            continue
        if not authentic:
            raise AssertionError("an altered bundle loaded")


def main() -> None:
    """Run libFuzzer on :func:`fuzz_one_input` with the command-line arguments."""
    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
