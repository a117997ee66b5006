"""``edgeshield ledger`` commands, through the CLI's error boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.ledger import generate_solidity, shipped_spec, specs_dir

LICENCE = str(specs_dir() / "model_licence.yaml")
REGISTRY = str(specs_dir() / "model_registry.yaml")


def test_generate_prints_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ledger", "generate", REGISTRY]) == 0
    assert capsys.readouterr().out == generate_solidity(shipped_spec("ModelRegistry"))


def test_generate_to_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "Licence.sol"
    assert run(["ledger", "generate", LICENCE, "-o", str(out), "--evm-version", "shanghai"]) == 0
    assert "evmVersion shanghai" in out.read_text()
    assert "wrote" in capsys.readouterr().out


def test_compile_writes_an_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "artifact.json"
    code = run(["ledger", "compile", REGISTRY, "-o", str(out), "--cache-dir", str(tmp_path)])
    assert code == 0
    artifact = json.loads(out.read_text())
    assert artifact["name"] == "ModelRegistry"
    assert artifact["evmVersion"] == "prague"
    assert "source sha256:" in capsys.readouterr().out


def test_deploy_on_the_embedded_chain(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--arg",
        "licensee=0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF",
        "--arg",
        "device=0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69",
        "--arg",
        "modelDigest=0x" + "11" * 32,
        "--arg",
        "pricePerUse=10",
        "--arg",
        "expiresAt=99999999999",
    ]
    assert run(["ledger", "deploy", LICENCE, *args]) == 0
    out = capsys.readouterr().out
    assert "ModelLicence deployed at 0x" in out
    assert "deploy gas:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ledger", "deploy", LICENCE], "missing --arg licensee"),
        (["ledger", "deploy", LICENCE, "--arg", "colour=red"], "NAME=VALUE"),
        (["ledger", "deploy", LICENCE, "--arg", "pricePerUse=ten"], "not an integer"),
        (["ledger", "call", LICENCE, "0x" + "00" * 20, "state"], "needs --rpc-url"),
        (["ledger", "events", LICENCE, "0x" + "00" * 20], "needs --rpc-url"),
        (["ledger", "generate", "no/such/spec.yaml"], "cannot read spec"),
        (["ledger", "deploy", REGISTRY, "--rpc-url", "ftp://x"], "http"),
    ],
)
def test_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
