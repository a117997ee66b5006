"""Sealed-bundle load, decryption, seal and memory cost against plain baselines, in one run.

Run: ``.venv/bin/python benchmarks/vault.py [--params 100_000_000] [--repeats 5]``

A synthetic fp32 state dict of about ``--params`` parameters (transformer-like shapes) is
saved with ``torch.save`` and ``safetensors`` and sealed for one device. With a warm page
cache, each measurement is repeated and its min and median reported; every weight is
touched (summed) after each load. Ratios compare numbers from this same run:

- sealed load (``open_bundle``: signature, key unwrap, licence, parallel decrypt, plaintext
  hash) against ``torch.load(weights_only=True)`` (target <= 1.5x), also with 1, 2 and 4
  decryption threads (the default is the CPUs, at most 4), and of the same model sealed
  with plain BLAKE3 (the default before ``blake3-segments``, whose one hasher runs in the
  calling thread);
- sealed-load throughput against a bare ``AESGCM.decrypt_into`` loop over the same
  ciphertext already in memory (target >= 0.5x);
- ``seal_file`` against ``safetensors.torch.save_file``;
- peak RSS growth while loading, measured in a fresh subprocess, against the model size
  (target <= 1.1x + one chunk).

All timed functions run round-robin (one round = each function once) so they share the same
background load; wall-clock and process CPU time (all threads) are both recorded. Bare
BLAKE3 (1 MiB segments on one thread, as ``blake3-segments`` hashes) and bare chunked reads
are timed too, to break the sealed load down. A fresh
subprocess per loader also times one first load (the edge start-up case).

Prints a table and writes ``benchmarks/results/vault.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import torch
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from safetensors.torch import load_file, save_file

from edgeshield.vault import (
    DeviceKey,
    HashAlgorithm,
    OwnerKey,
    OwnerPublicKey,
    SealOptions,
    inspect_bundle,
    issue_licence,
    open_bundle,
    seal_file,
)

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024


def synthetic_state_dict(params: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Transformer-like blocks of (d x 4d, 4d x d, d x d ...) fp32 weights, ~``params`` total."""
    generator = torch.Generator().manual_seed(seed)
    d = 1024 if params >= 20_000_000 else 256
    block = 12 * d * d + 9 * d
    blocks = max(1, round(params / block))
    tensors: dict[str, torch.Tensor] = {}
    for i in range(blocks):
        shapes = {
            "attn.qkv.weight": (3 * d, d),
            "attn.qkv.bias": (3 * d,),
            "attn.out.weight": (d, d),
            "attn.out.bias": (d,),
            "mlp.up.weight": (4 * d, d),
            "mlp.up.bias": (4 * d,),
            "mlp.down.weight": (d, 4 * d),
            "mlp.down.bias": (d,),
        }
        for name, shape in shapes.items():
            tensors[f"blocks.{i}.{name}"] = torch.randn(shape, generator=generator)
    return tensors


def touch(tensors: dict[str, torch.Tensor]) -> float:
    """Read every weight once (so lazily mapped loaders pay their cost too)."""
    return float(sum(t.sum().item() for t in tensors.values()))


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, Any]]:
    """Time each function ``repeats`` times, round-robin so that all see the same load.

    Each timed call follows an untimed call of the same function, so the allocator reuses
    that function's own freed memory (as repeated loads do) rather than whatever the
    previous function left. Wall-clock and process CPU time (all threads) are recorded;
    CPU time is far less sensitive to other processes competing for the shared cores.
    """
    for fn in fns.values():
        fn()  # warm-up: page cache, allocator, imports
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            fn()  # untimed: leaves the allocator in this function's own steady state
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start_wall)
            cpu[name].append(time.process_time() - start_cpu)
    return {
        name: {
            "min_s": min(wall[name]),
            "median_s": statistics.median(wall[name]),
            "cpu_min_s": min(cpu[name]),
            "cpu_median_s": statistics.median(cpu[name]),
            "runs": repeats,
            "wall_s": wall[name],
        }
        for name in fns
    }


def paired(results: dict[str, Any], name: str, baseline: str) -> float:
    """Median over rounds of the per-round wall-clock ratio ``name / baseline``."""
    pairs = zip(results[name]["wall_s"], results[baseline]["wall_s"], strict=True)
    return statistics.median(a / b for a, b in pairs)


