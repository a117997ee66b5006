"""The calibrated ownership test: trigger agreement against a measured null distribution.

Why: a watermark claim is a hypothesis test. Its null hypothesis is "the suspect is an
independently trained model", and how often such models reproduce the trigger labels must be
measured, not assumed to be 1/2 or 1/K. Agreement of independently trained null models
(other seeds, other plants' data, other architectures, scikit-learn models) is recorded per
trigger; the test then uses a beta-binomial model of the number of agreeing triggers, whose
mean is the Clopper-Pearson upper confidence bound of the pooled null rate and whose
over-dispersion is fitted to the null models' spread (model-to-model variation makes a plain
binomial too optimistic). The empirical rank p-value among the null models is reported too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from edgeshield.errors import ConfigError, OwnershipError, StorageError
from edgeshield.ownership._key import WatermarkKey
from edgeshield.ownership._triggers import (
    SensorEnvelope,
    TriggerSet,
    derive_anchors,
    derive_triggers,
)
from edgeshield.usecase import FailureClassifier

__all__ = [
    "NullDistribution",
    "OwnershipResult",
    "PredictFn",
    "Suspect",
    "as_predict_fn",
    "calibrate_null",
    "queries_needed",
    "verify",
]

PredictFn = Callable[[pd.DataFrame], npt.ArrayLike]
"""A label-only black box: rows in UCI layout in, one 0/1 decision per row out."""

Suspect = FailureClassifier | PredictFn
"""A model under test: a classifier, or only its label-only prediction function."""

_FORMAT: Final = "edgeshield.ownership-null/1"
_CONFIDENCE: Final = 0.95


def as_predict_fn(suspect: Suspect) -> PredictFn:
    """The label-only prediction function of a suspect."""
    if isinstance(suspect, FailureClassifier):
        return suspect.predict
    if callable(suspect):
        return suspect
    raise ConfigError("a suspect is a FailureClassifier or a label-only predict function")


def _labels_of(predict: PredictFn, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    try:
        out = np.asarray(predict(frame)).reshape(-1)
    except Exception as exc:
        raise OwnershipError(f"the suspect failed to answer the trigger queries: {exc}") from exc
    if out.size != len(frame) or not np.isin(out, (0, 1)).all():
        raise OwnershipError("the suspect must return one 0/1 label per trigger query")
    return out.astype(np.int64)


@dataclass(frozen=True, kw_only=True)
class NullDistribution:
    """Per-trigger agreement of independently trained null models with the key's labels.

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
    """

    key_id: str
    trigger_digest: str
    envelope: SensorEnvelope
    failure_fraction: float
    names: tuple[str, ...]
    agreement: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.agreement) or len(self.names) < 2:
            raise OwnershipError("a null distribution needs at least two named null models")
        widths = {len(row) for row in self.agreement}
        if len(widths) != 1 or 0 in widths:
            raise OwnershipError("every null model must be scored on the same triggers")

    @property
    def n_triggers(self) -> int:
        """Number of triggers in the calibrated set."""
        return len(self.agreement[0])

    def matrix(self, queries: int | None = None) -> npt.NDArray[np.int64]:
        """The agreement matrix restricted to the first ``queries`` triggers."""
        q = self.n_triggers if queries is None else queries
        return np.asarray(self.agreement, dtype=np.int64)[:, :q]

    def counts(self, queries: int | None = None) -> npt.NDArray[np.int64]:
        """Agreeing triggers per null model among the first ``queries``."""
        return np.asarray(self.matrix(queries).sum(axis=1), dtype=np.int64)

    def model(self, queries: int | None = None) -> tuple[float, float, float]:
        """``(pooled rate, conservative rate, over-dispersion)`` on the first ``queries``."""
        m = self.matrix(queries)
        trials, hits = m.size, int(m.sum())
        pooled = hits / trials
        upper = (
            float(stats.beta.ppf(_CONFIDENCE, hits + 1, trials - hits)) if hits < trials else 1.0
        )
        q = m.shape[1]
        per_model = m.sum(axis=1)
        binomial_var = q * pooled * (1 - pooled)
        rho = 0.0
        if q > 1 and binomial_var > 0 and m.shape[0] > 1:
            ratio = float(np.var(per_model, ddof=1)) / binomial_var
            rho = float(np.clip((ratio - 1.0) / (q - 1), 0.0, 0.99))
        return pooled, upper, rho

    def p_value(self, matches: int, queries: int) -> float:
        """P(an independent model agrees on at least ``matches`` of the first ``queries``)."""
        if not 0 < queries <= self.n_triggers or not 0 <= matches <= queries:
            raise ConfigError(f"need 0 <= matches <= queries <= {self.n_triggers}")
        _, p0, rho = self.model(queries)
        if matches == 0:
            return 1.0
        if rho <= 0.0:
            return float(stats.binom.sf(matches - 1, queries, p0))
        scale = 1.0 / rho - 1.0
        return float(stats.betabinom.sf(matches - 1, queries, p0 * scale, (1 - p0) * scale))

    def empirical_p_value(self, matches: int, queries: int) -> float:
        """Rank p-value ``(1 + #null models with >= matches) / (1 + #null models)``."""
        counts = self.counts(queries)
        return float((1 + np.sum(counts >= matches)) / (1 + counts.size))

    def critical_matches(self, queries: int, fpr: float) -> int | None:
        """Smallest agreement count whose p-value is at most ``fpr`` (None if none is)."""
        for k in range(queries + 1):
            if self.p_value(k, queries) <= fpr:
                return k
        return None

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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NullDistribution:
        """Inverse of :meth:`to_dict`."""
        try:
            if data["format"] != _FORMAT:
                raise ValueError("format")
            return cls(
                key_id=str(data["key_id"]),
                trigger_digest=str(data["trigger_digest"]),
                envelope=SensorEnvelope.from_dict(data["envelope"]),
                failure_fraction=float(data["failure_fraction"]),
                names=tuple(str(n) for n in data["names"]),
                agreement=tuple(tuple(int(c) for c in str(row)) for row in data["agreement"]),
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
    envelope: SensorEnvelope,
    n: int = 50,
    failure_fraction: float = 1.0,
) -> NullDistribution:
    """Measure how often independently trained models agree with the key's trigger labels.

    Why: the test's false-positive rate is only as good as this measurement; use at least
    20 null models of varied kinds (see :func:`train_null_models`).

    Raises
    ------
    ConfigError
        Fewer than two null models.
    """
    if len(null_models) < 2:
        raise ConfigError("calibration needs at least two null models")
    triggers = derive_triggers(key, n, envelope=envelope, failure_fraction=failure_fraction)
    rows = []
    for suspect in null_models.values():
        predicted = _labels_of(as_predict_fn(suspect), triggers.frame)
        rows.append(tuple(int(v) for v in (predicted == triggers.labels)))
    return NullDistribution(
        key_id=key.key_id,
        trigger_digest=triggers.digest,
        envelope=envelope,
        failure_fraction=failure_fraction,
        names=tuple(null_models),
        agreement=tuple(rows),
    )


@dataclass(frozen=True, kw_only=True)
class OwnershipResult:
    """The outcome of one ownership test.

    Attributes
    ----------
    queries, matches, agreement
        Trigger queries sent, how many answers equal the secret label, and their share.
    p_value
        Calibrated p-value (beta-binomial, conservative null rate).
    empirical_p_value
        Rank among the measured null models (bounded below by ``1 / (1 + null models)``).
    fpr
        The stated false-positive rate the decision is taken at.
    owned
        ``p_value <= fpr``.
    null_rate, null_rate_upper, overdispersion
        The null model used: pooled null agreement, its upper bound, and rho.
    critical_matches
        The agreement count needed for a positive decision with these queries.
    null_counts
        The null models' agreement counts on the same queries (for plots).
    controls, control_failure_rate
        Key-derived typical safe operating points also queried (0 when none were), and the
        share the suspect called failure. A suspect that calls ordinary points failures
        agrees with failure-labelled triggers without carrying any mark; it is then not
        declared owned (``owned`` requires a rate of at most ``max_control_failure_rate``).
    """

    queries: int
    matches: int
    agreement: float
    p_value: float
    empirical_p_value: float
    fpr: float
    owned: bool
    null_rate: float
    null_rate_upper: float
    overdispersion: float
    critical_matches: int | None
    null_counts: tuple[int, ...]
    controls: int = 0
    control_failure_rate: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "queries": self.queries,
            "matches": self.matches,
            "agreement": self.agreement,
            "p_value": self.p_value,
            "empirical_p_value": self.empirical_p_value,
            "fpr": self.fpr,
            "owned": self.owned,
            "null_rate": self.null_rate,
            "null_rate_upper": self.null_rate_upper,
            "overdispersion": self.overdispersion,
            "critical_matches": self.critical_matches,
            "null_counts": list(self.null_counts),
            "controls": self.controls,
            "control_failure_rate": self.control_failure_rate,
        }


