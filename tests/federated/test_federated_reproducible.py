"""One seed, one model: the in-process grid repeats a run exactly, except for unseeded DP noise."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeshield.federated import (
    Aggregator,
    Engine,
    FederatedConfig,
    FederatedResult,
    RecordDP,
    run_federated,
)
from edgeshield.usecase import FleetConfig, make_fleet

FLEET = make_fleet(FleetConfig(plants=6, total_rows=3000), seed=5)


def _run(tmp_path: Path, name: str, record_dp: RecordDP | None = None) -> FederatedResult:
    """Bucketed SecAgg+ and a median: bucket draws and stochastic rounding both in play."""
    config = FederatedConfig(
        plants=6,
        rounds=2,
        local_epochs=1,
        aggregator=Aggregator.MEDIAN,
        bucket_size=2,
        record_dp=record_dp,
        reference_rows=500,
    )
    return run_federated(config, FLEET, tmp_path / name, engine=Engine.IN_PROCESS)


def test_the_same_seed_without_dp_gives_the_same_buckets_and_weights(tmp_path: Path) -> None:
    first, second = _run(tmp_path, "a"), _run(tmp_path, "b")
    assert [r.buckets for r in first.rounds] == [r.buckets for r in second.rounds]
    assert first.digests == second.digests


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dp_noise_is_fresh_unless_the_run_asks_for_reproducible_noise(tmp_path: Path) -> None:
    fresh = [_run(tmp_path, f"fresh{i}", RecordDP(noise_multiplier=1.0)) for i in range(2)]
    assert fresh[0].digests[0] != fresh[1].digests[0]
    seeded = RecordDP(noise_multiplier=1.0, reproducible=True)
    repeat = [_run(tmp_path, f"seeded{i}", seeded) for i in range(2)]
    assert repeat[0].digests == repeat[1].digests
