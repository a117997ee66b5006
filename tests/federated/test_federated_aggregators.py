"""Robust aggregation rules and bucketing on synthetic updates (no Ray, milliseconds)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeshield.errors import AggregationError
from edgeshield.federated import Aggregator, aggregate, bucket_partition, check_precondition

ROBUST = [a for a in Aggregator if a.robust]


def _honest(n: int, dim: int = 50, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    center = np.linspace(-1, 1, dim)
    return [center + 0.05 * rng.standard_normal(dim) for _ in range(n)]


def test_fedavg_is_the_weighted_mean() -> None:
    updates = [np.array([0.0, 2.0]), np.array([4.0, 6.0])]
    out = aggregate(updates, Aggregator.FEDAVG, weights=[3, 1])
    np.testing.assert_allclose(out, [1.0, 3.0])


@pytest.mark.parametrize("aggregator", ROBUST)
def test_robust_rules_resist_one_scaled_attacker_where_fedavg_collapses(
    aggregator: Aggregator,
) -> None:
    honest = _honest(10)
    center = np.mean(honest, axis=0)
    attacker = center - 50.0 * np.ones_like(center)
    updates = [*honest[:9], attacker]
    robust = aggregate(updates, aggregator, f=1, trim_fraction=0.2)
    fedavg = aggregate(updates, Aggregator.FEDAVG)
    assert np.linalg.norm(robust - center) < 1.0
    assert np.linalg.norm(fedavg - center) > 10.0


def test_krum_returns_one_of_the_inputs_and_multi_krum_averages_the_best() -> None:
    updates = _honest(7)
    krum = aggregate(updates, Aggregator.KRUM, f=1)
    assert any(np.array_equal(krum, u) for u in updates)
    multi = aggregate(updates, Aggregator.MULTI_KRUM, f=1)
    assert not any(np.array_equal(multi, u) for u in updates)


def test_median_and_trimmed_mean_are_coordinate_wise() -> None:
    updates = [np.array([1.0, 10.0]), np.array([2.0, 20.0]), np.array([100.0, -100.0])]
    np.testing.assert_allclose(aggregate(updates, Aggregator.MEDIAN), [2.0, 10.0])
    five = [np.array([float(v)]) for v in (1, 2, 3, 4, 100)]
    np.testing.assert_allclose(aggregate(five, Aggregator.TRIMMED_MEAN, trim_fraction=0.2), [3.0])


@pytest.mark.parametrize(
    ("aggregator", "n", "f"),
    [
        (Aggregator.BULYAN, 6, 1),
        (Aggregator.BULYAN, 10, 2),
        (Aggregator.KRUM, 4, 1),
        (Aggregator.MULTI_KRUM, 6, 2),
    ],
)
def test_preconditions_raise_instead_of_falling_back(
    aggregator: Aggregator, n: int, f: int
) -> None:
    with pytest.raises(AggregationError, match="needs n >="):
        aggregate(_honest(n), aggregator, f=f)


def test_bulyan_runs_exactly_at_its_bound() -> None:
    check_precondition(Aggregator.BULYAN, 7, 1, 0.2)
    out = aggregate(_honest(7), Aggregator.BULYAN, f=1)
    assert out.shape == (50,)


def test_non_finite_and_inconsistent_updates_raise() -> None:
    with pytest.raises(AggregationError, match="NaN"):
        aggregate([np.array([1.0, np.nan]), np.array([1.0, 2.0])], Aggregator.MEDIAN)
    with pytest.raises(AggregationError, match="shapes"):
        aggregate([np.zeros(2), np.zeros(3)], Aggregator.FEDAVG)
    with pytest.raises(AggregationError, match="no update"):
        aggregate([], Aggregator.FEDAVG)
    with pytest.raises(AggregationError, match="weights"):
        aggregate([np.zeros(2)], Aggregator.FEDAVG, weights=[0.0])


def test_buckets_cover_every_plant_once_and_reshuffle() -> None:
    rng = np.random.default_rng(0)
    first = bucket_partition(10, 3, rng)
    second = bucket_partition(10, 3, rng)
    assert sorted(i for b in first for i in b) == list(range(10))
    assert len(first) == 3
    assert all(len(b) >= 3 for b in first)
    assert first != second


def test_bucket_size_out_of_range_raises() -> None:
    with pytest.raises(AggregationError):
        bucket_partition(3, 4, np.random.default_rng(0))


def test_bucketing_then_median_contains_an_attacker() -> None:
    honest = _honest(9)
    center = np.mean(honest, axis=0)
    updates = [*honest, center + 100.0]
    buckets = bucket_partition(len(updates), 2, np.random.default_rng(1))
    means = [np.mean([updates[i] for i in b], axis=0) for b in buckets]
    out = aggregate(means, Aggregator.MEDIAN)
    assert np.linalg.norm(out - center) < 0.5
