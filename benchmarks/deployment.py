"""Seconds per round: Flower's deployment engine vs the in-process grid, 3 plants (issue 13 #8).

Run: ``.venv/bin/python benchmarks/deployment.py [--rounds 3] [--local-epochs 2]``

The deployment is the one docs/federated.md describes, on 127.0.0.1: ``edgeshield fl superlink``
(TLS, SuperNode authentication), three plants registered with ``fl register``, each a
``flower-supernode --isolation process`` with an ``edgeshield fl plant`` executor, and a signed
app submitted with ``fl submit``. The in-process grid runs the same ServerApp and ClientApp in
this process. Both train the same configuration (SecAgg+, FedAvg, no DP, no pretraining) on the
same generated fleet; a round's seconds are the ServerApp's own ``RoundRecord.seconds`` (from
the fit stage's start to the round's record), so process start-up is reported apart.

Prints a table and writes ``benchmarks/results/deployment.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeshield.federated import (
    Engine,
    FederatedConfig,
    PlantRoster,
    generate_supernode_keys,
    generate_tls,
    generate_vendor_key,
    run_federated,
    sign_app,
    write_flower_app,
)
from edgeshield.usecase import FleetConfig, PlantDatabase, make_fleet, sqlite_url

RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Processes:
    """Started processes, each in its own session; all killed (whole groups) on exit."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.base, self.env, self.procs = base, env, list[subprocess.Popen[bytes]]()

    def start(self, name: str, cmd: list[str]) -> None:
        with (self.base / f"{name}.log").open("wb") as log:
            self.procs.append(
                subprocess.Popen(
                    cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )

    def run(self, cmd: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _deployment(config: FederatedConfig, url: str, base: Path) -> dict[str, Any]:
    """Start the federation, submit one run, return its rounds' seconds and the start-up time."""
    env = dict(os.environ, FLWR_TELEMETRY_ENABLED="0", FLWR_HOME=str(base / "flwr"))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    procs = _Processes(base, env)
    started = time.perf_counter()
    tls = generate_tls(base / "tls")
    vendor_key, vendor_pub = generate_vendor_key(base / "vendor")
    port, fleet_port = _port(), _port()
    (base / "flwr").mkdir()
    (base / "flwr" / "config.toml").write_text(
        f'[superlink]\ndefault = "local"\n\n[superlink.local]\n'
        f'address = "127.0.0.1:{port}"\nroot-certificates = "{tls.ca_cert}"\n'
    )
    roster = base / "roster.json"
    try:
        procs.start(
            "superlink",
            [
                str(BIN / "edgeshield"),
                "fl",
                "superlink",
                "--fleet-host",
                "127.0.0.1",
                "--fleet-port",
                str(fleet_port),
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
                str(base / "s.db"),
                "--enable-supernode-auth",
                "--disable-runtime-dependency-installation",
            ],
        )
        for i in range(config.plants):
            plant = f"plant-{i + 1}"
            private, public = generate_supernode_keys(base / "keys", plant)
            register = [str(BIN / "edgeshield"), "fl", "register", str(public)]
            for _ in range(120):  # until the SuperLink listens
                out = procs.run([*register, "--plant-id", plant, "--roster", str(roster)])
                if out.returncode == 0:
                    break
                time.sleep(1)
            else:
                raise SystemExit(f"error: fl register failed: {out.stderr.strip()}")
            runtime = _port()
            procs.start(
                f"supernode{i}",
                [
                    str(BIN / "flower-supernode"),
                    "--root-certificates",
                    str(tls.ca_cert),
                    "--superlink",
                    f"127.0.0.1:{fleet_port}",
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
                f"plant{i}",
                [
                    str(BIN / "edgeshield"),
                    "fl",
                    "plant",
                    "--vendor-key",
                    str(vendor_pub),
                    "--runtime-api",
                    f"127.0.0.1:{runtime}",
                ],
            )
        run_dir = base / "run"
        app = write_flower_app(base / "app", config, run_dir, roster=PlantRoster.load(roster))
        sign_app(app, vendor_key)
        startup = time.perf_counter() - started
        submitted = time.perf_counter()
        out = procs.run([str(BIN / "edgeshield"), "fl", "submit", str(app), "--wait", "3000"])
        wall = time.perf_counter() - submitted
        if out.returncode != 0:
            raise SystemExit(f"error: the deployed run failed: {out.stderr.strip()}")
        summary = json.loads((run_dir / "summary.json").read_text())
    finally:
        procs.stop()
    return {
        "seconds_per_round": [r["seconds"] for r in summary["rounds"]],
        "startup_seconds": startup,
        "submit_to_model_seconds": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--local-epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=3000, help="Rows of the 3-plant fleet.")
    args = parser.parse_args()
    config = FederatedConfig(
        plants=3,
        rounds=args.rounds,
        local_epochs=args.local_epochs,
        reference_rows=500,
        pretraining=None,
    )
    fleet = make_fleet(FleetConfig(plants=3, total_rows=args.rows), seed=0)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="edgeshield-deploy-") as tmp:
        base = Path(tmp)
        url = sqlite_url(base / "plants.sqlite")
        with PlantDatabase(url) as db:
            db.write_fleet(fleet.profiles, fleet.frames)
        deployed = _deployment(config, url, base / "deployment")
        local = run_federated(config, fleet, base / "in-process", engine=Engine.IN_PROCESS)
    in_process = {"seconds_per_round": [r.seconds for r in local.rounds]}
    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": load,
        },
        "config": config.to_dict(),
        "rows": args.rows,
        "deployment": deployed,
        "in_process": in_process,
    }
    median = {
        k: statistics.median(results[k]["seconds_per_round"]) for k in ("deployment", "in_process")
    }
    results["median_ratio"] = median["deployment"] / median["in_process"]
    print(f"3 plants, {args.rounds} rounds x {args.local_epochs} epochs, SecAgg+, {args.rows} rows")
    print(f"{'engine':<12} {'median s/round':>15} {'rounds (s)':>30}")
    for name in ("deployment", "in_process"):
        rounds = ", ".join(f"{s:.1f}" for s in results[name]["seconds_per_round"])
        print(f"{name:<12} {median[name]:>15.1f} {rounds:>30}")
    print(
        f"deployment start-up {deployed['startup_seconds']:.0f} s, submit to model"
        f" {deployed['submit_to_model_seconds']:.0f} s; ratio {results['median_ratio']:.1f}x"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "deployment.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