def _check_fpr(fpr: float) -> None:
    if not 0.0 < fpr < 1.0:
        raise ConfigError(f"the false-positive rate must lie in (0, 1), got {fpr}")


def _result(null: NullDistribution, hits: npt.NDArray[np.int64], fpr: float) -> OwnershipResult:
    queries, matches = hits.size, int(hits.sum())
    pooled, upper, rho = null.model(queries)
    p = null.p_value(matches, queries)
    return OwnershipResult(
        queries=queries,
        matches=matches,
        agreement=matches / queries,
        p_value=p,
        empirical_p_value=null.empirical_p_value(matches, queries),
        fpr=fpr,
        owned=p <= fpr,
        null_rate=pooled,
        null_rate_upper=upper,
        overdispersion=rho,
        critical_matches=null.critical_matches(queries, fpr),
        null_counts=tuple(int(c) for c in null.counts(queries)),
    )


def verify(
    suspect: Suspect,
    key: WatermarkKey,
    *,
    null: NullDistribution,
    queries: int | None = None,
    fpr: float = 1e-3,
    controls: int = 0,
    max_control_failure_rate: float = 0.5,
) -> OwnershipResult:
    """Test whether ``suspect`` carries the watermark of ``key``, black-box and label-only.

    Why: a stolen model may only be reachable through its predictions; the first ``queries``
    triggers are sent, the answers compared with the secret labels, and the agreement tested
    against the calibrated null distribution at the stated false-positive rate. With
    ``controls`` the suspect is also asked about that many key-derived typical safe
    operating points (:func:`derive_anchors`), which rules out a suspect that simply calls
    everything a failure.

    Raises
    ------
    ConfigError
        ``queries``, ``fpr``, ``controls`` or ``max_control_failure_rate`` is out of range.
    OwnershipError
        The calibration belongs to another key, or the suspect's answers are unusable.
    """
    _check_fpr(fpr)
    q = null.n_triggers if queries is None else queries
    if not 1 <= q <= null.n_triggers:
        raise ConfigError(f"queries must lie in [1, {null.n_triggers}], got {q}")
    if not 0 <= controls <= 10_000 or not 0.0 <= max_control_failure_rate <= 1.0:
        raise ConfigError("controls must lie in [0, 10000] and the control rate in [0, 1]")
    triggers = null.triggers(key)
    predict = as_predict_fn(suspect)
    answers = _labels_of(predict, triggers.frame.iloc[:q])
    result = _result(null, (answers == triggers.labels[:q]).astype(np.int64), fpr)
    if not controls:
        return result
    anchors = derive_anchors(key, controls, envelope=null.envelope)
    rate = float(np.mean(_labels_of(predict, anchors.frame)))
    return replace(
        result,
        controls=controls,
        control_failure_rate=rate,
        owned=result.owned and rate <= max_control_failure_rate,
    )


def queries_needed(
    suspect: Suspect, key: WatermarkKey, *, null: NullDistribution, target_p: float = 1e-6
) -> int | None:
    """Fewest trigger queries (a prefix of the set) that give ``p <= target_p``; None if none.

    Why: every query to a stolen model in the field costs money and may alert its operator.
    """
    _check_fpr(target_p)
    triggers = null.triggers(key)
    hits = (_labels_of(as_predict_fn(suspect), triggers.frame) == triggers.labels).astype(int)
    cumulative = np.cumsum(hits)
    for q in range(1, null.n_triggers + 1):
        if null.p_value(int(cumulative[q - 1]), q) <= target_p:
            return q
    return None
