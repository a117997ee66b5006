"""Failure-detection metrics: precision, recall, F1 and PR-AUC on the failure class."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FailureMetrics", "best_f1_threshold", "failure_metrics"]


@dataclass(frozen=True, kw_only=True)
class FailureMetrics:
    """Metrics on the failure (positive) class; accuracy alone is meaningless at 3 % failures."""

    precision: float
    recall: float
    f1: float
    pr_auc: float
    accuracy: float
    threshold: float
    positives: int
    rows: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON output."""
        return asdict(self)


def failure_metrics(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, *, threshold: float = 0.5
) -> FailureMetrics:
    """Compute failure metrics of probability ``scores`` against 0/1 labels ``y_true``."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    from sklearn.metrics import average_precision_score  # lazy: few commands need sklearn

    pr_auc = float(average_precision_score(y, s)) if y.any() and not y.all() else float("nan")
    return FailureMetrics(
        precision=precision,
        recall=recall,
        f1=f1,
        pr_auc=pr_auc,
        accuracy=float(np.mean(pred == y)) if y.size else float("nan"),
        threshold=threshold,
        positives=int(y.sum()),
        rows=int(y.size),
    )


def best_f1_threshold(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """The score threshold that maximizes failure F1 (ties: the highest threshold); 0.5 if none."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if not y.any():
        return 0.5
    order = np.argsort(-s, kind="stable")
    sorted_scores, sorted_y = s[order], y[order]
    tp = np.cumsum(sorted_y)
    fp = np.cumsum(~sorted_y)
    f1 = 2 * tp / (tp + fp + y.sum())
    # Only cut between distinct scores.
    distinct = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    f1 = np.where(distinct, f1, -1.0)
    best = int(np.argmax(f1))
    nxt = sorted_scores[best + 1] if best + 1 < s.size else 0.0
    middle = (sorted_scores[best] + nxt) / 2.0
    # Adjacent floats have no midpoint: it rounds onto the lower score, which would then count
    # as a failure too; the best score itself still separates the two.
    return float(middle if middle > nxt else sorted_scores[best])
