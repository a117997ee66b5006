"""The black-box ownership test of one suspect against a null calibration.

Why: a stolen model may only be reachable through its label-only predictions; the first
``queries`` triggers are sent, the answers compared with the secret labels, and the count
tested against the calibration's conservative null (:class:`NullBound`) at the stated
false-positive rate. The decision is never taken below what the calibration's size supports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeshield.errors import ConfigError
from edgeshield.ownership._key import WatermarkKey
from edgeshield.ownership._stats import (
    NullDistribution,
    Suspect,
    as_predict_fn,
    labels_of,
    null_models_needed,
)
from edgeshield.ownership._triggers import derive_anchors
from edgeshield.usecase import FailureClassifier

__all__ = ["OwnershipResult", "queries_needed", "verify_ownership"]


@dataclass(frozen=True, kw_only=True)
class OwnershipResult:
    """The outcome of one ownership test.

    Attributes
    ----------
    queries, matches, agreement
        Trigger queries sent, how many answers equal the secret label, and their share.
    p_value
        The reported p-value: the larger of ``model_p_value`` and ``empirical_p_value``, so
        never below ``p_floor``.
    model_p_value
        Beta-binomial tail at the upper-bounded null parameters (may lie below the floor).
    empirical_p_value
        Rank among the measured null models (at least ``p_floor``).
    p_floor, null_models, null_models_needed
        ``1 / (null_models + 1)``, the calibration's size, and the size ``fpr`` needs.
    fpr
        The stated false-positive rate the decision is taken at.
    owned
        ``p_value <= fpr`` (and the controls pass, when queried).
    null_rate, null_rate_upper, overdispersion, overdispersion_estimate
        The null used: pooled agreement, its upper bound, rho used (upper bound, at least the
        floor) and rho's point estimate.
    critical_matches
        The agreement count needed for a positive decision with these queries.
    null_counts
        The null models' agreement counts on the same queries (for plots).
    controls, control_failure_rate
        Key-derived typical safe operating points also queried (0 when none were), and the
        share the suspect called failure; ``owned`` requires at most
        ``max_control_failure_rate``.
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
    model_p_value: float = 1.0
    p_floor: float = 0.0
    null_models: int = 0
    null_models_needed: int = 0
    overdispersion_estimate: float = 0.0
    controls: int = 0
    control_failure_rate: float = 0.0

    @property
    def below_bound(self) -> bool:
        """Whether the model p-value lies below the floor the null models support."""
        return self.model_p_value < self.p_floor

    def p_text(self) -> str:
        """The p-value as a verdict should print it ("p < bound" when below the bound)."""
        if self.below_bound and self.p_value <= self.p_floor:
            return (
                f"p <= {self.p_floor:.3g} (below the 1/N-based bound of {self.null_models} "
                f"null models; model p = {self.model_p_value:.3g})"
            )
        return f"p = {self.p_value:.3g}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "queries": self.queries,
            "matches": self.matches,
            "agreement": self.agreement,
            "p_value": self.p_value,
            "model_p_value": self.model_p_value,
            "empirical_p_value": self.empirical_p_value,
            "p_floor": self.p_floor,
            "below_bound": self.below_bound,
            "null_models": self.null_models,
            "null_models_needed": self.null_models_needed,
            "fpr": self.fpr,
            "owned": self.owned,
            "null_rate": self.null_rate,
            "null_rate_upper": self.null_rate_upper,
            "overdispersion": self.overdispersion,
            "overdispersion_estimate": self.overdispersion_estimate,
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
    bound = null.bound(queries)
    p = null.p_value(matches, queries)
    return OwnershipResult(
        queries=queries,
        matches=matches,
        agreement=matches / queries,
        p_value=p,
        model_p_value=bound.tail(matches, queries),
        empirical_p_value=null.empirical_p_value(matches, queries),
        p_floor=bound.p_floor,
        null_models=bound.models,
        null_models_needed=null_models_needed(fpr),
        fpr=fpr,
        owned=p <= fpr,
        null_rate=bound.rate,
        null_rate_upper=bound.rate_upper,
        overdispersion=bound.overdispersion_upper,
        overdispersion_estimate=bound.overdispersion,
        critical_matches=null.critical_matches(queries, fpr),
        null_counts=tuple(int(c) for c in null.counts(queries)),
    )


def verify_ownership(
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

    Why: the first ``queries`` triggers are sent and the agreeing answers counted; the count
    is owned only when its p-value, never below ``1 / (N + 1)`` for ``N`` null models, is at
    most ``fpr``, so a calibration too small for ``fpr`` never accuses anyone. With
    ``controls`` the suspect is also asked about that many key-derived typical safe operating
    points (:func:`derive_anchors`), which rules out a suspect that calls everything a failure
    (AI4I only: a schema without declared physics has no controls, and needs none, since its
    trigger labels are balanced and a constant answer agrees with half of them).

    Raises
    ------
    ConfigError
        ``queries``, ``fpr``, ``controls`` or ``max_control_failure_rate`` is out of range.
    OwnershipError
        The calibration belongs to another key, its envelope to another dataset schema than
        the suspect classifier's, or the suspect's answers are unusable.
    """
    _check_fpr(fpr)
    if isinstance(suspect, FailureClassifier):
        null.envelope.check_schema(suspect.schema)
    q = null.n_triggers if queries is None else queries
    if not 1 <= q <= null.n_triggers:
        raise ConfigError(f"queries must lie in [1, {null.n_triggers}], got {q}")
    if not 0 <= controls <= 10_000 or not 0.0 <= max_control_failure_rate <= 1.0:
        raise ConfigError("controls must lie in [0, 10000] and the control rate in [0, 1]")
    triggers = null.triggers(key)
    predict = as_predict_fn(suspect)
    answers = labels_of(predict, triggers.frame.iloc[:q])
    result = _result(null, (answers == triggers.labels[:q]).astype(np.int64), fpr)
    if not controls:
        return result
    anchors = derive_anchors(key, controls, envelope=null.envelope)
    rate = float(np.mean(labels_of(predict, anchors.frame)))
    return replace(
        result,
        controls=controls,
        control_failure_rate=rate,
        owned=result.owned and rate <= max_control_failure_rate,
    )


def queries_needed(
    suspect: Suspect,
    key: WatermarkKey,
    *,
    null: NullDistribution,
    target_p: float = 1e-6,
    floor: bool = False,
) -> int | None:
    """Fewest trigger queries (a prefix of the set) that give ``p <= target_p``; None if none.

    Why: every query to a stolen model in the field costs money and may alert its operator.
    With ``floor`` the reported p-value (never below ``1 / (N + 1)``) is used, otherwise the
    model p-value, which shows the evidence a larger calibration would let one state.
    """
    _check_fpr(target_p)
    triggers = null.triggers(key)
    hits = (labels_of(as_predict_fn(suspect), triggers.frame) == triggers.labels).astype(int)
    cumulative = np.cumsum(hits)
    p_of = null.p_value if floor else null.model_p_value
    for q in range(1, null.n_triggers + 1):
        if p_of(int(cumulative[q - 1]), q) <= target_p:
            return q
    return None
