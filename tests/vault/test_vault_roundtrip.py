"""Seal and open: round trips, device binding, verify, inspect and bad arguments."""

from __future__ import annotations

from pathlib import Path

import blake3
import pytest
import torch
from vault_helpers import NOW, World, fixed_clock, make_licence, sample_tensors

from edgeshield.errors import (
    ConfigError,
    IntegrityError,
    KeyMismatchError,
    LicenceError,
    StorageError,
)
from edgeshield.vault import (
    DeviceKey,
    HashAlgorithm,
    OwnerKey,
    SealOptions,
    inspect_bundle,
    open_bundle,
    seal,
    seal_file,
    verify_bundle,
)
from edgeshield.vault._format import new_hasher


def assert_same(loaded: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert set(loaded) == set(expected)
    for name, tensor in expected.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert loaded[name].shape == tensor.shape, name
        assert torch.equal(loaded[name], tensor), name


def test_round_trip_bytes(world: World) -> None:
    loaded = open_bundle(
        world.bundle,
        device_key=world.device,
        owner_public_key=world.owner.public_key(),
        licence=world.licence,
        clock=fixed_clock(),
    )
    assert_same(loaded, world.tensors)


def test_every_recipient_opens_with_its_own_licence(world: World) -> None:
    licence = make_licence(world.owner, world.other_device, world.model_digest)
    loaded = open_bundle(
        world.bundle,
        device_key=world.other_device,
        owner_public_key=world.owner.public_key(),
        licence=licence,
        clock=fixed_clock(),
    )
    assert_same(loaded, world.tensors)


@pytest.mark.parametrize("algorithm", list(HashAlgorithm))
@pytest.mark.parametrize("chunk_size", [16, 100, 4096])
def test_round_trip_file(tmp_path: Path, algorithm: HashAlgorithm, chunk_size: int) -> None:
    owner, device = OwnerKey.generate(), DeviceKey.generate()
    tensors = sample_tensors()
    path = seal_file(
        tmp_path / "model.esb",
        tensors,
        owner_key=owner,
        recipients=[device.public_key()],
        model_id="m",
        options=SealOptions(
            chunk_size=chunk_size, hash_algorithm=algorithm, licence_required=False
        ),
    )
    assert path == tmp_path / "model.esb"
    assert not (tmp_path / "model.esb.partial").exists()
    verify_bundle(path, owner_public_key=owner.public_key())
    verified = verify_bundle(str(path), owner_public_key=owner.public_key())
    assert verified == inspect_bundle(path)  # the same header, now verified
    loaded = open_bundle(path, device_key=device, owner_public_key=owner.public_key())
    assert_same(loaded, tensors)
    assert inspect_bundle(path).hash_algorithm is algorithm


def test_each_tensor_gets_its_own_tight_storage(world: World) -> None:
    loaded = open_bundle(
        world.bundle,
        device_key=world.device,
        owner_public_key=world.owner.public_key(),
        licence=world.licence,
        clock=fixed_clock(),
    )
    for name, tensor in loaded.items():
        # decrypted straight into per-tensor storage: no shared payload buffer kept alive
        assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size(), name
        assert tensor.is_contiguous()
    loaded["encoder.weight"].add_(1.0)  # writable like any state dict
    assert torch.equal(loaded["encoder.weight"], world.tensors["encoder.weight"] + 1.0)


def test_inspect_reports_public_header(world: World) -> None:
    info = inspect_bundle(world.bundle)
    assert info.model_id == "failure-classifier"
    assert info.owner_key_id == world.owner.public_key().key_id
    assert info.recipient_key_ids == (
        world.device.public_key().key_id,
        world.other_device.public_key().key_id,
    )
    assert info.licence_required is True
    assert info.metadata == {"plant": "all"}
    assert info.created_at == NOW
    assert info.chunk_size == 32
    assert info.chunk_count == -(-info.payload_size // 32) > 10
    assert {t.name: (t.dtype, t.shape) for t in info.tensors} == {
        "empty": ("F32", (0, 3)),
        "encoder.bias": ("F16", (12,)),
        "encoder.weight": ("F32", (12, 9)),
        "head.count": ("I64", (5,)),
        "head.weight": ("BF16", (2, 12)),
        "mask": ("BOOL", (3,)),
    }


def test_wrong_device_key_is_key_mismatch(world: World) -> None:
    stranger = DeviceKey.generate()
    licence = make_licence(world.owner, stranger, world.model_digest)
    with pytest.raises(KeyMismatchError, match="not sealed for this device"):
        open_bundle(
            world.bundle,
            device_key=stranger,
            owner_public_key=world.owner.public_key(),
            licence=licence,
            clock=fixed_clock(),
        )


def test_wrong_owner_key_is_integrity_error(world: World) -> None:
    with pytest.raises(IntegrityError):
        open_bundle(
            world.bundle,
            device_key=world.device,
            owner_public_key=OwnerKey.generate().public_key(),
            licence=world.licence,
            clock=fixed_clock(),
        )
    with pytest.raises(IntegrityError):
        verify_bundle(world.bundle, owner_public_key=OwnerKey.generate().public_key())


def test_missing_licence_is_refused(world: World) -> None:
    with pytest.raises(LicenceError, match="requires a licence"):
        open_bundle(
            world.bundle, device_key=world.device, owner_public_key=world.owner.public_key()
        )


def test_licence_is_checked_even_when_not_required() -> None:
    owner, device = OwnerKey.generate(), DeviceKey.generate()
    bundle = seal(
        sample_tensors(),
        owner_key=owner,
        recipients=[device.public_key()],
        model_id="m",
        options=SealOptions(licence_required=False),
    )
    expired = make_licence(owner, device, inspect_bundle(bundle).model_digest)
    with pytest.raises(LicenceError, match="expired"):
        open_bundle(
            bundle,
            device_key=device,
            owner_public_key=owner.public_key(),
            licence=expired,
            clock=fixed_clock(NOW.replace(year=2027)),
        )


def test_unreadable_bundle_is_storage_error(tmp_path: Path, world: World) -> None:
    with pytest.raises(StorageError, match="cannot read bundle"):
        verify_bundle(tmp_path / "missing.esb", owner_public_key=world.owner.public_key())


def test_unwritable_target_is_storage_error(tmp_path: Path, world: World) -> None:
    with pytest.raises(StorageError, match="cannot write bundle"):
        seal_file(
            tmp_path / "no-such-dir" / "m.esb",
            world.tensors,
            owner_key=world.owner,
            recipients=[world.device.public_key()],
            model_id="m",
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tensors": {}}, "non-empty mapping"),
        ({"tensors": {"a": [1.0]}}, "torch.Tensor"),
        ({"tensors": {"a": torch.zeros(2, dtype=torch.complex64)}}, "unsupported dtype"),
        ({"tensors": {"__metadata__": torch.zeros(2)}}, "reserved by safetensors"),
        ({"recipients": []}, "non-empty sequence"),
        ({"recipients": ["not a key"]}, "DevicePublicKey"),
        ({"recipients": "dup"}, "same device twice"),
        ({"model_id": ""}, "model_id"),
        ({"model_id": "x" * 257}, "model_id"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"tensors": {"n" * 4097: torch.ones(1)}}, "at most 4096"),
        ({"model_id": "m\udcff"}, "valid Unicode"),
        ({"metadata": {"\udcff": "v"}}, "valid Unicode"),
        ({"metadata": {"k": "\ud800"}}, "valid Unicode"),
        ({"tensors": {"\udcff": torch.ones(1)}}, "valid Unicode"),
        ({"owner_key": "owner"}, "OwnerKey"),
    ],
)
def test_seal_rejects_bad_arguments(
    world: World, overrides: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "tensors": world.tensors,
        "owner_key": world.owner,
        "recipients": [world.device.public_key()],
        "model_id": "m",
    }
    if overrides.get("recipients") == "dup":
        overrides = {"recipients": [world.device.public_key(), world.device.public_key()]}
    arguments.update(overrides)
    tensors = arguments.pop("tensors")
    with pytest.raises(ConfigError, match=message):
        seal(tensors, **arguments)  # type: ignore[arg-type]


