"""``edgeshield guard serve`` as a real uvicorn process: hostile bodies, workers, shutdown.

Issue 15: a 200 KB body of ``[`` segfaulted the served process (the CLI had loaded py_ecc,
which raises the recursion limit to 100,000); ``--workers 2`` never started; SIGTERM did not
stop the supervisor. Each test drives the command an operator runs.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from guard_kit import OPERATOR_TOKEN, GuardProcess, Kit, write_deployment

from edgeshield.cli import run
from edgeshield.guard import OutputTier, records_from_frame

pytestmark = pytest.mark.slow

LIMIT = 1_000_000  # the default body limit


@pytest.fixture(scope="module")
def server(kit: Kit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardProcess]:
    directory = tmp_path_factory.mktemp("serve")
    deployment = write_deployment(kit, directory, tiers={"c": OutputTier.LABEL_ONLY})
    process = GuardProcess(deployment, env={"EDGESHIELD_GUARD_BODY_TIMEOUT_S": "2"}).start()
    yield process
    process.stop()


def _depths() -> list[int]:
    """Every depth to 64, then a geometric sweep to the deepest body the limit admits."""
    depths = list(range(1, 65))
    d = 64
    while d < LIMIT // 2:
        d = int(d * 1.5)
        depths.append(min(d, LIMIT // 2))
    return depths


def _alive(server: GuardProcess, http: httpx.Client) -> bool:
    return server.alive() and http.get("/v1/health").status_code == 200


def test_nested_bodies_of_every_depth_get_4xx_and_the_server_lives(
    server: GuardProcess, kit: Kit
) -> None:
    key = server.deployment.keys["c"]
    headers = {"X-API-Key": key, "content-type": "application/json"}
    with httpx.Client(base_url=server.url, timeout=120) as http:
        for depth in _depths():
            for body in (
                b"[" * depth + b"]" * depth,
                b'{"a":' * depth + b"1" + b"}" * depth,
                b"[" * min(2 * depth, LIMIT),  # unbalanced, up to the whole limit
            ):
                for sent in (headers, {"content-type": "application/json"}):
                    answer = http.post("/v1/predict", content=body, headers=sent)
                    assert 400 <= answer.status_code < 500, (depth, answer.text)
                    if "X-API-Key" not in sent and len(body) <= LIMIT:
                        assert answer.status_code == 401  # the body was never parsed
            assert server.alive(), server.output()
        assert _alive(server, http)
        record = records_from_frame(kit.frames["plant-3"].iloc[:1])
        ok = http.post("/v1/predict", json={"records": record}, headers={"X-API-Key": key})
        assert ok.status_code == 200


def test_serve_says_where_it_listens_and_logs_each_request_without_body_or_key(
    server: GuardProcess, kit: Kit
) -> None:
    key = server.deployment.keys["c"]
    record = records_from_frame(kit.frames["plant-3"].iloc[:1])
    with httpx.Client(base_url=server.url, timeout=120) as http:
        assert http.post("/v1/predict", json={"records": record}, headers={"X-API-Key": key})
    output = server.output(tail=None)
    assert f"guard: listening on http://127.0.0.1:{server.port} (1 worker)" in output
    assert '"POST /v1/predict HTTP/1.1" 200' in output
    assert key not in output
    assert "torque_nm" not in output  # no request body


def test_streamed_over_limit_body_is_413(server: GuardProcess) -> None:
    key = server.deployment.keys["c"]

    def chunks() -> Iterator[bytes]:
        for _ in range(LIMIT // 65_536 + 2):
            yield b" " * 65_536

    with httpx.Client(base_url=server.url, timeout=120) as http:
        answer = http.post(
            "/v1/predict",
            content=chunks(),
            headers={"X-API-Key": key, "content-type": "application/json"},
        )
        assert "content-length" not in answer.request.headers  # chunked
        assert answer.status_code == 413
        assert _alive(server, http)


def test_a_body_shorter_than_declared_gets_408(server: GuardProcess) -> None:
    key = server.deployment.keys["c"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"X-API-Key: {key}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"records": ['
        )
        reply = sock.recv(4096)  # blocks until the server gives up on the body
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert _alive(server, http)


def _head_reply(port: int, head: bytes, *, timeout: float = 60) -> bytes:
    """Send ``head`` on a fresh connection (the server may close it midway); what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            for start in range(0, len(head), 65_536):
                sock.sendall(head[start : start + 65_536])
        except OSError:
            pass  # the server closed the connection before the whole head was sent
        try:
            return sock.recv(4096)
        except OSError:
            return b""


def test_a_huge_request_head_gets_400_and_the_server_lives(server: GuardProcess) -> None:
    """No key needed: a 100 MB header once cost the event loop 20 s of CPU (httptools)."""
    for name in (b"X-Pad", b"X-API-Key"):
        head = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + name + b": " + b"a" * 4_000_000
        reply = _head_reply(server.port, head + b"\r\n\r\n")
        assert reply == b"" or reply.startswith(b"HTTP/1.1 400"), reply[:200]
    many = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 100) for i in range(2_000))
    reply = _head_reply(server.port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert reply == b"" or reply.startswith(b"HTTP/1.1 400"), reply[:200]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert _alive(server, http)
        # an ordinary head with a few KB of headers still passes
        assert http.get("/v1/health", headers={"X-Pad": "c" * 8_000}).status_code == 200


@pytest.mark.parametrize("start", [b"", b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n"])
def test_a_request_head_that_never_completes_is_closed(server: GuardProcess, start: bytes) -> None:
    """A client that opens a connection and never ends a request head loses it (no answer)."""
    from edgeshield._http import HEAD_TIMEOUT_S

    with socket.create_connection(("127.0.0.1", server.port), timeout=HEAD_TIMEOUT_S + 30) as sock:
        sock.sendall(start)
        assert sock.recv(4096) == b""  # the server closed it at the deadline
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert _alive(server, http)


def test_serve_without_the_secret_names_the_variable(
    kit: Kit,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployment = write_deployment(kit, tmp_path, tiers={"c": OutputTier.LABEL_ONLY})
    monkeypatch.delenv("EDGESHIELD_GUARD_WATERMARK_SECRET", raising=False)
    assert run(["guard", "serve", *deployment.args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: EDGESHIELD_GUARD_WATERMARK_SECRET is not set")
    assert err.count("\n") == 1


def test_two_workers_both_answer_and_sigterm_stops_them(kit: Kit, tmp_path: Path) -> None:
    deployment = write_deployment(kit, tmp_path, tiers={"c": OutputTier.LABEL_ONLY})
    process = GuardProcess(deployment, extra_args=["--workers", "2"]).start()
    try:
        pids: set[int] = set()
        operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        for _ in range(400):  # new connections until both workers have answered
            with httpx.Client(base_url=process.url, timeout=60) as http:
                pids.add(http.get("/v1/health/details", headers=operator).json()["pid"])
            if len(pids) == 2:
                break
        assert len(pids) == 2, process.output()
        assert process.proc is not None
        assert process.proc.pid not in pids  # the supervisor is `guard serve` itself (exec)
    finally:
        process.stop()
    assert process.proc is not None
    assert process.proc.returncode is not None  # stopped by SIGTERM, not killed after 60 s
    assert process.proc.returncode == 0, process.proc.returncode
