"""Bounded CI run of the atheris fuzz target (``make fuzz`` runs it for longer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TARGET = Path(__file__).with_name("fuzz_vault_bundle.py")


def test_fuzz_target_bounded_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            "-runs=4000",
            "-seed=20260301",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 4000 runs" in result.stderr
    assert not list(tmp_path.glob("crash-*"))