def test_seal_rejects_shared_storage(world: World) -> None:
    base = torch.zeros(4)
    with pytest.raises(ConfigError, match="safetensors"):
        seal(
            {"a": base, "b": base[:2]},
            owner_key=world.owner,
            recipients=[world.device.public_key()],
            model_id="m",
        )


@pytest.mark.parametrize("chunk_size", [0, 15, 2**30 + 1, 64.0])
def test_seal_options_reject_bad_chunk_size(chunk_size: object) -> None:
    with pytest.raises(ConfigError, match="chunk_size"):
        SealOptions(chunk_size=chunk_size)  # type: ignore[arg-type]


def test_seal_options_reject_bad_types() -> None:
    with pytest.raises(ConfigError, match="hash_algorithm"):
        SealOptions(hash_algorithm="blake3")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="licence_required"):
        SealOptions(licence_required=1)  # type: ignore[arg-type]


def test_open_rejects_bad_argument_types(world: World) -> None:
    owner_public = world.owner.public_key()
    with pytest.raises(ConfigError, match="device_key"):
        open_bundle(
            world.bundle, device_key=world.device.public_key(), owner_public_key=owner_public
        )  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="owner_public_key"):
        open_bundle(world.bundle, device_key=world.device, owner_public_key=world.owner)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="licence"):
        open_bundle(
            world.bundle, device_key=world.device, owner_public_key=owner_public, licence=b"x"
        )  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="path or bytes"):
        verify_bundle(123, owner_public_key=owner_public)  # type: ignore[arg-type]


