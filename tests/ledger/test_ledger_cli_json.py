"""``edgeshield ledger … --json``: one JSON object on standard output, for scripts (issue 20).

``call`` and ``events`` need a node that outlives one command; here the CLI is pointed at the
session's embedded chain instead, so deploy, call and events see the same contract.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgeshield.cli import _ledger, run
from edgeshield.ledger import Chain, CompilerConfig, slither_available, specs_dir

LICENCE = str(specs_dir() / "model_licence.yaml")
REGISTRY = str(specs_dir() / "model_registry.yaml")
DIGEST = "0x" + "ab" * 32


def _json(argv: list[str], capsys: pytest.CaptureFixture[str], *, code: int = 0) -> Any:
    """Run ``argv``; its standard output must be exactly one line of JSON."""
    assert run(argv) == code
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return json.loads(out)


@pytest.fixture
def shared_chain(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> Chain:
    """Every ledger command of the test uses the session's embedded chain."""
    monkeypatch.setattr(_ledger, "_chain", lambda *_args, **_kwargs: chain)
    return chain


def test_deploy_json_on_the_embedded_chain(capsys: pytest.CaptureFixture[str]) -> None:
    deployed = _json(["ledger", "deploy", REGISTRY, "--json"], capsys)
    assert deployed["contract"] == "ModelRegistry"
    assert deployed["address"].startswith("0x")
    assert deployed["embedded"] is True  # the note about the embedded chain is a field here
    assert deployed["deploy_gas"] > 0
    assert deployed["state"] == "Unregistered"


def test_call_and_events_json(shared_chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    address = _json(["ledger", "deploy", REGISTRY, "--json"], capsys)["address"]
    call = ["ledger", "call", REGISTRY, address]
    sent = _json(
        [*call, "register", "--arg", f"digest={DIGEST}", "--arg", "uri=edgeshield://m", "--json"],
        capsys,
    )
    assert sent["function"] == "register"
    assert sent["state"] == "Registered"
    assert sent["tx_hash"].startswith("0x")
    assert sent["gas_used"] > 0
    assert [event["name"] for event in sent["events"]] == ["Register"]
    assert sent["events"][0]["args"]["digest"] == DIGEST  # bytes32 as 0x hex, as --arg takes it
    assert _json([*call, "state", "--json"], capsys) == {"function": "state", "value": "Registered"}
    read = _json([*call, "modelDigest", "--json"], capsys)
    assert read == {"function": "modelDigest", "value": DIGEST}
    counter = _json([*call, "transitionCounter", "--json"], capsys)
    assert isinstance(counter["value"], int)

    events = _json(["ledger", "events", REGISTRY, address, "--json"], capsys)["events"]
    assert events == sent["events"]
    assert all(isinstance(event["block_number"], int) for event in events)


def test_compile_json(compiler: CompilerConfig, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["ledger", "compile", REGISTRY, "--cache-dir", str(compiler.cache_dir), "--json"]
    compiled = _json(argv, capsys)
    assert compiled["contract"] == "ModelRegistry"
    assert compiled["evm_version"] == "prague"
    assert compiled["source_digest"].startswith("sha256:")
    assert compiled["runtime_bytes"] > 0
    assert compiled["output"] is None


def test_verify_json_with_a_holding_and_a_failing_property(
    capsys: pytest.CaptureFixture[str],
) -> None:
    holds = "reportUsage cannot happen after revoke"
    result = _json(["ledger", "verify", LICENCE, "-p", holds, "--json"], capsys)
    assert result["contract"] == "ModelLicence"
    assert result["states_explored"] > 0
    assert result["properties"] == [
        {"property": holds, "holds": True, "explanation": result["properties"][0]["explanation"]}
    ]
    assert result["failed"] == 0
    assert result["smt"] is None

    fails = "reportUsage cannot happen after accept"
    result = _json(["ledger", "verify", LICENCE, "-p", fails, "--json"], capsys, code=1)
    assert result["properties"][0]["holds"] is False
    assert result["failed"] == 1


@pytest.mark.skipif(not slither_available(), reason="Slither is not installed")
def test_analyse_json(capsys: pytest.CaptureFixture[str]) -> None:
    result = _json(["ledger", "analyse", REGISTRY, "--json"], capsys)
    assert result["contracts"] == ["ModelRegistry"]
    assert result["serious"] == 0
    assert all({"check", "impact", "description"} <= set(f) for f in result["findings"])


@pytest.mark.parametrize(
    "argv",
    [
        ["ledger", "deploy", LICENCE, "--json"],
        ["ledger", "call", LICENCE, "0x" + "00" * 20, "state", "--json"],
        ["ledger", "verify", "no/such/spec.yaml", "--json"],
    ],
)
def test_json_errors_stay_one_line_on_stderr(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert captured.err.count("\n") == 1
