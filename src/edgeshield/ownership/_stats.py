"""The null calibration: how often models that never saw the key agree with its trigger labels.

Why: a watermark claim is a hypothesis test whose null hypothesis is "the suspect is an
independently trained model"; how often such models reproduce the trigger labels must be
measured, and the measurement's own uncertainty must reach the p-value. Three things do that:

- **Many points per null model.** Besides the triggers, every null model answers ``probes``
  key-derived points from the same distribution (the decoy stream, never embedded). Because an
  honest model is independent of the key, its agreement on triggers and probes is Binomial with
  one model-specific rate; the probes measure that rate precisely, so the spread *between*
  models is seen rather than drowned in counting noise.
- **Upper bounds, not point estimates.** The suspect's agreement count is tested against a
  beta-binomial whose mean is an upper confidence bound of the null rate (one-sided t bound
  and Clopper-Pearson at the clustered sample size, the larger) and whose over-dispersion
  ``rho`` is the chi-square upper confidence bound of the between-model variance, never below
  :data:`RHO_FLOOR` (Williams, "Extra-binomial variation in logistic linear models", Applied
  Statistics 1982, for the beta-binomial model of clustered proportions).
- **A floor set by the number of null models.** ``N`` null models cannot support a p-value
  below ``1 / (N + 1)``, the smallest rank p-value among them: the reported p-value is the
  larger of the two, so a positive decision at a stated false-positive rate ``fpr`` needs at
  least ``ceil(1 / fpr) - 1`` null models (:func:`null_models_needed`), and a calibration
  with fewer is refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from edgeshield.errors import ConfigError, OwnershipError, StorageError
from edgeshield.ownership._key import WatermarkKey
from edgeshield.ownership._triggers import (
    Envelope,
    TriggerSet,
    default_failure_fraction,
    derive_triggers,
    envelope_from_dict,
)
from edgeshield.usecase import FailureClassifier

__all__ = [
    "RHO_FLOOR",
    "NullBound",
    "NullDistribution",
    "PredictFn",
    "Suspect",
    "as_predict_fn",
    "calibrate_null",
    "labels_of",
    "null_models_needed",
]

PredictFn = Callable[[pd.DataFrame], npt.ArrayLike]
"""A label-only black box: rows in UCI layout in, one 0/1 decision per row out."""

Suspect = FailureClassifier | PredictFn
"""A model under test: a classifier, or only its label-only prediction function."""

RHO_FLOOR: Final = 0.05
"""Smallest between-model over-dispersion the test assumes, whatever the null models show.

The 24 null models of the ownership benchmark measured 0.022; a calibration whose models all
agree alike (or never) cannot bound rho from above, so the test assumes at least this much.
"""

_FORMAT: Final = "edgeshield.ownership-null/2"
_CONFIDENCE: Final = 0.95


def null_models_needed(fpr: float) -> int:
    """Fewest null models whose rank bound ``1 / (N + 1)`` does not exceed ``fpr``.

    Raises
    ------
    ConfigError
        ``fpr`` is not in (0, 1).
    """
    if not 0.0 < fpr < 1.0:
        raise ConfigError(f"the false-positive rate must lie in (0, 1), got {fpr}")
    return max(2, math.ceil(1.0 / fpr - 1.0 - 1e-9))


def as_predict_fn(suspect: Suspect) -> PredictFn:
    """The label-only prediction function of a suspect."""
    if isinstance(suspect, FailureClassifier):
        return suspect.predict
    if callable(suspect):
        return suspect
    raise ConfigError("a suspect is a FailureClassifier or a label-only predict function")


def labels_of(predict: PredictFn, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """The suspect's 0/1 answers to ``frame``; unusable answers raise :class:`OwnershipError`."""
    try:
        out = np.asarray(predict(frame)).reshape(-1)
    except Exception as exc:
        raise OwnershipError(f"the suspect failed to answer the trigger queries: {exc}") from exc
    if out.size != len(frame) or not np.isin(out, (0, 1)).all():
        raise OwnershipError("the suspect must return one 0/1 label per trigger query")
    return out.astype(np.int64)


