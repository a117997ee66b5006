"""Installed size of EdgeShield with each extra, each in a fresh virtual environment.

Run: ``.venv/bin/python benchmarks/install_size.py [--extras core edge vendor]``

For each variant a new venv is created under a temporary directory and the project is installed
into it from this checkout with the exact pins of ``constraints.txt`` (``core`` is the package
alone: the vault and the CLI). The size is the bytes on disk of the venv's ``site-packages``
(``du``-style: file sizes, hard links counted once), and the number of distributions installed.

Prints a table and writes ``benchmarks/results/install_size.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
OUT = ROOT / "results" / "install_size.json"


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path``, each inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            info = os.lstat(os.path.join(directory, name))
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def install(extra: str, where: Path) -> dict[str, object]:
    """Create a venv in ``where``, install the variant, return its size and distributions."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    target = str(REPO) if extra == "core" else f"{REPO}[{extra}]"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "-c", str(REPO / "constraints.txt"), target],
        check=True,
    )
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    freeze = subprocess.run(
        [python, "-m", "pip", "freeze"], check=True, capture_output=True, text=True
    ).stdout.split()
    return {"extra": extra, "site_packages_mb": round(tree_bytes(site) / 1e6, 1),
            "distributions": len(freeze)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", nargs="+", default=["core", "edge", "vendor"])
    args = parser.parse_args()
    rows = []
    print(f"{'install':28} {'site-packages MB':>16} {'distributions':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for extra in args.extras:
            row = install(extra, Path(tmp) / extra)
            rows.append(row)
            name = "edgeshield" if extra == "core" else f"edgeshield[{extra}]"
            print(f"{name:28} {row['site_packages_mb']:>16} {row['distributions']:>13}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "benchmark": "install_size",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"platform": platform.platform(), "python": platform.python_version()},
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