def rss_child(mode: str, directory: Path) -> dict[str, float]:
    """Run in a fresh interpreter: load once, touch, report RSS growth (bytes)."""

    def status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(field)

    device = DeviceKey.load(directory / "device.pem")
    owner_public = OwnerPublicKey.load(directory / "owner.pub.pem")
    licence = json.loads((directory / "keys.json").read_text())["licence"]
    torch.ones(1).sum()
    state = load_file(str(directory / "model.safetensors")) if mode == "seal" else None
    before = status("VmRSS")
    with contextlib.suppress(OSError):  # reset the high-water mark to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    start = time.perf_counter()
    if mode == "seal":  # sealing's growth on top of the state dict already in memory
        assert state is not None
        seal_file(
            directory / "reseal.esb",
            state,
            owner_key=OwnerKey.load(directory / "owner.pem"),
            recipients=[device.public_key()],
            model_id="bench",
            options=SealOptions(chunk_size=4 * MIB),
        )
        tensors = state
    elif mode == "sealed":
        tensors = open_bundle(
            directory / "model.esb",
            device_key=device,
            owner_public_key=owner_public,
            licence=licence,
        )
    elif mode == "torch":
        tensors = torch.load(directory / "model.pt", weights_only=True)
    else:
        tensors = load_file(str(directory / "model.safetensors"))
    touch(tensors)
    seconds = time.perf_counter() - start
    return {
        "rss_before": before,
        "peak": status("VmHWM"),
        "after": status("VmRSS"),
        "fresh_process_load_s": seconds,
    }


