"""Ctrl-C ends every command at once with one line, and leaves nothing behind (issue 20).

Both tests drive real processes: an interrupt is a signal, and what it must not leave
behind (Ray's processes, waiting threads, a half-written run directory) lives outside pytest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

_SWALLOWED = textwrap.dedent(
    """
    import os, signal, time
    from edgeshield.cli._app import _catch_interrupts

    class Finaliser:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the interrupt is raised here, where Python drops it

    with _catch_interrupts() as seen:
        try:
            Finaliser()
            time.sleep(10)
            print("went on")
        except KeyboardInterrupt:
            print("interrupted", seen.signal)
    """
)


def test_an_interrupt_a_finaliser_swallows_still_ends_the_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _SWALLOWED], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.split() == ["interrupted", str(int(signal.SIGINT))]
    assert "Exception ignored" not in proc.stderr


def _ray_processes(session: str) -> list[str]:
    """Command lines of live processes that belong to one Ray session."""
    out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if session in line]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("sig", "code"),
    [
        (signal.SIGINT, 130),
        # Ray's driver replaced the CLI's SIGTERM handler with sys.exit: the run hung (or, with
        # Ray's C handler, died with a stack dump and left its staging directory)
        (signal.SIGTERM, 143),
    ],
)
def test_ctrl_c_stops_fl_run_on_ray_and_leaves_nothing(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    out = tmp_path / "run"
    # Ray's own choice of its directory (a path under tmp_path would pass the socket length limit)
    ray_dir = Path(os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp") / "ray"
    small = ["--plants", "3", "--rounds", "200", "--epochs", "1", "--rows", "1500"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeshield.cli", "fl", "run", "--out", str(out), *small],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        cwd=tmp_path,
    )
    session = f"_{proc.pid}"  # Ray names its session directory after the driver's pid
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        sessions = list(ray_dir.glob(f"session_*{session}"))
        if sessions and _ray_processes(sessions[0].name):
            break
        time.sleep(0.5)
    assert proc.poll() is None, "fl run ended before Ray started"
    session_name = sessions[0].name
    time.sleep(3)  # Flower's workers are asking Ray's actors for the first round by now
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=90)  # it hung for good before the fix
    assert proc.returncode == code
    assert "Traceback" not in err
    assert "SIGTERM received" not in err  # Ray's C-level stack dump
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: interrupted ({sig.name})"
    ]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run")] == []
    for _ in range(40):  # Ray's daemons exit shortly after the driver shut them down
        if not _ray_processes(session_name):
            break
        time.sleep(0.5)
    assert _ray_processes(session_name) == []
