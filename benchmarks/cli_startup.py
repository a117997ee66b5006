"""CPU cost of starting the ``edgeshield`` command, against a bare interpreter in the same run.

Run: ``.venv/bin/python benchmarks/cli_startup.py [--repeats 7]``

Each command runs in a fresh interpreter; its CPU seconds (user + system, from the kernel's
accounting of the child) are taken, not wall time, so a busy machine changes the figures little.
Commands are interleaved round by round and each figure is the median of ``--repeats``. The
baseline is ``python -c pass``: every row reports its CPU seconds, the excess over the baseline
and the ratio to it. The guard's and the federated commands' stacks need torch, so a bare
``import torch`` is timed beside them. Target (issue 21): ``edgeshield --help`` and
``edgeshield vault verify`` each under 1 s CPU.

Prints a table and writes ``benchmarks/results/cli_startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edgeshield.vault import DeviceKey, OwnerKey, seal_file

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "cli_startup.json"
TARGET_CPU_S = 1.0
_CLI = "from edgeshield.cli import main; main()"


def commands(d: Path) -> dict[str, list[str]]:
    """The measured command lines, the baseline first."""
    py = sys.executable
    return {
        "python -c pass (baseline)": [py, "-c", "pass"],
        "python -c 'import edgeshield.cli'": [py, "-c", "import edgeshield.cli"],
        "edgeshield --help": [py, "-c", _CLI, "--help"],
        "edgeshield vault verify": [
            *(py, "-c", _CLI, "vault", "verify", str(d / "m.esb")),
            *("--owner-public", str(d / "owner.pub.pem")),
        ],
        "edgeshield vault inspect": [py, "-c", _CLI, "vault", "inspect", str(d / "m.esb")],
        # The gateway's serving stack and the vendor's federated commands load torch: the
        # bare torch import is their floor.
        "python -c 'import torch'": [py, "-c", "import torch"],
        "edgeshield guard serve --help": [py, "-c", _CLI, "guard", "serve", "--help"],
        "edgeshield fl register --help": [py, "-c", _CLI, "fl", "register", "--help"],
    }


def prepare(d: Path) -> None:
    """Owner key, device key and a sealed 1 MB model in ``d``."""
    owner, device = OwnerKey.generate(), DeviceKey.generate()
    owner.public_key().save(d / "owner.pub.pem")
    rng = np.random.default_rng(0)
    seal_file(
        d / "m.esb",
        {"w": rng.standard_normal(256 * 1024).astype(np.float32)},
        owner_key=owner,
        recipients=[device.public_key()],
        model_id="bench",
    )


def cpu_seconds(argv: list[str]) -> float:
    """Run ``argv`` to completion and return the CPU seconds (user + system) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        argv, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "100"}
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        prepare(d)
        lines = commands(d)
        for argv in lines.values():  # warm the page cache and the bytecode caches
            cpu_seconds(argv)
        samples: dict[str, list[float]] = {name: [] for name in lines}
        for _ in range(args.repeats):
            for name, argv in lines.items():
                samples[name].append(cpu_seconds(argv))
    baseline = statistics.median(samples["python -c pass (baseline)"])
    rows = []
    print(f"{'command':36} {'CPU s':>7} {'over python':>11} {'x python':>9}  target")
    for name, values in samples.items():
        median = statistics.median(values)
        targeted = name in ("edgeshield --help", "edgeshield vault verify")
        met = median < TARGET_CPU_S if targeted else None
        rows.append(
            {
                "command": name,
                "cpu_s": round(median, 3),
                "cpu_s_samples": [round(v, 3) for v in values],
                "over_baseline_s": round(median - baseline, 3),
                "ratio_to_baseline": round(median / baseline, 2),
                "target_cpu_s": TARGET_CPU_S if targeted else None,
                "met": met,
            }
        )
        mark = "" if met is None else ("met" if met else "MISSED")
        print(f"{name:36} {median:7.3f} {median - baseline:11.3f} {median / baseline:9.1f}  {mark}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 2),
                },
                "repeats": args.repeats,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
