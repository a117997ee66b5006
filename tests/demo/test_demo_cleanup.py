"""A demo step that fails leaks nothing: the guard's server thread and port, client and database.

The demo's resources sit on one ``ExitStack`` (``DemoContext.resources``) that ``run_demo``
closes in reverse order however the run ends. The steps are swapped for cheap ones where the
real ones would train for minutes; the guard service itself is the real step 5.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from edgeshield.cli import run
from edgeshield.demo import (
    DemoConfig,
    DemoContext,
    LocalServer,
    StepRecord,
    _scenario,
    _steps_release,
    run_demo,
)
from edgeshield.demo._data import DemoData
from edgeshield.demo._steps_release import step_release, step_serve
from edgeshield.demo._steps_training import step_plants
from edgeshield.errors import DemoError
from edgeshield.federated import Engine
from edgeshield.guard import GuardStore
from edgeshield.ledger import ModelRegistryClient
from edgeshield.usecase import (
    FleetConfig,
    TrainConfig,
    default_schema,
    make_fleet,
    sqlite_url,
    train_classifier,
)

TINY = DemoConfig(
    plants=3,
    rows=900,
    rounds=1,
    local_epochs=1,
    bucket_size=1,
    malicious=0,
    compare_fedavg=False,
    null_models=3,
    attack_budget=100,
    thief_queries=100,
    benign_queries=100,
    engine=Engine.IN_PROCESS,
)


def _record(key: str) -> StepRecord:
    return StepRecord(key=key, title=key, outcome="", seconds=0.0)


def _fails(exc: BaseException) -> Callable[[DemoContext], StepRecord]:
    def step(_ctx: DemoContext) -> StepRecord:
        raise exc

    return step


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> list[LocalServer]:
    """Every LocalServer the guard step starts, to check its thread and port afterwards."""
    started: list[LocalServer] = []

    class Recorded(LocalServer):
        def start(self) -> LocalServer:
            started.append(self)
            return super().start()

    monkeypatch.setattr(_steps_release, "LocalServer", Recorded)
    return started


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """The threads of before the test, and no others, once it is done (a grace for joins)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 10
    while (extra := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not extra, f"threads left running: {sorted(t.name for t in extra)}"


def _assert_closed(started: list[LocalServer], run_dir: Path) -> None:
    assert started, "the step under test started no server"
    for server in started:
        assert not server.running
        with socket.socket() as probe:  # the port is free again
            probe.bind(("127.0.0.1", server.port))
    fds = Path("/proc/self/fd")
    if fds.is_dir():  # Linux: no file of the run is still open (database engines disposed)
        open_files = []
        for fd in fds.iterdir():
            try:
                open_files.append(os.readlink(fd))
            except OSError:
                continue
        assert not [f for f in open_files if f.startswith(str(run_dir))]


def _tiny_model_and_registry(ctx: DemoContext) -> StepRecord:
    """Stand-in for training and the on-chain record: a small classifier, a registry."""
    state = ctx.state
    assert state.chain is not None
    fleet = make_fleet(FleetConfig(plants=3, total_rows=900), seed=0)
    state.data = DemoData(schema=default_schema(), plants=dict(fleet.frames), fleet=fleet)
    rows = fleet.frames[fleet.plant_ids[0]]
    state.classifier = train_classifier(rows, TrainConfig(epochs=1), seed=0)
    state.registry = ModelRegistryClient.create(state.chain, owner=state.accounts["owner"])
    return _record("setup")


def test_failing_early_step_is_one_error_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_leaks: None,
) -> None:
    """The CLI: one ``error:`` line, exit 1, and the steps before the failure in the report."""
    boom = _fails(DemoError("step 'federated' failed: injected"))
    monkeypatch.setattr(_scenario, "STEPS", (step_plants, boom, step_release))
    args = ["demo", "--plants", "3", "--rows", "900", "--bucket-size", "1", "--malicious", "0"]
    assert run([*args, "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: step 'federated' failed: injected"]
    (run_dir,) = tmp_path.iterdir()
    assert (
        '"failed": "step \'federated\' failed: injected"' in (run_dir / "result.json").read_text()
    )


def test_failure_after_the_guard_started_closes_server_client_and_store(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    servers: list[LocalServer],
    no_leaks: None,
) -> None:
    """Step 5 fails at its first query, with the server, client and store open."""

    clients: list[httpx.Client] = []

    class Broken:
        def __init__(self, http: httpx.Client, *_args: Any, **_kwargs: Any) -> None:
            clients.append(http)

        def query(self, *_args: Any, **_kwargs: Any) -> Any:
            raise DemoError("step 'serve' failed: injected after the server started")

    monkeypatch.setattr(_steps_release, "GuardClient", Broken)
    steps = (_tiny_model_and_registry, step_release, step_serve, _fails(AssertionError("ran")))
    monkeypatch.setattr(_scenario, "STEPS", steps)
    result = run_demo(TINY, tmp_path / "run")
    assert result.failed == "step 'serve' failed: injected after the server started"
    assert [s.key for s in result.steps] == ["setup", "release"]
    _assert_closed(servers, tmp_path / "run")
    assert clients
    assert all(client.is_closed for client in clients)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), RuntimeError("a bug in a step")])
def test_interrupt_or_bug_propagates_after_everything_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException, no_leaks: None
) -> None:
    """Ctrl-C or an unexpected error is not swallowed, and still closes what steps opened."""
    opened: list[LocalServer] = []
    stores: list[GuardStore] = []

    def serve(ctx: DemoContext) -> StepRecord:
        store = GuardStore(sqlite_url(ctx.run_dir / "state.db"))
        ctx.resources.callback(store.close)
        stores.append(store)
        opened.append(ctx.resources.enter_context(LocalServer(FastAPI())))
        return _record("serve")

    monkeypatch.setattr(_scenario, "STEPS", (serve, _fails(exc)))
    with pytest.raises(type(exc)):
        run_demo(TINY, tmp_path / "run")
    _assert_closed(opened, tmp_path / "run")
