"""Atheris fuzz target for the sealed-bundle parser and loader (``make fuzz``).

Each input is either raw bytes or a list of edits applied to a valid seed bundle (so the
fuzzer reaches the deep paths: signature, key unwrap, chunk decryption, payload parsing).
The target fails if anything other than a :class:`VaultError` escapes, or if an altered
bundle ever loads. Run ``python tests/vault/fuzz_vault_bundle.py -runs=N``; extra arguments
go to libFuzzer.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime, timedelta

import atheris

# Import heavy dependencies before instrumentation so only EdgeShield code is instrumented.
import blake3  # noqa: F401
import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
import safetensors.torch  # noqa: F401
import torch

with atheris.instrument_imports(include=["edgeshield"]):
    from edgeshield.errors import VaultError
    from edgeshield.vault import (
        DeviceKey,
        OwnerKey,
        SealOptions,
        inspect_bundle,
        issue_licence,
        open_bundle,
        seal,
        verify,
    )

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = OwnerKey.from_raw(bytes(range(32)))
DEVICE = DeviceKey.from_raw(bytes(range(32, 64)))
SEED = seal(
    {"w": torch.arange(24, dtype=torch.float32).reshape(4, 6), "b": torch.ones(3)},
    owner_key=OWNER,
    recipients=[DEVICE.public_key()],
    model_id="fuzz",
    options=SealOptions(chunk_size=32),
    clock=lambda: NOW,
)
LICENCE = issue_licence(
    OWNER,
    device=DEVICE.public_key(),
    model_digest=inspect_bundle(SEED).model_digest,
    not_before=NOW,
    expires=NOW + timedelta(days=1),
)


def candidate(data: bytes) -> bytes:
    """Turn fuzzer bytes into a bundle candidate: raw bytes or edits of the seed."""
    provider = atheris.FuzzedDataProvider(data)
    if provider.ConsumeBool():
        return provider.ConsumeBytes(provider.remaining_bytes())
    bundle = bytearray(SEED)
    for _ in range(provider.ConsumeIntInRange(1, 4)):
        position = provider.ConsumeIntInRange(0, len(bundle) - 1)
        bundle[position] = provider.ConsumeIntInRange(0, 255)
    if provider.ConsumeBool():
        del bundle[provider.ConsumeIntInRange(0, len(bundle)) :]
    return bytes(bundle) + provider.ConsumeBytes(provider.ConsumeIntInRange(0, 8))


def fuzz_one_input(data: bytes) -> None:
    """Fuzz entry point: only VaultError may escape, and no altered bundle may load."""
    bundle = candidate(data)
    for call in (
        lambda: inspect_bundle(bundle),
        lambda: verify(bundle, owner_public_key=OWNER.public_key()),
    ):
        with contextlib.suppress(VaultError):
            call()
    try:
        open_bundle(
            bundle,
            device_key=DEVICE,
            owner_public_key=OWNER.public_key(),
            licence=LICENCE,
            clock=lambda: NOW,
        )
    except VaultError:
        return
    if bundle != SEED:
        raise AssertionError("an altered bundle loaded")


def main() -> None:
    """Run libFuzzer on :func:`fuzz_one_input` with the command-line arguments."""
    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
