"""The same Flower apps on the in-process grid: more modes, no Ray start-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeshield.cli import run
from edgeshield.errors import AggregationError
from edgeshield.federated import (
    Aggregator,
    ClientDP,
    Engine,
    FederatedConfig,
    MaliciousPlant,
    RecordDP,
    run_federated,
)
from edgeshield.redteam import SignFlip
from edgeshield.usecase import FailureMLP, FleetConfig, make_fleet

FLEET = make_fleet(FleetConfig(plants=5, total_rows=2500), seed=4)
#: Six plants: a median over buckets of two needs at least three buckets.
FLEET6 = make_fleet(FleetConfig(plants=6, total_rows=3000), seed=4)


def test_secure_fedavg_matches_plain_fedavg_up_to_quantization(tmp_path: Path) -> None:
    base = {"plants": 3, "rounds": 1, "local_epochs": 1, "reference_rows": 500}
    secure = run_federated(FederatedConfig(**base), FLEET, tmp_path / "s", engine=Engine.IN_PROCESS)
    plain = run_federated(
        FederatedConfig(**base, secure=False), FLEET, tmp_path / "p", engine=Engine.IN_PROCESS
    )
    s_state = secure.classifier.model.state_dict()
    p_state = plain.classifier.model.state_dict()
    for name, value in p_state.items():
        assert (s_state[name] - value).abs().max().item() < 1e-3
    assert secure.digests != plain.digests


def _moved(aggregator: Aggregator, tmp_path: Path) -> float:
    """How far one round moves the global model with a 100x sign-flipping plant among 5."""
    config = FederatedConfig(
        plants=5,
        rounds=1,
        local_epochs=1,
        secure=False,
        aggregator=aggregator,
        malicious=(MaliciousPlant(plant=0, behaviour=SignFlip(scale=100.0)),),
        reference_rows=500,
        pretraining=None,  # the start is then the seeded initial model measured against
    )
    result = run_federated(config, FLEET, tmp_path / aggregator.value, engine=Engine.IN_PROCESS)
    assert result.rounds[0].participants == 5
    start = FailureMLP(result.classifier.encoder.width, config.hidden, seed=config.seed)
    end = result.classifier.model.state_dict()
    return float(sum((end[k] - v).norm() ** 2 for k, v in start.state_dict().items()) ** 0.5)


def test_krum_drops_a_sign_flipping_plant_that_drags_fedavg(tmp_path: Path) -> None:
    assert _moved(Aggregator.KRUM, tmp_path) * 3 < _moved(Aggregator.FEDAVG, tmp_path)


def test_a_round_that_leaves_the_model_unchanged_stops_the_run(tmp_path: Path) -> None:
    config = FederatedConfig(
        plants=2, rounds=1, local_epochs=1, secure=False, learning_rate=1e-30, reference_rows=500
    )
    with pytest.raises(AggregationError, match="did not change"):
        run_federated(config, FLEET, tmp_path, engine=Engine.IN_PROCESS)


def test_dropout_beyond_the_threshold_stops_a_bucketed_run(tmp_path: Path) -> None:
    config = FederatedConfig(
        plants=6,
        rounds=1,
        local_epochs=1,
        aggregator=Aggregator.MEDIAN,
        bucket_size=2,
        dropout=2,
        secagg_threshold=1.0,
        reference_rows=500,
    )
    with pytest.raises(AggregationError, match="could not reconstruct"):
        run_federated(config, FLEET6, tmp_path, engine=Engine.IN_PROCESS)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bucketed_secure_median_with_a_malicious_plant_and_record_dp(tmp_path: Path) -> None:
    config = FederatedConfig(
        plants=6,
        rounds=1,
        local_epochs=1,
        aggregator=Aggregator.MEDIAN,
        bucket_size=2,
        record_dp=RecordDP(noise_multiplier=1.0, max_grad_norm=1.0),
        malicious=(MaliciousPlant(plant=0, behaviour=SignFlip(scale=10.0)),),
        reference_rows=500,
    )
    result = run_federated(config, FLEET6, tmp_path, engine=Engine.IN_PROCESS)
    (record,) = result.rounds
    assert len(record.buckets) == 3
    assert sorted(p for b in record.buckets for p in b) == sorted(result.plant_ids)
    assert result.record_epsilon is not None
    assert 0 < result.record_epsilon < 50
    # Under DP plants send nothing but the model: no per-plant metrics, counts or row counts,
    # and epsilon comes from public quantities only (the same for every plant).
    assert record.plants == {}
    privacy = result.summary()["privacy"]
    assert privacy["epsilon"] == pytest.approx(result.record_epsilon)
    assert privacy["threshold"] == "chosen by the server on public data"
    assert result.classifier.metrics["public_pretraining"]["source"] == "ai4i2020"


def test_plain_fedavg_with_client_level_dp_reports_epsilon(tmp_path: Path) -> None:
    config = FederatedConfig(
        plants=3,
        rounds=1,
        local_epochs=1,
        secure=False,
        client_dp=ClientDP(noise_multiplier=1.0, clipping_norm=1.0),
        reference_rows=500,
    )
    result = run_federated(config, FLEET, tmp_path, engine=Engine.IN_PROCESS)
    assert result.client_epsilon is not None
    assert result.client_epsilon > 0
    assert result.rounds[0].participants == 3


def test_cli_runs_in_process_and_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            "fl",
            "run",
            "--out",
            str(tmp_path / "run"),
            "--plants",
            "3",
            "--rounds",
            "1",
            "--epochs",
            "1",
            "--rows",
            "1500",
            "--engine",
            "in-process",
            "--no-secure",
            "--dp",
            "1.0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "round 1: test F1" in out
    assert "epsilon" in out
    assert (tmp_path / "run" / "model").is_dir()


def test_a_plant_database_is_a_source_and_a_test_frame_gives_test_metrics(tmp_path: Path) -> None:
    from edgeshield.usecase import PlantDatabase, sqlite_url

    url = sqlite_url(tmp_path / "plants.sqlite")
    with PlantDatabase(url) as db:
        db.write_fleet(FLEET.profiles, FLEET.frames)
    config = FederatedConfig(plants=2, rounds=1, local_epochs=1, secure=False, reference_rows=500)
    without = run_federated(config, url, tmp_path / "a", engine=Engine.IN_PROCESS)
    assert without.plant_ids == tuple(FLEET.plant_ids[:2])
    assert without.rounds[0].test_f1 != without.rounds[0].test_f1  # NaN: no test rows given
    test = FLEET.frames[FLEET.plant_ids[4]]
    with_test = run_federated(
        config, url, tmp_path / "b", engine=Engine.IN_PROCESS, test_frame=test
    )
    assert 0.0 <= with_test.rounds[0].test_pr_auc <= 1.0
    assert with_test.digests == without.digests  # same seeds, same data: the same model


def test_more_plants_than_the_fleet_has_is_a_config_error(tmp_path: Path) -> None:
    from edgeshield.errors import ConfigError

    with pytest.raises(ConfigError, match="the fleet has 5 plants"):
        run_federated(FederatedConfig(plants=6), FLEET, tmp_path, engine=Engine.IN_PROCESS)


def test_the_before_training_hook_replaces_the_start_model(tmp_path: Path) -> None:
    calls: list[int] = []

    def zero(round_: int, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(round_)
        return {name: np.zeros_like(value) for name, value in weights.items()}

    config = FederatedConfig(
        plants=3, rounds=1, local_epochs=1, secure=False, reference_rows=500, pretraining=None
    )
    result = run_federated(config, FLEET, tmp_path, before_training=zero, engine=Engine.IN_PROCESS)
    assert calls == [0]
    # From an all-zero ReLU network only the output bias gets a gradient: every weight matrix
    # the plants return is still zero, so they trained the hook's start, not the original.
    state = result.classifier.model.state_dict()
    weights = [v for name, v in state.items() if name.endswith("weight")]
    assert weights
    assert all(float(v.abs().max()) == 0.0 for v in weights)
    assert any(float(v.abs().max()) > 0.0 for name, v in state.items() if name.endswith("bias"))


def test_the_released_model_averages_the_last_rounds_and_its_digest_is_recorded(
    tmp_path: Path,
) -> None:
    """``release_average``: the classifier is the mean of the last globals, not the last one."""
    from edgeshield.federated._local import weights_digest

    globals_: list[dict[str, np.ndarray]] = []

    def keep(round_: int, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        globals_.append({n: w.copy() for n, w in weights.items()})
        return weights

    config = FederatedConfig(
        plants=3, rounds=3, local_epochs=1, reference_rows=500, release_average=2
    )
    result = run_federated(
        config, FLEET, tmp_path / "run", engine=Engine.IN_PROCESS, after_aggregate=keep
    )
    assert len(globals_) == 3
    state = result.classifier.model.state_dict()
    for name, tensor in state.items():
        expected = (globals_[1][name] + globals_[2][name]) / 2
        np.testing.assert_allclose(tensor.numpy(), expected, rtol=1e-6, atol=1e-7)
        assert not np.allclose(tensor.numpy(), globals_[2][name])
    assert result.digests[-1] == weights_digest(state)