@dataclass(frozen=True, kw_only=True)
class NullBound:
    """The conservative null model a decision on ``queries`` triggers is taken against.

    Attributes
    ----------
    models, points
        Null models, and points each answered (the trigger prefix plus the probes).
    rate, rate_upper
        Pooled agreement of the null models and its upper confidence bound (the mean used).
    overdispersion, overdispersion_upper
        Point estimate of the beta-binomial rho and the value used (its upper bound, at least
        :data:`RHO_FLOOR`).
    p_floor
        ``1 / (models + 1)``: no p-value below it is reported.
    """

    models: int
    points: int
    rate: float
    rate_upper: float
    overdispersion: float
    overdispersion_upper: float
    p_floor: float

    def tail(self, matches: int, queries: int) -> float:
        """P(Beta-binomial(queries; rate_upper, overdispersion_upper) >= matches)."""
        if matches <= 0:
            return 1.0
        scale = 1.0 / self.overdispersion_upper - 1.0
        a, b = self.rate_upper * scale, (1.0 - self.rate_upper) * scale
        return float(stats.betabinom.sf(matches - 1, queries, a, b))


def _bound(hits: npt.NDArray[np.int64], points: int) -> NullBound:
    """Upper-bounded beta-binomial parameters from per-model hit counts out of ``points``."""
    n_models = int(hits.size)
    rates = hits / points
    pooled = float(rates.mean())
    spread = float(np.var(rates, ddof=1))
    within = pooled * (1.0 - pooled) / points
    rho = 0.0
    rho_upper = RHO_FLOOR
    if 0.0 < pooled < 1.0:
        rho = min(max(spread - within, 0.0) / (pooled * (1.0 - pooled)), 0.99)
        spread_upper = (n_models - 1) * spread / stats.chi2.ppf(1 - _CONFIDENCE, n_models - 1)
        between_upper = max(spread_upper - within, 0.0) / (pooled * (1.0 - pooled))
        rho_upper = max(RHO_FLOOR, between_upper, rho)
    rho_upper = min(rho_upper, 0.99)
    clustered = n_models * points / (1.0 + (points - 1) * rho_upper)
    successes = pooled * clustered
    cp = float(stats.beta.ppf(_CONFIDENCE, successes + 1.0, max(clustered - successes, 1e-9)))
    t = float(stats.t.ppf(_CONFIDENCE, n_models - 1)) * math.sqrt(spread / n_models)
    return NullBound(
        models=n_models,
        points=points,
        rate=pooled,
        rate_upper=float(min(max(cp, pooled + t), 0.999)),
        overdispersion=float(rho),
        overdispersion_upper=float(rho_upper),
        p_floor=1.0 / (n_models + 1),
    )


