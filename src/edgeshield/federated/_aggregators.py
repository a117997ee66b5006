"""Byzantine-robust aggregation rules and bucketing, on flat parameter vectors, without Ray.

* Krum and Multi-Krum: Blanchard, El Mhamdi, Guerraoui, Stainer, "Machine Learning with
  Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017.
* Coordinate-wise median and trimmed mean: Yin, Chen, Ramchandran, Bartlett,
  "Byzantine-Robust Distributed Learning: Towards Optimal Statistical Rates", ICML 2018.
* Bulyan: El Mhamdi, Guerraoui, Rouault, "The Hidden Vulnerability of Distributed Learning in
  Byzantium", ICML 2018.
* Bucketing: Karimireddy, He, Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets via
  Bucketing", ICLR 2022.

Every precondition failure raises :class:`~edgeshield.errors.AggregationError` instead of
falling back to another rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edgeshield.errors import AggregationError
from edgeshield.federated._config import Aggregator

__all__ = ["aggregate", "bucket_partition", "check_precondition"]

Flat = npt.NDArray[np.float64]


def check_precondition(aggregator: Aggregator, n: int, f: int, trim_fraction: float) -> None:
    """Raise :class:`AggregationError` when ``aggregator`` cannot tolerate ``f`` of ``n``."""
    if n < 1:
        raise AggregationError("no update to aggregate")
    if aggregator in (Aggregator.KRUM, Aggregator.MULTI_KRUM) and n < 2 * f + 3:
        raise AggregationError(f"{aggregator.value} needs n >= 2f+3 inputs, got n={n}, f={f}")
    if aggregator is Aggregator.BULYAN and n < 4 * f + 3:
        raise AggregationError(f"bulyan needs n >= 4f+3 inputs, got n={n}, f={f}")
    if not 0 <= trim_fraction < 0.5:
        raise AggregationError(f"trim_fraction must lie in [0, 0.5), got {trim_fraction}")


def _squared_distances(x: Flat) -> Flat:
    sq = np.sum(x * x, axis=1)
    d = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    out: Flat = np.maximum(d, 0.0)
    return out


def _krum_scores(x: Flat, f: int) -> Flat:
    """Sum of squared distances from each input to its ``n - f - 2`` nearest neighbours."""
    n = x.shape[0]
    d = _squared_distances(x)
    closest = max(n - f - 2, 1)
    scores = np.sort(d, axis=1)[:, 1 : closest + 1].sum(axis=1)
    out: Flat = scores
    return out


def _trimmed_mean(x: Flat, cut: int) -> Flat:
    ordered = np.sort(x, axis=0)
    out: Flat = ordered[cut : x.shape[0] - cut].mean(axis=0)
    return out


def _bulyan(x: Flat, f: int) -> Flat:
    n = x.shape[0]
    theta, beta = n - 2 * f, n - 4 * f
    remaining = list(range(n))
    selected: list[int] = []
    for _ in range(theta):
        scores = _krum_scores(x[remaining], f)
        selected.append(remaining.pop(int(np.argmin(scores))))
    chosen = x[selected]
    median = np.median(chosen, axis=0)
    order = np.argsort(np.abs(chosen - median), axis=0)[:beta]
    out: Flat = np.take_along_axis(chosen, order, axis=0).mean(axis=0)
    return out


def aggregate(
    updates: Sequence[Flat],
    aggregator: Aggregator,
    *,
    f: int = 0,
    trim_fraction: float = 0.2,
    weights: Sequence[float] | None = None,
) -> Flat:
    """Combine flat update vectors with ``aggregator``.

    Parameters
    ----------
    updates
        One flat vector per plant (or per bucket), all of the same length.
    aggregator
        The rule; FedAvg uses ``weights`` (e.g. rows per plant), the robust rules ignore them.
    f
        Number of Byzantine inputs Krum, Multi-Krum and Bulyan must tolerate.
    trim_fraction
        Share cut from each end by the trimmed mean.

    Raises
    ------
    AggregationError
        When the rule's precondition fails or the inputs are inconsistent or not finite.
    """
    check_precondition(aggregator, len(updates), f, trim_fraction)
    if len({u.shape for u in updates}) != 1:
        raise AggregationError("updates have different shapes")
    x = np.stack([np.asarray(u, dtype=np.float64) for u in updates])
    if not np.all(np.isfinite(x)):
        raise AggregationError("an update contains NaN or infinite values")
    if aggregator is Aggregator.FEDAVG:
        w = np.ones(len(updates)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(updates),) or np.any(w < 0) or w.sum() <= 0:
            raise AggregationError("FedAvg weights must be non-negative with a positive sum")
        out: Flat = (w[:, None] * x).sum(axis=0) / w.sum()
        return out
    if aggregator is Aggregator.MEDIAN:
        out = np.median(x, axis=0)
        return out
    if aggregator is Aggregator.TRIMMED_MEAN:
        return _trimmed_mean(x, int(trim_fraction * x.shape[0]))
    if aggregator is Aggregator.BULYAN:
        return _bulyan(x, f)
    scores = _krum_scores(x, f)
    if aggregator is Aggregator.KRUM:
        out = x[int(np.argmin(scores))].copy()
        return out
    keep = np.argsort(scores, kind="stable")[: x.shape[0] - f]
    out = x[keep].mean(axis=0)
    return out


def bucket_partition(n: int, size: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffle ``range(n)`` into ``n // size`` buckets of at least ``size`` members each.

    Buckets differ in size by at most one (no bucket is left with a lone plant, which SecAgg+
    would expose), and a fresh permutation each round stops an attacker choosing its bucket.
    """
    if not 1 <= size <= n:
        raise AggregationError(f"bucket size must lie in [1, {n}], got {size}")
    order = rng.permutation(n)
    count = max(n // size, 1)
    return [sorted(int(i) for i in chunk) for chunk in np.array_split(order, count)]
