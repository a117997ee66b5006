"""Helpers shared by the vault tests: fixed clock, sample tensors, a sealed world."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import torch

from edgeshield.vault import (
    DeviceKey,
    OwnerKey,
    SealOptions,
    inspect_bundle,
    issue_licence,
    seal,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def fixed_clock(when: datetime = NOW) -> Callable[[], datetime]:
    """Return a clock frozen at ``when``."""
    return lambda: when


def sample_tensors() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return {
        "encoder.weight": torch.randn(12, 9, generator=generator),
        "encoder.bias": torch.randn(12, generator=generator).to(torch.float16),
        "head.weight": torch.randn(2, 12, generator=generator).to(torch.bfloat16),
        "head.count": torch.arange(5, dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 3),
    }


@dataclass(frozen=True)
class World:
    owner: OwnerKey
    device: DeviceKey
    other_device: DeviceKey
    tensors: dict[str, torch.Tensor]
    bundle: bytes
    licence: str
    model_digest: str


def make_licence(
    world_owner: OwnerKey, device: DeviceKey, model_digest: str, **overrides: object
) -> str:
    arguments: dict[str, object] = {
        "device": device.public_key(),
        "model_digest": model_digest,
        "not_before": NOW - timedelta(days=1),
        "expires": NOW + timedelta(days=30),
        "query_quota": 1000,
    }
    arguments.update(overrides)
    return issue_licence(world_owner, **arguments)  # type: ignore[arg-type]


def build_world() -> World:
    owner = OwnerKey.generate()
    device = DeviceKey.generate()
    other_device = DeviceKey.generate()
    tensors = sample_tensors()
    bundle = seal(
        tensors,
        owner_key=owner,
        recipients=[device.public_key(), other_device.public_key()],
        model_id="failure-classifier",
        metadata={"plant": "all"},
        options=SealOptions(chunk_size=32),
        clock=fixed_clock(),
    )
    digest = inspect_bundle(bundle).model_digest
    return World(
        owner=owner,
        device=device,
        other_device=other_device,
        tensors=tensors,
        bundle=bundle,
        licence=make_licence(owner, device, digest),
        model_digest=digest,
    )