@dataclass(frozen=True, kw_only=True)
class NullDistribution:
    """Agreement of independently trained null models with one key's trigger and probe labels.

    Parameters
    ----------
    key_id, trigger_digest
        The key and the exact trigger set the calibration belongs to.
    envelope, failure_fraction
        What :func:`derive_triggers` needs to rebuild the trigger set from the key.
    names
        One name per null model.
    agreement
        ``agreement[i][j]`` is 1 when null model ``i`` outputs trigger ``j``'s label.
    probes, probe_agreement
        Probe points (decoy stream of the key, same distribution as the triggers) each null
        model answered, and how many of them it answered with the probe's label.
    """

    key_id: str
    trigger_digest: str
    envelope: Envelope
    failure_fraction: float
    names: tuple[str, ...]
    agreement: tuple[tuple[int, ...], ...]
    probes: int = 0
    probe_agreement: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.names) != len(self.agreement) or len(self.names) < 2:
            raise OwnershipError("a null distribution needs at least two named null models")
        widths = {len(row) for row in self.agreement}
        if len(widths) != 1 or 0 in widths:
            raise OwnershipError("every null model must be scored on the same triggers")
        if self.probes < 0 or len(self.probe_agreement) not in (0, len(self.names)):
            raise OwnershipError("probe agreement needs one count per null model")
        if any(not 0 <= c <= self.probes for c in self.probe_agreement):
            raise OwnershipError("a probe agreement count exceeds the number of probes")

    @property
    def n_triggers(self) -> int:
        """Number of triggers in the calibrated set."""
        return len(self.agreement[0])

    @property
    def n_models(self) -> int:
        """Number of null models."""
        return len(self.names)

    def matrix(self, queries: int | None = None) -> npt.NDArray[np.int64]:
        """The agreement matrix restricted to the first ``queries`` triggers."""
        q = self.n_triggers if queries is None else queries
        return np.asarray(self.agreement, dtype=np.int64)[:, :q]

    def counts(self, queries: int | None = None) -> npt.NDArray[np.int64]:
        """Agreeing triggers per null model among the first ``queries``."""
        return np.asarray(self.matrix(queries).sum(axis=1), dtype=np.int64)

    def bound(self, queries: int | None = None) -> NullBound:
        """The conservative null model for a test on the first ``queries`` triggers."""
        q = self.n_triggers if queries is None else queries
        hits = self.counts(q)
        if self.probe_agreement:
            hits = hits + np.asarray(self.probe_agreement, dtype=np.int64)
        return _bound(hits, q + (self.probes if self.probe_agreement else 0))

    def model(self, queries: int | None = None) -> tuple[float, float, float]:
        """``(pooled rate, rate used, rho used)`` on the first ``queries`` (see :meth:`bound`)."""
        b = self.bound(queries)
        return b.rate, b.rate_upper, b.overdispersion_upper

    def model_p_value(self, matches: int, queries: int) -> float:
        """Beta-binomial tail at the upper-bounded parameters, without the rank floor."""
        self._check(matches, queries)
        return self.bound(queries).tail(matches, queries)

    def empirical_p_value(self, matches: int, queries: int) -> float:
        """Rank p-value ``(1 + #null models with >= matches) / (1 + #null models)``."""
        counts = self.counts(queries)
        return float((1 + np.sum(counts >= matches)) / (1 + counts.size))

    def p_value(self, matches: int, queries: int) -> float:
        """The reported p-value: the model tail, never below what the null models support."""
        self._check(matches, queries)
        if matches == 0:
            return 1.0
        return max(self.model_p_value(matches, queries), self.empirical_p_value(matches, queries))

    def critical_matches(self, queries: int, fpr: float) -> int | None:
        """Smallest agreement count whose p-value is at most ``fpr`` (None if none is)."""
        self._check(0, queries)
        bound, counts = self.bound(queries), self.counts(queries)
        for k in range(1, queries + 1):
            empirical = (1 + np.sum(counts >= k)) / (1 + counts.size)
            if max(bound.tail(k, queries), float(empirical)) <= fpr:
                return k
        return None

    def _check(self, matches: int, queries: int) -> None:
        if not 0 < queries <= self.n_triggers or not 0 <= matches <= queries:
            raise ConfigError(f"need 0 <= matches <= queries <= {self.n_triggers}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "format": _FORMAT,
            "key_id": self.key_id,
            "trigger_digest": self.trigger_digest,
            "envelope": self.envelope.to_dict(),
            "failure_fraction": self.failure_fraction,
            "names": list(self.names),
            "agreement": ["".join(str(v) for v in row) for row in self.agreement],
            "probes": self.probes,
            "probe_agreement": list(self.probe_agreement),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NullDistribution:
        """Inverse of :meth:`to_dict`; a calibration of the older format must be redone."""
        try:
            if data["format"] != _FORMAT:
                raise ValueError(f"format {data['format']!r} is not {_FORMAT!r}; recalibrate")
            return cls(
                key_id=str(data["key_id"]),
                trigger_digest=str(data["trigger_digest"]),
                envelope=envelope_from_dict(data["envelope"]),
                failure_fraction=float(data["failure_fraction"]),
                names=tuple(str(n) for n in data["names"]),
                agreement=tuple(tuple(int(c) for c in str(row)) for row in data["agreement"]),
                probes=int(data["probes"]),
                probe_agreement=tuple(int(c) for c in data["probe_agreement"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OwnershipError(f"malformed null calibration: {exc!r}") from exc

    def save(self, path: str | Path) -> Path:
        """Write the calibration as JSON."""
        path = Path(path)
        try:
            path.write_text(json.dumps(self.to_dict(), indent=1))
        except OSError as exc:
            raise StorageError(f"cannot write null calibration to {path}: {exc}") from exc
        return path

    @classmethod
    def load(cls, path: str | Path) -> NullDistribution:
        """Read a calibration written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise StorageError(f"cannot read null calibration {path}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise OwnershipError(f"{path} is not valid JSON") from exc
        if not isinstance(data, dict):
            raise OwnershipError(f"{path} is not a null calibration")
        return cls.from_dict(data)

    def triggers(self, key: WatermarkKey) -> TriggerSet:
        """Rebuild the calibrated trigger set from ``key``; refuse a key it was not made for."""
        triggers = derive_triggers(
            key, self.n_triggers, envelope=self.envelope, failure_fraction=self.failure_fraction
        )
        if triggers.digest != self.trigger_digest or key.key_id != self.key_id:
            raise OwnershipError("this null calibration was made for another key or trigger set")
        return triggers


def calibrate_null(
    key: WatermarkKey,
    null_models: Mapping[str, Suspect],
    *,
    envelope: Envelope,
    n: int = 50,
    failure_fraction: float | None = None,
    probes: int = 300,
    fpr: float = 1e-3,
) -> NullDistribution:
    """Measure how often independently trained models agree with the key's labels.

    Why: the test's false-positive rate is only as good as this measurement; use null models
    of varied kinds, seeds and data (see :func:`train_null_models`), and at least
    :func:`null_models_needed` of them for the false-positive rate you will state.

    Parameters
    ----------
    failure_fraction
        Share of positive triggers (see :func:`derive_triggers`; default: the envelope's).
    probes
        Key-derived points from the triggers' distribution (never embedded) each null model
        also answers, to measure its agreement rate precisely; 0 scores the triggers only.
    fpr
        The false-positive rate the calibration must be able to support.

    Raises
    ------
    ConfigError
        Fewer null models than ``fpr`` needs, or ``probes`` out of [0, 100000].
    """
    needed = null_models_needed(fpr)
    if len(null_models) < needed:
        raise ConfigError(
            f"a stated false-positive rate of {fpr:g} needs at least {needed} null models "
            f"(p-values cannot go below 1/(N+1)); got {len(null_models)}"
        )
    if not 0 <= probes <= 100_000:
        raise ConfigError(f"probes must lie in [0, 100000], got {probes}")
    if failure_fraction is None:
        failure_fraction = default_failure_fraction(envelope)
    triggers = derive_triggers(key, n, envelope=envelope, failure_fraction=failure_fraction)
    probe_set = (
        derive_triggers(
            key, probes, envelope=envelope, failure_fraction=failure_fraction, decoys=True
        )
        if probes
        else None
    )
    rows, probe_hits = [], []
    for suspect in null_models.values():
        predict = as_predict_fn(suspect)
        rows.append(tuple(int(v) for v in (labels_of(predict, triggers.frame) == triggers.labels)))
        if probe_set is not None:
            probe_hits.append(int(np.sum(labels_of(predict, probe_set.frame) == probe_set.labels)))
    return NullDistribution(
        key_id=key.key_id,
        trigger_digest=triggers.digest,
        envelope=envelope,
        failure_fraction=failure_fraction,
        names=tuple(null_models),
        agreement=tuple(rows),
        probes=probes,
        probe_agreement=tuple(probe_hits),
    )
