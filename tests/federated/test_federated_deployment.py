"""Flower's deployment engine: one SuperLink and two SuperNodes on 127.0.0.1, TLS and
SuperNode authentication with keys the project generates, one SecAgg+ round."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from edgeshield.federated import (
    FederatedConfig,
    generate_supernode_keys,
    generate_tls,
    write_flower_app,
)
from edgeshield.usecase import FleetConfig, PlantDatabase, load_classifier, make_fleet, sqlite_url

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Processes:
    """Processes started by one test; all are killed (whole process groups) at teardown."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.base, self.env, self.procs = base, env, []

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = (self.base / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            cmd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.base,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def run(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd,
            env=self.env,
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def _descendants(self) -> list[int]:
        """PIDs below the started processes (the SuperLink spawns its ServerApp process)."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = [], [p.pid for p in self.procs]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def stop(self) -> None:
        for pid in self._descendants():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[_Processes]:
    env = dict(
        os.environ,
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_HOME=str(tmp_path / "flwr"),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    procs = _Processes(tmp_path, env)
    yield procs
    procs.stop()


def test_tls_files_are_a_valid_chain_for_loopback(tmp_path: Path) -> None:
    tls = generate_tls(tmp_path)
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert oct(tls.server_key.stat().st_mode)[-3:] == "600"


def test_superlink_and_two_supernodes_complete_a_secure_round(
    tmp_path: Path, processes: _Processes
) -> None:
    fleet = make_fleet(FleetConfig(plants=2, total_rows=1000), seed=0)
    url = sqlite_url(tmp_path / "plants.sqlite")
    with PlantDatabase(url) as db:
        db.write_fleet(fleet.profiles, fleet.frames)
    tls = generate_tls(tmp_path / "tls")
    config = FederatedConfig(plants=2, rounds=1, local_epochs=1, reference_rows=300)
    app = write_flower_app(tmp_path / "app", config, tmp_path / "run")
    port = _free_port()
    (tmp_path / "flwr").mkdir()
    (tmp_path / "flwr" / "config.toml").write_text(
        f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:{port}"\n'
        f'root-certificates = "{tls.ca_cert}"\n'
    )
    processes.start(
        "superlink",
        [
            str(BIN / "flower-superlink"),
            "--ssl-ca-certfile",
            str(tls.ca_cert),
            "--ssl-certfile",
            str(tls.server_cert),
            "--ssl-keyfile",
            str(tls.server_key),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database",
            str(tmp_path / "state.db"),
            "--enable-supernode-auth",
            "--disable-runtime-dependency-installation",
        ],
    )
    keys = []
    for i in range(2):
        private, public = generate_supernode_keys(tmp_path / "keys", f"plant{i}")
        for _ in range(30):  # the SuperLink needs a moment to listen
            registered = processes.run([str(BIN / "flwr"), "supernode", "register", str(public)])
            if registered.returncode == 0:
                break
            time.sleep(1)
        assert registered.returncode == 0, registered.stdout + registered.stderr
        keys.append(private)
    for i, plant in enumerate(fleet.plant_ids):
        processes.start(
            f"supernode{i}",
            [
                str(BIN / "flower-supernode"),
                "--root-certificates",
                str(tls.ca_cert),
                "--superlink",
                f"127.0.0.1:{port}",
                "--host",
                "127.0.0.1",
                "--port",
                str(_free_port()),
                "--auth-supernode-private-key",
                str(keys[i]),
                "--node-config",
                f"plant-id='{plant}' db-url='{url}' partition-id={i}",
            ],
        )
    submitted = processes.run([str(BIN / "flwr"), "run", str(app)])
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    summary = tmp_path / "run" / "summary.json"
    deadline = time.monotonic() + 240
    while not summary.exists() and not (tmp_path / "run" / "error.json").exists():
        assert time.monotonic() < deadline, "the deployment run did not finish"
        time.sleep(1)
    assert not (tmp_path / "run" / "error.json").exists()
    record = json.loads(summary.read_text())["rounds"][0]
    assert record["participants"] == 2
    assert sorted(record["plants"]) == sorted(fleet.plant_ids)
    assert record["digest"].startswith("sha256:")
    assert load_classifier(tmp_path / "run" / "model").threshold == record["threshold"]
