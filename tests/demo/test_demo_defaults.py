"""The demo's defaults: DP on, the CLI's defaults equal DemoConfig's, ε and δ in the outcome."""

import dataclasses
import inspect
from pathlib import Path

import pytest

from edgeshield.cli._demo import demo
from edgeshield.demo import STEPS, DemoConfig, DemoContext
from edgeshield.federated import RecordDP

# CLI option name -> DemoConfig field, where they differ.
_RENAMED = {"epochs": "local_epochs", "dp": "dp_noise"}
_CLI_ONLY = {"runs_dir"}


def test_dp_is_on_by_default() -> None:
    assert DemoConfig().dp_noise is not None
    assert DemoConfig().dp_noise > 0


def test_cli_defaults_are_the_config_defaults() -> None:
    config = DemoConfig()
    fields = {f.name for f in dataclasses.fields(DemoConfig)}
    for name, param in inspect.signature(demo).parameters.items():
        if name in _CLI_ONLY:
            continue
        field = _RENAMED.get(name, name)
        assert field in fields, name
        default = getattr(config, field)
        if field == "hidden":  # the option is the widths comma-separated
            default = ",".join(map(str, default))
        assert param.default == default, name


@pytest.mark.slow
def test_federated_outcome_states_epsilon_and_delta(tmp_path: Path) -> None:
    config = DemoConfig(
        rows=1800, rounds=1, local_epochs=1, dp_noise=2.0, compare_fedavg=False, null_models=3
    )
    ctx = DemoContext(config=config, run_dir=tmp_path, progress=lambda _s, _d: None)
    record = [step(ctx) for step in STEPS[:2]][1]
    assert record.figures["record_epsilon"] > 0
    assert record.figures["record_delta"] == RecordDP().delta
    assert f"ε = {record.figures['record_epsilon']:.2f}" in record.outcome
    assert "δ = 1e-05" in record.outcome
