"""Shared fixtures: the AI4I 2020 data (real file or generated stand-in), a Hardhat node."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

# One OpenMP/MKL/BLAS thread per test process (subprocesses inherit it), set before torch or
# scikit-learn load: the xdist workers already fill two cores, and OpenMP threads spinning on
# an oversubscribed machine made CPU-bound tests up to 9x slower (the honest-model ownership
# test on a loaded machine: 317 s with the default threads, 34 s with one).
for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import pandas as pd  # noqa: E402 - after the thread settings above
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = (
    Path(os.environ.get("EDGESHIELD_SHARED", REPO.parent / "shared")) / "data" / "ai4i2020.csv"
)


# How long a test waits for a server or node to become ready (seconds): generous, because a
# loaded CI machine is slow, and configurable. Waits poll for readiness; none sleeps blindly.
WAIT_S = float(os.environ.get("EDGESHIELD_TEST_WAIT_S", "300"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collect the files that hold slow tests first, each file's tests in their own order.

    Why: ``make test`` hands whole files to its xdist workers (``--dist loadfile``) in
    collection order; a file of minutes that starts last keeps one worker busy while the
    others idle. Starting the long files first packs the workers evenly.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order kept otherwise


def pytest_report_header() -> list[str]:
    """Say, at the top of every run, which AI4I data the real-data tests use."""
    if REAL_DATA.is_file():
        return [f"AI4I 2020 data: the real file at {REAL_DATA}"]
    return [
        f"AI4I 2020 data: no real file at {REAL_DATA}; the real-data tests run on a generated"
        " stand-in (10,000 rows in the UCI layout) and the published summary of the file"
    ]


@pytest.fixture(scope="session")
def wait_s() -> float:
    """Upper bound on readiness waits (``EDGESHIELD_TEST_WAIT_S``, default 300 s)."""
    return WAIT_S


@pytest.fixture(scope="session")
def real_data_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real UCI file where it is present, else a stand-in the project generates.

    The stand-in has the file's layout and size (10,000 rows, written by ``write_uci_csv``
    from the project's own generator), so the importer, the rules and training still run on a
    fresh machine; the run's header line says which one was used.
    """
    if REAL_DATA.is_file():
        return REAL_DATA
    from edgeshield.usecase import GeneratorConfig, generate, write_uci_csv

    path = tmp_path_factory.mktemp("ai4i") / "ai4i2020-standin.csv"
    return write_uci_csv(generate(GeneratorConfig(rows=10_000), seed=2020), path)


@pytest.fixture(scope="session")
def real_data(real_data_path: Path) -> pd.DataFrame:
    """The real file (or its stand-in), read by EdgeShield's own importer."""
    from edgeshield.usecase import read_uci_csv

    return read_uci_csv(real_data_path)


@pytest.fixture(scope="session")
def breast_cancer_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's copy of the breast-cancer data set as the CSV its shipped schema reads.

    Data nobody here wrote (569 rows, 30 measurements, diagnosis malignant/benign): the
    proof that the pipeline runs on a schema other than AI4I's.
    """
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    path = tmp_path_factory.mktemp("breast-cancer") / "breast_cancer.csv"
    frame.to_csv(path, index=False)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(json.loads(response.read()).get("result"))
    except OSError:
        return False


@pytest.fixture(scope="module")
def hardhat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh Hardhat node (npm, offline) on a free port; its accounts are keys 1..10.

    Started per test module and stopped by its PID; its config and cache directories point
    into the run's temporary directory.
    """
    from edgeshield.ledger import find_solc_module

    root = find_solc_module().parent.parent  # the directory holding node_modules
    cli = root / "node_modules" / "hardhat" / "internal" / "cli" / "bootstrap.js"
    node = shutil.which("node")
    if node is None or not cli.is_file():
        pytest.fail("Hardhat is not installed: run `make setup` (npm ci)")
    home = tmp_path_factory.mktemp("hardhat-home")
    env = {
        **os.environ,
        "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_DATA_HOME": str(home / "data"),
        "EDGESHIELD_HARDHAT_CACHE": str(home / "project-cache"),
    }
    port = _free_port()
    log = (home / "node.log").open("w")
    process = subprocess.Popen(
        [
            node,
            str(cli),
            "--config",
            str(root / "contracts" / "hardhat" / "hardhat.config.js"),
            "node",
            "--hostname",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Hardhat node did not start: {(home / 'node.log').read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


@pytest.fixture
def error_line(capsys: pytest.CaptureFixture[str]) -> Callable[[int], str]:
    """Check a refused command: non-zero ``code``, no traceback, one ``error:`` line; return it."""

    def read(code: int) -> str:
        captured = capsys.readouterr()
        assert code != 0
        assert "Traceback" not in captured.err + captured.out
        lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, captured.err
        return lines[0]

    return read
