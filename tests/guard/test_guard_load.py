"""The service as deployed: ``edgeshield guard serve`` in a subprocess, under bounded load.

A fixed number of requests from concurrent clients on loopback, with a restart of the server
in the middle: no 5xx, and the audit log accounts for every answered record.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from guard_kit import Deployment, Kit, write_deployment

from edgeshield.cli import run
from edgeshield.guard import GuardStore, OutputTier, records_from_frame

pytestmark = pytest.mark.slow

THREADS = 6
REQUESTS = 30
BATCH = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``edgeshield guard serve`` as a child process."""

    def __init__(self, deployment: Deployment, port: int, wait_s: float) -> None:
        self.deployment = deployment
        self.port = port
        self.wait_s = wait_s  # readiness bound: generous, a loaded machine is slow
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-c",
            "from edgeshield.cli import main; main()",
            "guard",
            "serve",
        ]
        self.proc = subprocess.Popen(
            [*command, *self.deployment.args, "--port", str(self.port)],
            env={**os.environ, **self.deployment.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"server did not start within {self.wait_s:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.proc.wait(timeout=self.wait_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server(kit: Kit, tmp_path: Path, wait_s: float) -> Iterator[Server]:
    tiers = {f"c{i}": OutputTier.ROUNDED for i in range(THREADS)} | {"red": OutputTier.FULL}
    srv = Server(write_deployment(kit, tmp_path, tiers=tiers), _free_port(), wait_s)
    srv.start()
    yield srv
    srv.stop()


def test_load_with_restart_loses_no_audit_record(server: Server, kit: Kit) -> None:
    records = records_from_frame(kit.frames["plant-3"].iloc[: REQUESTS * BATCH])
    answered = [0] * THREADS
    statuses: list[int] = []
    restart_now = threading.Event()
    lock = threading.Lock()

    def client(i: int) -> None:
        key = server.deployment.keys[f"c{i}"]
        # A timed-out request would be retried and counted twice: wait as long as a restart.
        with httpx.Client(base_url=server.url, timeout=server.wait_s) as http:
            for r in range(REQUESTS):
                if i == 0 and r == REQUESTS // 2:
                    restart_now.set()
                body = {"records": records[r * BATCH : (r + 1) * BATCH]}
                deadline = time.monotonic() + server.wait_s
                while True:
                    try:
                        response = http.post("/v1/predict", json=body, headers={"X-API-Key": key})
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline:
                            raise AssertionError(
                                f"server did not come back within {server.wait_s:.0f} s"
                            ) from None
                        time.sleep(0.1)  # the server is restarting: retry
                with lock:
                    statuses.append(response.status_code)
                if response.status_code == 200:
                    answered[i] += len(response.json()["predictions"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    assert restart_now.wait(timeout=server.wait_s)
    server.stop()
    server.start()
    for t in threads:
        t.join(timeout=2 * server.wait_s)
    assert not any(t.is_alive() for t in threads)
    assert all(s < 500 for s in statuses)
    assert statuses.count(200) == THREADS * REQUESTS, Counter(statuses)
    store = GuardStore(server.deployment.db_url)
    for i in range(THREADS):
        log = store.audit_log(f"c{i}")
        assert sum(r.records for r in log if r.event == "query") == answered[i] == REQUESTS * BATCH
        state = store.client_state(f"c{i}")
        assert state is not None
        assert state.queries == REQUESTS * BATCH
    store.close()


def test_cli_attack_against_the_running_service(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key_file = tmp_path / "red.key"
    key_file.write_text(server.deployment.keys["red"] + "\n")
    code = run(
        ["guard", "attack", "--url", server.url, "--key-file", str(key_file),
         "--kind", "equation-solving", "--budget", "100", "--budget", "200", "--eval-rows", "300"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "equation-solving extraction" in out
    assert "200" in out
