"""What a command imports: the CLI loads a subcommand's stack only when that subcommand runs.

Each case runs in a fresh interpreter (the test process has long since imported everything)
and reports which heavy modules ended up in ``sys.modules`` and the recursion limit. No
timings here: ``benchmarks/cli_startup.py`` measures the CPU seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from edgeshield.cli._app import _ENTRIES, _load

# The stacks a gateway must not pay for unless a command needs them.
HEAVY = (
    "torch",
    "flwr",
    "ray",
    "opacus",
    "web3",
    "eth_tester",
    "py_ecc",
    "z3",
    "rdflib",
    "pyshacl",
    "lark",
    "sklearn",
    "matplotlib",
    "pandas",
    "scipy",
    "fastapi",
    "uvicorn",
    "sqlalchemy",
)

# Runs ``edgeshield ARGS`` (or only imports the CLI when ARGS is empty) and writes a report.
_PROBE = """
import json, sys
report, args = sys.argv[1], sys.argv[2:]
limit = sys.getrecursionlimit()
from edgeshield.cli import run
code = run(args) if args else 0
with open(report, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules), "limit": limit,
               "limit_after": sys.getrecursionlimit()}, f)
"""


def probe(tmp_path: Path, *args: str) -> dict[str, object]:
    """Run the CLI in a fresh interpreter; return its exit code, modules and recursion limits."""
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-c", _PROBE, str(report), *args],
        check=True,
        capture_output=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    result: dict[str, object] = json.loads(report.read_text())
    return result


def heavy(report: dict[str, object]) -> list[str]:
    modules = report["modules"]
    assert isinstance(modules, list)
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


def test_importing_the_cli_loads_no_heavy_stack_and_keeps_the_recursion_limit(
    tmp_path: Path,
) -> None:
    report = probe(tmp_path)
    assert heavy(report) == []
    assert report["limit_after"] == report["limit"]


def test_help_lists_every_command_without_loading_any(tmp_path: Path) -> None:
    report = probe(tmp_path, "--help")
    assert report["code"] == 0
    assert heavy(report) == []
    assert report["limit_after"] == report["limit"]
    modules = report["modules"]
    assert isinstance(modules, list)
    ours = {m for m in modules if m.startswith("edgeshield")}
    assert ours == {
        "edgeshield",
        "edgeshield._files",  # the config file's bounded reader: os and stat only
        "edgeshield.cli",
        "edgeshield.cli._app",
        "edgeshield.cli._config",
        "edgeshield.errors",
    }


def test_a_subcommand_loads_its_own_stack(tmp_path: Path) -> None:
    """The other side: running a federated command does import what it needs."""
    report = probe(tmp_path, "fl", "--help")
    assert report["code"] == 0
    assert {"flwr", "torch"} <= set(heavy(report))


def test_guard_commands_load_nothing_of_the_vendors_side(tmp_path: Path) -> None:
    """A gateway installs edgeshield[edge] only: the guard's commands (serve, and the attack
    client beside it) must not import Flower, Ray, Opacus, matplotlib or scikit-learn (the red
    team's membership attacks, the ownership report's plots and training load on first use)."""
    report = probe(tmp_path, "guard", "--help")
    assert report["code"] == 0
    assert {"torch", "fastapi"} <= set(heavy(report))
    vendors = {"flwr", "ray", "opacus", "matplotlib", "z3", "pyshacl", "sklearn"}
    assert vendors & set(heavy(report)) == set()


@pytest.fixture(scope="module")
def vault_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Owner and device keys and a safetensors model written without torch."""
    d = tmp_path_factory.mktemp("vault")
    save_file(
        {"w": np.arange(40, dtype=np.float32), "b": np.ones(3, dtype=np.float64)},
        str(d / "m.safetensors"),
    )
    return d


def vault_commands(d: Path) -> list[list[str]]:
    """Keygen, seal from a file, verify, inspect, licence issue and show, in that order."""
    return [
        ["vault", "keygen", "--kind", "owner", "--out", str(d / "owner")],
        ["vault", "keygen", "--kind", "device", "--out", str(d / "dev")],
        [
            "vault",
            "seal",
            str(d / "m.safetensors"),
            "--out",
            str(d / "m.esb"),
            "--owner-key",
            str(d / "owner.pem"),
            "--recipient",
            str(d / "dev.pub.pem"),
            "--model-id",
            "classifier",
        ],
        ["vault", "verify", str(d / "m.esb"), "--owner-public", str(d / "owner.pub.pem")],
        ["vault", "inspect", str(d / "m.esb")],
        [
            "vault",
            "licence",
            "issue",
            "--owner-key",
            str(d / "owner.pem"),
            "--device-public",
            str(d / "dev.pub.pem"),
            "--bundle",
            str(d / "m.esb"),
            "--out",
            str(d / "lic.txt"),
        ],
        [
            "vault",
            "licence",
            "show",
            str(d / "lic.txt"),
            "--owner-public",
            str(d / "owner.pub.pem"),
        ],
    ]


def test_vault_commands_run_without_torch(vault_dir: Path) -> None:
    for args in vault_commands(vault_dir):
        report = probe(vault_dir, *args)
        assert report["code"] == 0, args
        assert heavy(report) == [], args
        assert report["limit_after"] == report["limit"], args
    assert (vault_dir / "lic.txt").read_text().strip()


@pytest.mark.parametrize("name", list(_ENTRIES))
def test_the_listing_shows_each_commands_own_help(name: str) -> None:
    """The help-only stand-ins must not drift from the commands they stand for."""
    command = _load(name)
    assert command.name == name
    assert (command.help or "").strip().splitlines()[0] == _ENTRIES[name].help


def test_importing_the_ledger_keeps_the_recursion_limit(tmp_path: Path) -> None:
    """web3 (and py_ecc below it, which raises the limit) loads only when a chain is used."""
    report = tmp_path / "ledger.json"
    code = (
        "import json, sys; limit = sys.getrecursionlimit(); import edgeshield.ledger;"
        "json.dump([limit, sys.getrecursionlimit(), 'web3' in sys.modules], open(sys.argv[1], 'w'))"
    )
    subprocess.run([sys.executable, "-c", code, str(report)], check=True)
    before, after, web3_loaded = json.loads(report.read_text())
    assert (after, web3_loaded) == (before, False)


def test_a_command_of_a_missing_extra_names_the_extra(tmp_path: Path) -> None:
    """On a gateway's install (no Flower), ``fl run`` says which extra it needs in one line
    instead of "unexpected ModuleNotFoundError"."""
    code = "import sys; sys.modules['flwr'] = None; from edgeshield.cli import main; main()"
    args = ["fl", "run", "--plants", "2", "--rounds", "1", "--out", str(tmp_path / "run")]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: this command needs 'flwr', which this install lacks: "
        "pip install 'edgeshield[vendor]' (or `make setup` for everything)"
    ]
    assert not (tmp_path / "run").exists()