@pytest.mark.parametrize("threads", [1, 2, 4, None])
@pytest.mark.parametrize("form", ["path", "bytes", "bytearray", "memoryview"])
def test_parallel_load_matches_for_any_thread_count_and_source(
    world: World, tmp_path: Path, threads: int | None, form: str
) -> None:
    """The chunks are decrypted concurrently; the tensors must not depend on it."""
    path = tmp_path / "b.esb"
    path.write_bytes(world.bundle)
    source = {
        "path": path,
        "bytes": world.bundle,
        "bytearray": bytearray(world.bundle),
        "memoryview": memoryview(world.bundle),
    }[form]
    loaded = open_bundle(
        source,  # type: ignore[arg-type]
        device_key=world.device,
        owner_public_key=world.owner.public_key(),
        licence=world.licence,
        clock=fixed_clock(),
        threads=threads,
    )
    assert set(loaded) == set(world.tensors)
    for name, tensor in world.tensors.items():
        assert torch.equal(loaded[name], tensor), name


def test_hash_threads_do_not_change_the_digest() -> None:
    """A load hashes on BLAKE3's own threads; the digest must be the single-threaded one."""
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB: large enough for BLAKE3 to split
    single = new_hasher(HashAlgorithm.BLAKE3)
    single.update(data)
    split = new_hasher(HashAlgorithm.BLAKE3, multithreaded=True)
    split.update(data)
    assert split.digest() == single.digest() == blake3.blake3(data).digest()


def mapped_paths() -> set[str]:
    """Files this process has mapped now (Linux: /proc/self/maps)."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc/self/maps")
    return {line.split(maxsplit=5)[-1] for line in maps.read_text().splitlines() if "/" in line}


@pytest.mark.parametrize("tampered", [False, True])
def test_file_is_unmapped_after_open(world: World, tmp_path: Path, tampered: bool) -> None:
    """open_bundle maps the file; the mapping goes when it returns, and when it refuses."""
    data = bytearray(world.bundle)
    if tampered:
        data[-200] ^= 1  # inside the last chunk: found only at decryption
    path = tmp_path / "b.esb"
    path.write_bytes(bytes(data))
    opened = lambda: open_bundle(  # noqa: E731
        path,
        device_key=world.device,
        owner_public_key=world.owner.public_key(),
        licence=world.licence,
        clock=fixed_clock(),
    )
    if tampered:
        with pytest.raises(IntegrityError) as caught:
            opened()
        assert caught.value.__traceback__ is not None  # the frames, views included, still live
    else:
        assert set(opened()) == set(world.tensors)
    assert str(path) not in mapped_paths()


@pytest.mark.parametrize("size", [0, 1, 100])
def test_short_file_is_integrity_error(world: World, tmp_path: Path, size: int) -> None:
    path = tmp_path / "short.esb"
    path.write_bytes(world.bundle[:size])
    with pytest.raises(IntegrityError):
        open_bundle(path, device_key=world.device, owner_public_key=world.owner.public_key())


@pytest.mark.parametrize("threads", [0, 65, 1.5, "2"])
def test_bad_thread_count(world: World, threads: object) -> None:
    with pytest.raises(ConfigError, match="threads"):
        open_bundle(
            world.bundle,
            device_key=world.device,
            owner_public_key=world.owner.public_key(),
            licence=world.licence,
            clock=fixed_clock(),
            threads=threads,  # type: ignore[arg-type]
        )


def test_seal_streams_unusual_layouts(world: World) -> None:
    """Sealing lays the payload out from the tensors' memory: views, scalars, transposes."""
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    tensors = {
        "transposed": base.t(),
        "scalar": torch.tensor(3.5, dtype=torch.float64),
        "slice": base[1:3],
        "f8": torch.ones(5).to(torch.float8_e4m3fn),
        "zero": torch.zeros(0, dtype=torch.int8),
    }
    bundle = seal(
        {k: v.clone() if k == "slice" else v for k, v in tensors.items()},
        owner_key=world.owner,
        recipients=[world.device.public_key()],
        model_id="m",
        options=SealOptions(chunk_size=16, licence_required=False),
    )
    loaded = open_bundle(
        bundle, device_key=world.device, owner_public_key=world.owner.public_key(), threads=2
    )
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert loaded[name].shape == tensor.shape, name
        assert torch.equal(
            loaded[name].reshape(-1).view(torch.uint8),
            tensor.contiguous().reshape(-1).view(torch.uint8),
        ), name
