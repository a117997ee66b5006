"""Short runs in Flower's simulation engine (Ray): one shared run per mode, many assertions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeshield.cli import run
from edgeshield.errors import ConfigError
from edgeshield.federated import (
    Aggregator,
    FederatedConfig,
    FederatedResult,
    RoundRecord,
    run_federated,
)
from edgeshield.usecase import FleetConfig, load_classifier, make_fleet

pytestmark = pytest.mark.slow

FLEET = FleetConfig(plants=4, total_rows=2400)


@pytest.fixture(scope="module")
def secure_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[FederatedResult, list[RoundRecord], list[int]]:
    """SecAgg+ FedAvg, 3 plants, 2 rounds, one plant crashing mid-round every round (33 %)."""
    rounds: list[RoundRecord] = []
    hooked: list[int] = []

    def hook(round_: int, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        hooked.append(round_)
        return weights

    config = FederatedConfig(plants=3, rounds=2, local_epochs=1, dropout=1, reference_rows=500)
    result = run_federated(
        config,
        make_fleet(FLEET, seed=0),
        tmp_path_factory.mktemp("secure"),
        on_round=rounds.append,
        after_aggregate=hook,
    )
    return result, rounds, hooked


def test_secure_run_survives_a_third_of_plants_dropping_out(secure_run) -> None:
    result, rounds, hooked = secure_run
    assert [r.round for r in result.rounds] == [1, 2]
    assert all(r.participants == 2 and r.failures == 1 for r in result.rounds)
    assert rounds == list(result.rounds)
    assert hooked == [1, 2]


def test_secure_run_records_distinct_digests_and_per_plant_metrics(secure_run) -> None:
    result, _, _ = secure_run
    digests = result.digests
    assert len(set(digests)) == 2
    assert all(d.startswith("sha256:") for d in digests)
    last = result.rounds[-1]
    assert sorted(last.plants) == sorted(result.plant_ids)
    assert all(0.0 <= m["f1"] <= 1.0 and m["rows"] > 0 for m in last.plants.values())
    assert 0.0 < last.test_pr_auc <= 1.0
    assert result.record_epsilon is None
    assert result.client_epsilon is None


def test_secure_run_saves_config_summary_and_a_loadable_classifier(secure_run) -> None:
    result, _, _ = secure_run
    run_dir: Path = result.run_dir
    assert json.loads((run_dir / "config.json").read_text())["secure"] is True
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rounds"][-1]["digest"] == result.digests[-1]
    loaded = load_classifier(run_dir / "model")
    test = make_fleet(FLEET, seed=0).combined().head(200)
    np.testing.assert_allclose(loaded.predict_proba(test), result.classifier.predict_proba(test))


def test_cli_exits_non_zero_when_secagg_cannot_reconstruct(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two of three plants die mid-round: one error line, exit 1, no run directory. The CLI's
    error path is the same on both engines and the fixture above already runs Ray, so this run
    uses the in-process grid (the same SecAgg+ workflow, without a second Ray start-up)."""
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
            "--dropout",
            "2",
            "--engine",
            "in-process",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert [line for line in err if line.startswith("error:")] == [
        line for line in err if "could not reconstruct" in line
    ]
    assert any("could not reconstruct" in line for line in err)
    assert list(tmp_path.iterdir()) == []  # a failed run leaves no run directory behind


def test_cli_refuses_bulyan_without_enough_plants_before_starting_flower(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            "fl",
            "run",
            "--out",
            str(tmp_path / "run"),
            "--plants",
            "4",
            "--no-secure",
            "--aggregator",
            "bulyan",
            "--rounds",
            "1",
        ]
    )
    assert code == 1
    assert "bulyan needs n >= 4f+3" in capsys.readouterr().err


def test_a_config_with_krum_without_enough_buckets_is_refused() -> None:
    with pytest.raises(ConfigError, match="krum needs"):
        FederatedConfig(plants=4, aggregator=Aggregator.KRUM, bucket_size=2)
