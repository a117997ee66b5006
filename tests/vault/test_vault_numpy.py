"""Sealing numpy arrays (what ``vault seal`` does without torch) gives the torch bundle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from vault_helpers import fixed_clock, make_licence

from edgeshield.errors import ConfigError
from edgeshield.vault import DeviceKey, OwnerKey, inspect_bundle, model_digest, open_bundle, seal


def numpy_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "encoder.weight": rng.standard_normal((12, 9)).astype(np.float32),
        "encoder.bias": rng.standard_normal(12).astype(np.float16),
        "head.count": np.arange(5, dtype=np.int64),
        "mask": np.array([True, False, True]),
        "transposed": np.arange(6, dtype=np.uint8).reshape(2, 3).T,  # not C-contiguous
        "empty": np.zeros((0, 3), dtype=np.float64),
    }


def test_numpy_and_torch_seal_the_same_model() -> None:
    owner, device = OwnerKey.generate(), DeviceKey.generate()
    arrays = numpy_tensors()
    tensors = {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()}
    bundles = [
        seal(
            state,
            owner_key=owner,
            recipients=[device.public_key()],
            model_id="m",
            clock=fixed_clock(),
        )
        for state in (arrays, tensors)
    ]
    from_numpy, from_torch = (inspect_bundle(b) for b in bundles)
    assert from_numpy.model_digest == from_torch.model_digest
    assert from_numpy.tensors == from_torch.tensors
    loaded = open_bundle(
        bundles[0],
        device_key=device,
        owner_public_key=owner.public_key(),
        licence=make_licence(owner, device, from_numpy.model_digest),
        clock=fixed_clock(),
    )
    for name, array in arrays.items():
        assert np.array_equal(loaded[name].numpy(), array), name


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        ({"a": np.zeros(2, dtype=np.complex64)}, "unsupported dtype"),
        ({"a": np.zeros(2, dtype=">f4")}, "unsupported dtype"),  # big-endian
        ({"a": np.zeros(2), "b": torch.zeros(2)}, "all torch tensors or all numpy arrays"),
        ({"a": [0.0, 1.0]}, "torch.Tensor or numpy array"),
    ],
)
def test_arrays_seal_refuses(tensors: dict[str, object], message: str) -> None:
    owner, device = OwnerKey.generate(), DeviceKey.generate()
    with pytest.raises(ConfigError, match=message):
        seal(
            tensors,  # type: ignore[arg-type]
            owner_key=owner,
            recipients=[device.public_key()],
            model_id="m",
        )


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        ({}, "non-empty mapping"),
        ({"a": np.zeros(2, dtype=np.complex64)}, "unsupported dtype"),
        ({"a": np.zeros(2), "b": torch.zeros(2)}, "all torch tensors or all numpy arrays"),
    ],
)
def test_model_digest_refuses_what_seal_refuses(tensors: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        model_digest(tensors)  # type: ignore[arg-type]
