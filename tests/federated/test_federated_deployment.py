"""Flower's deployment engine on 127.0.0.1: one SuperLink, SuperNodes with `edgeshield fl plant`
executors, TLS, SuperNode authentication, the vendor's app signature and plant roster; the
attacker's side (an outsider, unsigned apps, a registered rogue node claiming a plant's id) next
to the honest run, and plants killed mid-round.

All tests share one federation (starting one costs minutes on a busy machine); the dropout test
kills plants, so it runs last (pytest keeps the file's order). Every plant holds rows of two
dataset schemas, a table each (AI4I 2020 and breast cancer, issue 19), and its executor reads
the one a run trains on (``fl plant --schema ai4i2020 --schema breast_cancer``): the honest run
trains on AI4I, the dropout run on breast cancer, with no second federation."""

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
    PlantRoster,
    RecordDP,
    generate_supernode_keys,
    generate_tls,
    generate_vendor_key,
    sign_app,
    write_flower_app,
)
from edgeshield.usecase import (
    Fleet,
    FleetConfig,
    PlantDatabase,
    PlantProfile,
    load_classifier,
    load_schema,
    make_fleet,
    read_table,
    split_rows,
    sqlite_url,
    stratified_split,
)

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent

#: Flower's SuperNode (``flower-supernode``) with its heartbeat at the shortest interval the
#: SuperLink accepts (10 s) instead of Flower's default 30 s, which the command has no flag
#: for: the SuperLink then declares a killed plant offline after 20 s (two missed heartbeats)
#: instead of 60 s. The same code and protocol; only the dropout test's wait is shorter.
SUPERNODE = [
    sys.executable,
    "-c",
    "import sys, flwr.common.constant as c;"
    " c.HEARTBEAT_DEFAULT_INTERVAL = c.HEARTBEAT_MIN_INTERVAL;"
    " from flwr.supernode.cli import flower_supernode;"
    " sys.argv[0] = 'flower-supernode'; sys.exit(flower_supernode())",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Processes:
    """Processes started by one test; all are killed (whole process groups) at teardown."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.base, self.env = base, env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.named: dict[str, subprocess.Popen[bytes]] = {}

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
        self.named[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL one started process's group: a plant machine that dies without a word."""
        proc = self.named[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def run(
        self, cmd: list[str], env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd,
            env=env or self.env,
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=timeout,
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


def _env(base: Path) -> dict[str, str]:
    return dict(
        os.environ,
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_HOME=str(base / "flwr"),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )


def test_tls_files_are_a_valid_chain_for_loopback(tmp_path: Path) -> None:
    tls = generate_tls(tmp_path)
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert oct(tls.server_key.stat().st_mode)[-3:] == "600"


class _Federation:
    """A SuperLink, ``n`` authenticated SuperNodes and their plant executors, all on loopback.

    The plants are registered with ``edgeshield fl register`` (SuperLink and roster). A rogue
    SuperNode is registered on the SuperLink alone (``flwr supernode register``: a key the
    vendor once registered, not a plant of this roster), claims the first plant's
    ``plant-id`` in its node config and runs an executor that would answer any task.
    """

    def __init__(
        self,
        base: Path,
        procs: _Processes,
        plants: int,
        plant_args: list[str],
        breast_cancer_csv: Path,
    ) -> None:
        self.base, self.procs = base, procs
        self.fleet: Fleet = make_fleet(FleetConfig(plants=plants, total_rows=500 * plants), seed=0)
        self.url = sqlite_url(base / "plants.sqlite")
        with PlantDatabase(self.url) as db:
            db.write_fleet(self.fleet.profiles, self.fleet.frames)
        # The same plants' breast-cancer rows, in that schema's own table of the same database;
        # the vendor's public reference rows are none of theirs.
        self.breast = load_schema("breast_cancer")
        rows, self.reference = stratified_split(
            read_table(breast_cancer_csv, self.breast), test_fraction=0.2, schema=self.breast
        )
        parts = split_rows(rows, plants, seed=0, schema=self.breast)
        with PlantDatabase(self.url, schema=self.breast) as db:
            for plant, frame in zip(self.fleet.plant_ids, parts.values(), strict=True):
                db.write_plant(plant, frame)
        first: PlantProfile = self.fleet.profiles[0]
        self.rogue_url = sqlite_url(base / "rogue.sqlite")
        with PlantDatabase(self.rogue_url) as db:
            db.write_plant(first.plant_id, self.fleet.frames[first.plant_id].iloc[:100], first)
        self.roster = base / "roster.json"
        self.tls = generate_tls(base / "tls")
        self.vendor_key, vendor_pub = generate_vendor_key(base / "vendor")
        self.port = _free_port()
        (base / "flwr").mkdir()
        (base / "flwr" / "config.toml").write_text(
            f'[superlink]\ndefault = "local"\n\n[superlink.local]\n'
            f'address = "127.0.0.1:{self.port}"\nroot-certificates = "{self.tls.ca_cert}"\n'
        )
        self.fleet_port = _free_port()
        procs.start(
            "superlink",
            [
                str(BIN / "edgeshield"),
                "fl",
                "superlink",
                "--fleet-host",
                "127.0.0.1",
                "--fleet-port",
                str(self.fleet_port),
                "--ssl-ca-certfile",
                str(self.tls.ca_cert),
                "--ssl-certfile",
                str(self.tls.server_cert),
                "--ssl-keyfile",
                str(self.tls.server_key),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--database",
                str(base / "state.db"),
                "--enable-supernode-auth",
                "--disable-runtime-dependency-installation",
            ],
        )
        nodes = [(f"plant{i}", p, self.url) for i, p in enumerate(self.fleet.plant_ids)]
        nodes.append(("rogue", self.fleet.plant_ids[0], self.rogue_url))
        for i, (name, plant, url) in enumerate(nodes):
            private, public = generate_supernode_keys(base / "keys", name)
            register = [str(BIN / "flwr"), "supernode", "register", str(public)]
            if name != "rogue":
                register = [str(BIN / "edgeshield"), "fl", "register", str(public)]
                register += ["--plant-id", plant, "--roster", str(self.roster)]
            for _ in range(60):  # the SuperLink needs a moment to listen (busy machines: more)
                registered = procs.run(register)
                if registered.returncode == 0:
                    break
                time.sleep(1)
            assert registered.returncode == 0, registered.stdout + registered.stderr
            runtime = _free_port()
            procs.start(
                f"supernode-{name}",
                [
                    *SUPERNODE,
                    "--root-certificates",
                    str(self.tls.ca_cert),
                    "--superlink",
                    f"127.0.0.1:{self.fleet_port}",
                    "--isolation",
                    "process",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(runtime),
                    "--auth-supernode-private-key",
                    str(private),
                    "--node-config",
                    f"plant-id='{plant}' db-url='{url}' partition-id={i}",
                ],
            )
            procs.start(
                name,
                [
                    str(BIN / "edgeshield"),
                    "fl",
                    "plant",
                    "--vendor-key",
                    str(vendor_pub),
                    "--runtime-api",
                    f"127.0.0.1:{runtime}",
                    *plant_args,
                ],
            )

    def app(
        self, name: str, config: FederatedConfig, *, signed: bool, breast: bool = False
    ) -> Path:
        """A Flower App for ``config`` (on the breast-cancer rows with ``breast``)."""
        roster = PlantRoster.load(self.roster)
        data = {"schema": self.breast, "reference": self.reference} if breast else {}
        app = write_flower_app(
            self.base / name, config, self.base / f"run-{name}", roster=roster, **data
        )
        if signed:
            sign_app(app, self.vendor_key)
        return app

    def submit(self, app: Path) -> int:
        """``flwr run``; the run's ID."""
        out = self.procs.run([str(BIN / "flwr"), "run", str(app), "--format", "json"])
        assert out.returncode == 0, out.stdout + out.stderr
        return int(json.loads(out.stdout)["run-id"])

    def submit_cli(self, app: Path) -> subprocess.CompletedProcess[str]:
        """``edgeshield fl submit``: submit, follow, exit non-zero on failure."""
        return self.procs.run(
            [str(BIN / "edgeshield"), "fl", "submit", str(app), "--wait", "420"], timeout=600
        )

    def wait(self, run_id: int, bound: float = 420) -> str:
        """Poll ``flwr ls`` until the run finished; its final status (no timed assertion).

        Every 5 s: each ``flwr ls`` is a new Python process that loads Flower's CLI."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            out = self.procs.run(
                [str(BIN / "flwr"), "ls", "--run-id", str(run_id), "--format", "json"]
            )
            if out.returncode == 0:
                status = str(json.loads(out.stdout)["runs"][0]["status"])
                if status.startswith("finished"):
                    return status
            time.sleep(5)
        raise AssertionError(f"run {run_id} did not finish; logs in {self.base}")

    def log(self, name: str) -> str:
        return (self.base / f"{name}.log").read_text(errors="replace")


#: Every plant's policy: SecAgg+ (the default) and record-level DP of noise >= 0.8, clip <= 1;
#: its rows follow either of two dataset schemas.
POLICY = ["--min-dp-noise", "0.8", "--max-dp-clip", "1.0"]
SCHEMAS = ["--schema", "ai4i2020", "--schema", "breast_cancer"]


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory, breast_cancer_csv: Path
) -> Iterator[_Federation]:
    """One federation for the module's tests (starting one costs a minute on a busy machine)."""
    base = tmp_path_factory.mktemp("federation")
    procs = _Processes(base, _env(base))
    try:
        yield _Federation(
            base,
            procs,
            plants=3,
            plant_args=[*POLICY, *SCHEMAS],
            breast_cancer_csv=breast_cancer_csv,
        )
    finally:
        procs.stop()


def _config(**fields: object) -> FederatedConfig:
    base: dict[str, object] = {
        "plants": 3,
        "rounds": 1,
        "stage_wait": 10.0,
        "local_epochs": 1,
        "reference_rows": 300,
        "record_dp": RecordDP(noise_multiplier=1.0, max_grad_norm=1.0),
    }
    return FederatedConfig(**(base | fields))  # type: ignore[arg-type]


def test_an_outsider_with_the_ca_certificate_cannot_register_or_submit(
    federation: _Federation, tmp_path: Path
) -> None:
    """The plants' listener serves the Fleet API only: no node registration, no run."""
    home = tmp_path / "outsider"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "link"\n\n[superlink.link]\n'
        f'address = "127.0.0.1:{federation.fleet_port}"\n'
        f'root-certificates = "{federation.tls.ca_cert}"\n'
    )
    env = dict(federation.procs.env, FLWR_HOME=str(home))
    _, rogue = generate_supernode_keys(tmp_path, "rogue")
    register = federation.procs.run([str(BIN / "flwr"), "supernode", "register", str(rogue)], env)
    assert register.returncode != 0
    roster = PlantRoster.load(federation.roster)
    app = write_flower_app(tmp_path / "app", _config(), tmp_path / "run", roster=roster)
    submit = federation.procs.run([str(BIN / "flwr"), "run", str(app)], env)
    assert submit.returncode != 0
    assert not (tmp_path / "run").exists()
    assert "refused /v1/control/" in federation.log("superlink")


def test_an_unsigned_app_is_refused_by_every_plant(federation: _Federation) -> None:
    foreign = federation.submit(federation.app("foreign", _config(), signed=False))
    assert federation.wait(foreign) == "finished:failed"
    for i in range(3):
        assert f"refused run {foreign}: the Flower App is not signed by the vendor's key" in (
            federation.log(f"plant{i}")
        )
    assert not (federation.base / "run-foreign" / "model").exists()


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"summary.json holds a bare {constant}")

    return json.loads(text, parse_constant=refuse)


def test_a_run_weaker_than_the_plants_dp_floor_is_refused_and_fails_loudly(
    federation: _Federation,
) -> None:
    weak = _config(record_dp=RecordDP(noise_multiplier=0.3, max_grad_norm=1.0))
    app = federation.app("weak", weak, signed=True)
    out = federation.submit_cli(app)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.count("error:") == 1
    run_id = int(out.stdout.split("run ", 1)[1].split()[0])
    for i in range(3):
        assert f"refused run {run_id}: plant policy: record-level DP noise multiplier" in (
            federation.log(f"plant{i}")
        )
    run = federation.base / "run-weak"
    assert not (run / "model").exists()
    assert (run / "error.json").exists()


def test_the_vendors_signed_app_trains_across_the_plants(federation: _Federation) -> None:
    """The roster's three plants train; the registered rogue claiming plant-1 is never asked."""
    app = federation.app("honest", _config(), signed=True)
    out = federation.submit_cli(app)
    assert out.returncode == 0, out.stdout + out.stderr
    run = federation.base / "run-honest"
    summary = _strict((run / "summary.json").read_text())
    assert isinstance(summary, dict)
    (record,) = summary["rounds"]
    assert record["participants"] == 3
    assert record["contributors"] == sorted(federation.fleet.plant_ids)
    assert record["absent"] == []
    assert "answered run" not in federation.log("rogue")
    assert all("answered run" in federation.log(f"plant{i}") for i in range(3))
    participation = summary["participation"]
    assert participation["roster"] == sorted(federation.fleet.plant_ids)
    assert (participation["min_plants"], participation["stage_wait_seconds"]) == (2, 10.0)
    # under DP a plant sends the model update alone: no metrics, counts or plant-reported name
    assert record["plants"] == {}
    assert record["digest"].startswith("sha256:")
    privacy = summary["privacy"]
    assert privacy["level"] == "record"
    assert privacy["epsilon"] > 0
    assert privacy["threshold"] == "chosen by the server on public data"
    assert (privacy["sigma"], privacy["clip"], privacy["delta"]) == (1.0, 1.0, 1e-5)
    model = load_classifier(run / "model")
    assert model.threshold == record["threshold"]
    assert summary["dataset_schema"]["name"] == model.schema.name == "ai4i2020"
    card = json.loads((run / "model" / "model_card.json").read_text())
    assert card["metrics"]["federated_rounds"] == 1
    assert card["metrics"]["dp_sigma"] == 1.0
    # a second run into the same directory is refused before anything is submitted
    again = federation.submit_cli(app)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert load_classifier(run / "model").threshold == model.threshold


def _submit_in_background(
    federation: _Federation, name: str, *, breast: bool = False
) -> tuple[int, str]:
    """Start ``fl submit`` for a fresh signed one-round app; its run ID and process name.

    One round: every stage after a plant died waits ``stage_wait`` for it, so a second round
    would only add those waits (the roster logic is the same in every round)."""
    app = federation.app(name, _config(pretraining=None), signed=True, breast=breast)
    proc = f"submit-{name}"
    federation.procs.start(
        proc, [str(BIN / "edgeshield"), "fl", "submit", str(app), "--wait", "540"]
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "submitted" in (log := federation.log(proc)):
            return int(log.split("run ", 1)[1].split()[0]), proc
        time.sleep(0.5)
    raise AssertionError(f"fl submit printed no run ID; logs in {federation.base}")


def _kill_plant_after_its_first_answer(federation: _Federation, plant: int, run_id: int) -> None:
    """Kill a plant's SuperNode and executor once it answered the run's first message."""
    deadline = time.monotonic() + 300
    while f"answered run {run_id}" not in federation.log(f"plant{plant}"):
        assert time.monotonic() < deadline, f"plant{plant} never answered run {run_id}"
        time.sleep(0.2)
    federation.procs.kill(f"supernode-plant{plant}")
    federation.procs.kill(f"plant{plant}")


def _exit_code(federation: _Federation, proc: str) -> int:
    return federation.procs.named[proc].wait(timeout=600)


def test_dropouts_one_plant_killed_leaves_a_model_too_few_plants_stop_the_run(
    federation: _Federation,
) -> None:
    """Plant 3 dies after its first SecAgg+ answer: the run goes on with two (the threshold)
    and records the dropout. Then a run whose threshold needs all three plants, with plant 3
    still dead: after the stage wait it stops loudly (exit 1, one error line, no model). Runs
    last: it kills a plant of the shared federation.

    Each death costs the SuperLink's heartbeat expiry (two missed heartbeats: 20 s with the
    SuperNodes' 10 s interval, see ``SUPERNODE``) before the round goes on, so a second
    mid-round death (too many dropouts to unmask) is left to
    ``test_cli_exits_non_zero_when_secagg_cannot_reconstruct`` on the in-process grid: the
    same workflow code, without that wait in the suite.

    The first run trains on the plants' breast-cancer rows (the app carries that schema and
    the vendor's public reference rows): its model card names the schema and its digest."""
    run_id, proc = _submit_in_background(federation, "drop-one", breast=True)
    _kill_plant_after_its_first_answer(federation, 2, run_id)
    assert _exit_code(federation, proc) == 0, federation.log(proc)
    run = federation.base / "run-drop-one"
    summary = _strict((run / "summary.json").read_text())
    assert isinstance(summary, dict)
    dead = federation.fleet.plant_ids[2]
    assert [r["absent"] for r in summary["rounds"]] == [[dead]]
    assert [r["participants"] for r in summary["rounds"]] == [2]
    assert summary["participation"]["min_plants"] == 2
    model = load_classifier(run / "model")
    assert model.threshold == summary["rounds"][-1]["threshold"]
    breast = federation.breast
    assert summary["dataset_schema"] == {"name": "breast_cancer", "sha256": breast.digest}
    card = json.loads((run / "model" / "model_card.json").read_text())
    assert card["dataset_schema_sha256"] == breast.digest == model.schema.digest
    assert card["dataset_schema"]["name"] == "breast_cancer"

    app = federation.app(
        "too-few",
        _config(pretraining=None, secagg_threshold=1.0, stage_wait=5.0),
        signed=True,
    )
    out = federation.submit_cli(app)
    assert out.returncode == 1, out.stdout + out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.stderr
    assert "only 2 of 3 plants connected" in errors[0]
    run = federation.base / "run-too-few"
    assert not (run / "model").exists()
    assert (run / "error.json").exists()