def bare_decrypt(bundle: Path, content_key: bytes, chunk: int) -> Callable[[], None]:
    """A bare AES-GCM decrypt_into loop over same-sized chunks of ciphertext in memory."""
    aead = AESGCM(content_key)
    nonce = bytes(12)
    ciphertext = aead.encrypt(nonce, bytes(chunk), b"")
    count = -(-bundle.stat().st_size // (chunk + 16))
    output = bytearray(count * chunk)
    view = memoryview(output)

    def run() -> None:
        for i in range(count):
            aead.decrypt_into(nonce, ciphertext, b"", view[i * chunk : (i + 1) * chunk])

    return run


def bare_hash(bundle: Path, chunk: int) -> Callable[[], None]:
    """BLAKE3 over the same number of bytes in memory, 1 MiB segments, one thread.

    The same work as a ``blake3-segments`` model digest (the outer hash over 32 bytes per
    MiB is negligible), and as fast per byte as one plain BLAKE3 stream on one thread.
    """
    import blake3

    data = memoryview(bytes(chunk))
    count = -(-bundle.stat().st_size // (chunk + 16))
    segment = MIB

    def run() -> None:
        for _ in range(count):
            for start in range(0, chunk, segment):
                blake3.blake3(data[start : start + segment]).digest()

    return run


def bare_read(bundle: Path, chunk: int) -> Callable[[], None]:
    """Read the bundle from the page cache into one reused chunk buffer."""
    view = memoryview(bytearray(chunk + 16))

    def run() -> None:
        with bundle.open("rb") as handle:
            while handle.readinto(view):
                pass

    return run


# glibc malloc regimes for the load timings (each in its own subprocess):
# "reuse": freed memory stays in the heap and is reused (steady state, no page faults);
# "fresh": every large allocation is a new mapping (each load faults its memory in).
REGIMES = {
    "reuse": {
        "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432"
        ":glibc.malloc.trim_threshold=68719476736"
    },
    "fresh": {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"},
}


THREADS = (1, 2, 4)  # decryption threads for the scaling rows (the default is the CPUs, <= 4)


def load_timings(directory: Path, chunk: int, repeats: int) -> dict[str, Any]:
    """Time every loader and the bare primitives, round-robin (run in a child process)."""
    torch.set_num_threads(1)
    device = DeviceKey.load(directory / "device.pem")
    owner_public = OwnerPublicKey.load(directory / "owner.pub.pem")
    keys = json.loads((directory / "keys.json").read_text())
    licence = keys["licence"]
    bundle = directory / "model.esb"

    def sealed_load_blake3() -> None:
        touch(
            open_bundle(
                directory / "model_blake3.esb",
                device_key=device,
                owner_public_key=owner_public,
                licence=keys["licence_blake3"],
            )
        )

    def sealed_load_only(threads: int | None = None) -> dict[str, torch.Tensor]:
        return open_bundle(
            bundle,
            device_key=device,
            owner_public_key=owner_public,
            licence=licence,
            threads=threads,
        )

    def sealed_threads(threads: int) -> Callable[[], None]:
        return lambda: touch(sealed_load_only(threads))

    def sealed_load() -> None:
        touch(sealed_load_only())

    def torch_load() -> None:
        touch(torch.load(directory / "model.pt", weights_only=True))

    def safetensors_load() -> None:
        touch(load_file(str(directory / "model.safetensors")))

    return interleaved(
        {
            "sealed_load": sealed_load,
            "torch_load": torch_load,
            "safetensors_load_file": safetensors_load,
            "sealed_load_no_touch": sealed_load_only,
            "bare_aesgcm_decrypt_into": bare_decrypt(bundle, _content_key(bundle, device), chunk),
            "bare_blake3_hash": bare_hash(bundle, chunk),
            "bare_read_chunks": bare_read(bundle, chunk),
            **{f"sealed_load_threads_{n}": sealed_threads(n) for n in THREADS},
            "sealed_load_blake3": sealed_load_blake3,
        },
        repeats,
    )


def run_child(arguments: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run this script with ``arguments`` in a fresh interpreter; return its JSON line."""
    output = subprocess.run(
        [sys.executable, __file__, *arguments],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    ).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=100_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk-mib", type=int, default=4)
    parser.add_argument("--rss-child", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--timing-child", nargs=2, metavar=("REGIME", "DIR"), help=argparse.SUPPRESS
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "vault.json")
    args = parser.parse_args()
    if args.rss_child:
        print(json.dumps(rss_child(args.rss_child[0], Path(args.rss_child[1]))))
        return
    if args.timing_child:
        directory = Path(args.timing_child[1])
        print(json.dumps(load_timings(directory, args.chunk_mib * MIB, args.repeats)))
        return

    torch.set_num_threads(1)
    tensors = synthetic_state_dict(args.params)
    params = sum(t.numel() for t in tensors.values())
    model_bytes = sum(t.numel() * t.element_size() for t in tensors.values())
    chunk = args.chunk_mib * MIB
    owner, device = OwnerKey.generate(), DeviceKey.generate()
    now = datetime.now(UTC)
    results: dict[str, Any] = {
        "params": params,
        "model_bytes": model_bytes,
        "chunk_bytes": chunk,
        "repeats": args.repeats,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "date": now.isoformat(timespec="seconds"),
        "load_average_at_start": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="vault-bench-") as tmp:
        directory = Path(tmp)
        torch.save(tensors, directory / "model.pt")
        bundle = directory / "model.esb"
        options = SealOptions(chunk_size=chunk)

        def do_seal() -> None:
            seal_file(
                bundle,
                tensors,
                owner_key=owner,
                recipients=[device.public_key()],
                model_id="bench",
                options=options,
            )

        def do_save() -> None:
            save_file(tensors, str(directory / "model.safetensors"))

        results.update(
            interleaved({"seal": do_seal, "safetensors_save_file": do_save}, args.repeats)
        )
        seal_file(  # the same model under plain BLAKE3 (the default before), untimed
            directory / "model_blake3.esb",
            tensors,
            owner_key=owner,
            recipients=[device.public_key()],
            model_id="bench",
            options=SealOptions(chunk_size=chunk, hash_algorithm=HashAlgorithm.BLAKE3),
        )

        def licence_for(path: Path) -> str:
            return issue_licence(
                owner,
                device=device.public_key(),
                model_digest=inspect_bundle(path).model_digest,
                not_before=now - timedelta(hours=1),
                expires=now + timedelta(days=1),
            )

        device.save(directory / "device.pem")
        owner.save(directory / "owner.pem")
        owner.public_key().save(directory / "owner.pub.pem")
        keys = {
            "licence": licence_for(bundle),
            "licence_blake3": licence_for(directory / "model_blake3.esb"),
        }
        (directory / "keys.json").write_text(json.dumps(keys))

        loads = {
            regime: run_child(
                [
                    "--timing-child",
                    regime,
                    str(directory),
                    f"--repeats={args.repeats}",
                    f"--chunk-mib={args.chunk_mib}",
                ],
                env,
            )
            for regime, env in REGIMES.items()
        }
        rss = {
            mode: run_child(["--rss-child", mode, str(directory)])
            for mode in ("sealed", "torch", "safetensors", "seal")
        }
    results["rss"] = rss
    results["loads"] = loads
    results["load_average_at_end"] = os.getloadavg()[0]

    def ratio(group: dict[str, Any], name: str, baseline: str, field: str) -> float:
        return float(group[name][field] / group[baseline][field])

    ratios: dict[str, float] = {}
    for regime, group in loads.items():
        ratios |= {
            f"{regime}/sealed_vs_torch_load_min": ratio(
                group, "sealed_load", "torch_load", "min_s"
            ),
            f"{regime}/sealed_vs_torch_load_median": ratio(
                group, "sealed_load", "torch_load", "median_s"
            ),
            f"{regime}/sealed_vs_torch_load_paired_median": paired(
                group, "sealed_load", "torch_load"
            ),
            f"{regime}/sealed_vs_torch_load_cpu_min": ratio(
                group, "sealed_load", "torch_load", "cpu_min_s"
            ),
            f"{regime}/decrypt_throughput_vs_bare_min": ratio(
                group, "bare_aesgcm_decrypt_into", "sealed_load_no_touch", "min_s"
            ),
            f"{regime}/decrypt_throughput_vs_bare_median": ratio(
                group, "bare_aesgcm_decrypt_into", "sealed_load_no_touch", "median_s"
            ),
            f"{regime}/decrypt_throughput_vs_bare_cpu_min": ratio(
                group, "bare_aesgcm_decrypt_into", "sealed_load_no_touch", "cpu_min_s"
            ),
        }
    ratios |= {
        "seal_vs_save_file_min": ratio(results, "seal", "safetensors_save_file", "min_s"),
        "seal_vs_save_file_median": ratio(results, "seal", "safetensors_save_file", "median_s"),
        "seal_vs_save_file_cpu_min": ratio(results, "seal", "safetensors_save_file", "cpu_min_s"),
        "sealed_peak_rss_growth_vs_model": (rss["sealed"]["peak"] - rss["sealed"]["rss_before"])
        / model_bytes,
        "torch_peak_rss_growth_vs_model": (rss["torch"]["peak"] - rss["torch"]["rss_before"])
        / model_bytes,
        "seal_peak_rss_growth_vs_model": (rss["seal"]["peak"] - rss["seal"]["rss_before"])
        / model_bytes,
        "rss_target_vs_model": 1.1 + chunk / model_bytes,
        "fresh_process_sealed_vs_torch_load": rss["sealed"]["fresh_process_load_s"]
        / rss["torch"]["fresh_process_load_s"],
    }
    for regime, group in loads.items():
        ratios |= {
            f"{regime}/threads_{n}_vs_torch_load_min": ratio(
                group, f"sealed_load_threads_{n}", "torch_load", "min_s"
            )
            for n in THREADS
        }
    results["ratios"] = ratios
    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


def _content_key(bundle: Path, device: DeviceKey) -> bytes:
    from edgeshield.vault._format import read_raw
    from edgeshield.vault._wrap import unwrap_key

    with bundle.open("rb") as handle:
        header = read_raw(handle, bundle.stat().st_size).decode()
    recipient = header.find_recipient(device.public_key().key_id)
    assert recipient is not None
    return unwrap_key(recipient, device)


def report(results: dict[str, Any]) -> None:
    size, chunk = results["model_bytes"] / MIB, results["chunk_bytes"] / MIB
    print(f"model: {results['params']:,} fp32 params, {size:.0f} MiB, chunk {chunk:.0f} MiB")
    print(f"{'measurement':<44}{'min s':>9}{'median s':>10}{'cpu min s':>11}")
    rows = [("", name, results[name]) for name in ("seal", "safetensors_save_file")]
    for regime, group in results["loads"].items():
        rows += [(regime, name, row) for name, row in group.items()]
    for regime, name, row in rows:
        label = f"{regime}/{name}" if regime else name
        print(f"{label:<44}{row['min_s']:>9.3f}{row['median_s']:>10.3f}{row['cpu_min_s']:>11.3f}")
    for name, value in results["ratios"].items():
        print(f"{name:<52}{value:>7.2f}")
    for mode, row in results["rss"].items():
        growth = (row["peak"] - row["rss_before"]) / MIB
        seconds = row["fresh_process_load_s"]
        print(f"fresh process {mode:<12} load+touch {seconds:6.3f} s, peak RSS +{growth:5.0f} MiB")


if __name__ == "__main__":
    main()
