"""Hypothesis properties: any state dict round-trips; any edit of a bundle is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vault_helpers import World, fixed_clock

from edgeshield.errors import IntegrityError, VaultError
from edgeshield.vault import (
    DeviceKey,
    HashAlgorithm,
    OwnerKey,
    SealOptions,
    inspect_bundle,
    open_bundle,
    seal,
    verify_bundle,
)

OWNER = OwnerKey.from_raw(bytes(range(32)))
DEVICE = DeviceKey.from_raw(bytes(range(32, 64)))
DTYPES = [
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.float64,
    torch.int8,
    torch.int32,
    torch.int64,
    torch.uint8,
    torch.bool,
]


def raw_bytes(tensor: torch.Tensor) -> list[int]:
    return tensor.reshape(-1).view(torch.uint8).tolist()


@st.composite
def state_dicts(draw: st.DrawFn) -> dict[str, torch.Tensor]:
    name = st.text(min_size=1, max_size=12).filter(lambda n: n != "__metadata__")  # reserved
    names = draw(st.lists(name, min_size=1, max_size=5, unique=True))
    result = {}
    for name in names:
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(st.lists(st.integers(0, 6), max_size=3))
        seed = draw(st.integers(0, 2**32 - 1))
        values = np.random.default_rng(seed).integers(
            0,
            256,
            size=int(np.prod(shape)) * torch.empty((), dtype=dtype).element_size(),
            dtype=np.uint8,
        )
        flat = torch.from_numpy(values) if values.size else torch.zeros(0, dtype=torch.uint8)
        result[name] = flat.view(dtype).reshape(shape).clone()
    return result


@settings(max_examples=60, deadline=None, database=None)
@given(
    tensors=state_dicts(),
    chunk_size=st.integers(16, 300),
    algorithm=st.sampled_from(list(HashAlgorithm)),
)
def test_any_state_dict_round_trips(
    tensors: dict[str, torch.Tensor], chunk_size: int, algorithm: HashAlgorithm
) -> None:
    bundle = seal(
        tensors,
        owner_key=OWNER,
        recipients=[DEVICE.public_key()],
        model_id="m",
        options=SealOptions(
            chunk_size=chunk_size, hash_algorithm=algorithm, licence_required=False
        ),
    )
    verify_bundle(bundle, owner_public_key=OWNER.public_key())
    assert inspect_bundle(bundle).chunk_size == chunk_size
    loaded = open_bundle(bundle, device_key=DEVICE, owner_public_key=OWNER.public_key())
    assert set(loaded) == set(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype
        assert loaded[name].shape == tensor.shape
        # compare bytes: NaN payloads in random float bits compare unequal to themselves
        assert raw_bytes(loaded[name]) == raw_bytes(tensor)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_edit_is_refused(world: World, data: st.DataObject) -> None:
    bundle = bytearray(world.bundle)
    edits = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(bundle) - 1), st.integers(1, 255)), min_size=1, max_size=4
        )
    )
    for position, xor in edits:
        bundle[position] ^= xor
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(bundle))))
    altered = bytes(bundle if cut is None else bundle[:cut])
    if altered == world.bundle:
        return
    with pytest.raises(IntegrityError):
        open_bundle(
            altered,
            device_key=world.device,
            owner_public_key=world.owner.public_key(),
            licence=world.licence,
            clock=fixed_clock(),
        )


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.binary(max_size=600))
def test_random_bytes_raise_only_vault_errors(data: bytes) -> None:
    """Fallback fuzz of the parser (atheris runs the same target in ``make fuzz``)."""
    for call in (
        lambda: inspect_bundle(data),
        lambda: verify_bundle(data, owner_public_key=OWNER.public_key()),
        lambda: open_bundle(data, device_key=DEVICE, owner_public_key=OWNER.public_key()),
    ):
        with pytest.raises(VaultError):
            call()
