"""DP-SGD that trains only the output layer: what is frozen stays, epsilon is the same."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeshield.cli import run
from edgeshield.demo import DemoConfig
from edgeshield.demo._steps_training import _fl_config
from edgeshield.errors import ConfigError, FederatedError
from edgeshield.federated import (
    DPTrainable,
    FederatedConfig,
    PlantRoster,
    RecordDP,
    config_from_dict,
    privacy_statement,
    train_local,
)
from edgeshield.federated._client import _record_dp
from edgeshield.usecase import FailureMLP


def _rows(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0.8).astype(np.float32)
    return x, y


def _trained(trainable: DPTrainable) -> tuple[dict[str, torch.Tensor], FailureMLP]:
    model = FailureMLP(8, (6,), seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _rows()
    dp = RecordDP(noise_multiplier=1.0, sample_rate=0.1, reproducible=True, trainable=trainable)
    train_local(
        model, x, y, epochs=2, batch_size=32, learning_rate=0.05, weight_decay=0.0, dp=dp, seed=3
    )
    return before, model


def test_head_only_leaves_the_feature_layer_exactly_as_received() -> None:
    before, model = _trained(DPTrainable.HEAD)
    after = model.state_dict()
    # net.0 is the hidden layer (frozen), net.2 the output layer (trained)
    assert torch.equal(after["net.0.weight"], before["net.0.weight"])
    assert torch.equal(after["net.0.bias"], before["net.0.bias"])
    assert not torch.equal(after["net.2.weight"], before["net.2.weight"])
    assert not torch.equal(after["net.2.bias"], before["net.2.bias"])
    # the model is handed back trainable as a whole (the freeze lasts one local training)
    assert all(p.requires_grad for p in model.parameters())


def test_all_trains_the_feature_layer_too() -> None:
    before, model = _trained(DPTrainable.ALL)
    after = model.state_dict()
    assert not torch.equal(after["net.0.weight"], before["net.0.weight"])
    assert not torch.equal(after["net.2.weight"], before["net.2.weight"])


def test_epsilon_is_accounted_per_step_whatever_is_trained() -> None:
    """Freezing layers changes what the noise falls on, not the mechanism the accountant sees."""
    head = FederatedConfig(record_dp=RecordDP(noise_multiplier=2.0, trainable=DPTrainable.HEAD))
    every = FederatedConfig(record_dp=RecordDP(noise_multiplier=2.0))
    head_statement, every_statement = privacy_statement(head), privacy_statement(every)
    assert head_statement["epsilon"] == every_statement["epsilon"]
    assert head_statement["steps"] == every_statement["steps"]
    assert (head_statement["trainable"], every_statement["trainable"]) == ("head", "all")


def test_the_config_carries_it_to_json_the_plants_and_back() -> None:
    config = FederatedConfig(record_dp=RecordDP(trainable=DPTrainable.HEAD))
    data = json.loads(json.dumps(config.to_dict()))
    assert data["record_dp"]["trainable"] == "head"
    assert config_from_dict(data) == config
    # a configuration saved before the option trains everything, as it did
    del data["record_dp"]["trainable"]
    restored = config_from_dict(data).record_dp
    assert restored is not None
    assert restored.trainable is DPTrainable.ALL
    # the plant rebuilds the recipe from the server's fit instructions
    sent = {"dp_noise": 1.0, "dp_clip": 1.0, "dp_delta": 1e-5, "dp_trainable": "head"}
    plant = _record_dp(sent)
    assert plant is not None
    assert plant.trainable is DPTrainable.HEAD
    with pytest.raises(FederatedError, match=r"train 'bias'; this plant knows"):
        _record_dp({**sent, "dp_trainable": "bias"})


def test_the_demo_passes_it_to_the_federated_run() -> None:
    fl = _fl_config(DemoConfig(dp_trainable=DPTrainable.HEAD), robust=True)
    assert fl.record_dp is not None
    assert fl.record_dp.trainable is DPTrainable.HEAD


@pytest.mark.parametrize(
    "factory",
    [
        lambda: RecordDP(trainable="head"),  # a string, not the enum
        lambda: DemoConfig(dp_trainable="everything"),
    ],
)
def test_bad_values_raise_a_config_error(factory: object) -> None:
    with pytest.raises(ConfigError, match="DPTrainable"):
        factory()  # type: ignore[operator]


def test_fl_app_records_it_and_refuses_a_bad_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster.json"
    keys = PlantRoster()
    for i in (1, 2):
        run(["fl", "node-keys", "--out", str(tmp_path), "--name", f"plant-{i}"])
        keys = keys.with_plant(f"plant-{i}", (tmp_path / f"plant-{i}.pub").read_bytes())
    keys.save(roster)
    app = tmp_path / "app"
    args = ["fl", "app", "--out", str(app), "--run-dir", str(tmp_path / "run")]
    args += ["--roster", str(roster), "--plants", "2", "--dp", "1.0"]
    capsys.readouterr()
    assert run([*args, "--dp-trainable", "everything"]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.lower().startswith("error:")]
    assert len(errors) == 1, captured.err
    assert "'everything' is not one of" in errors[0]
    assert not app.exists()
    assert run([*args, "--dp-trainable", "head"]) == 0
    project = tomllib.loads((app / "pyproject.toml").read_text())
    config = config_from_dict(json.loads(project["tool"]["flwr"]["app"]["config"]["config-json"]))
    assert config.record_dp is not None
    assert config.record_dp.trainable is DPTrainable.HEAD
