"""What a plant releases besides its model update, and exactly what its epsilon covers.

Why apart from the client: the release policy is the privacy claim. Under record-level DP a
plant sends the server its DP-SGD-trained parameters (masked by SecAgg+) and nothing derived
from its data in the clear: no row count (a public constant weight replaces it), no step count
(DP-SGD takes a public number of Poisson-sampled steps), no validation counts, F1, PR-AUC or
loss. The decision threshold is then chosen by the server on public data, so the RDP
accountant (Mironov, "Renyi Differential Privacy", CSF 2017; Opacus's ``RDPAccountant``) run
over public quantities covers every value a plant sends. Without DP the plants keep reporting
validation metrics and TP/FP/FN counts, which decode into a per-plant score histogram: the
red team's :func:`~edgeshield.redteam.release_membership_score` measures exactly that leak.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edgeshield.federated._config import FederatedConfig, RecordDP
from edgeshield.federated._local import THRESHOLD_GRID, dp_epsilon, dp_steps, threshold_counts
from edgeshield.usecase import failure_metrics

__all__ = [
    "ACCOUNTANT",
    "PUBLIC_WEIGHT",
    "evaluate_release",
    "fit_release",
    "privacy_statement",
    "public_threshold",
    "record_epsilon",
]

#: The aggregation weight every plant reports under DP instead of its row count (public).
PUBLIC_WEIGHT = 1000

ACCOUNTANT = "RDP (Opacus RDPAccountant), Poisson-subsampled Gaussian mechanism"

_COVERS = (
    "every model update a plant sends (DP-SGD on its training rows, Poisson rate and steps"
    " public); nothing else leaves a plant: no row count (constant weight), no step count, no"
    " validation counts, F1, PR-AUC or loss; the threshold is chosen by the server on public data"
)
_NOT_COVERED = (
    "which plants take part (node identities are public), and the rows a plant keeps for its"
    " own validation (they never leave it)"
)


def fit_release(
    plant_id: str, *, rows: int, steps: int, private: bool
) -> tuple[int, dict[str, Any]]:
    """The weight and metrics a plant reports with its update (``private``: public values only)."""
    if private:
        return PUBLIC_WEIGHT, {"plant": plant_id}
    return rows, {"plant": plant_id, "steps": steps, "rows": rows}


def evaluate_release(
    plant_id: str,
    y: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float64],
    *,
    threshold: float,
    private: bool,
) -> tuple[float, int, dict[str, Any]]:
    """What a plant reports after evaluating the global model on its validation rows.

    ``private``: a constant payload (loss 0, weight :data:`PUBLIC_WEIGHT`, the plant's name),
    so the report carries no information about the validation rows. Otherwise the loss, the
    row count, F1, PR-AUC and the TP/FP/FN counts at every threshold of the grid.
    """
    if private:
        return 0.0, PUBLIC_WEIGHT, {"plant": plant_id}
    import json

    m = failure_metrics(y, scores, threshold=threshold)
    eps = 1e-7
    loss = float(-np.mean(y * np.log(scores + eps) + (1 - y) * np.log(1 - scores + eps)))
    metrics = {
        "plant": plant_id,
        "f1": m.f1,
        "pr_auc": 0.0 if np.isnan(m.pr_auc) else m.pr_auc,
        "counts": json.dumps(threshold_counts(y, scores).tolist()),
    }
    return loss, int(y.size), metrics


def public_threshold(y: npt.NDArray[np.float32], scores: npt.NDArray[np.float64]) -> float:
    """The grid threshold that maximizes F1 on the server's public rows (ties: the middle one)."""
    tp, fp, fn = threshold_counts(y, scores)
    f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    best = np.flatnonzero(f1 == f1.max())
    return float(THRESHOLD_GRID[best[len(best) // 2]])


def record_epsilon(dp: RecordDP, *, rounds: int, local_epochs: int) -> float:
    """Every plant's epsilon after ``rounds`` rounds: all inputs are public."""
    return dp_epsilon(dp, steps=rounds * dp_steps(dp, epochs=local_epochs))


def privacy_statement(config: FederatedConfig, *, rounds: int | None = None) -> dict[str, Any]:
    """Epsilon, delta, sigma, clip, accountant and what epsilon covers, for summary and card."""
    dp = config.record_dp
    if dp is None:
        return {
            "record_dp": False,
            "covers": "nothing: no record-level DP; plants report validation metrics and counts",
        }
    done = config.rounds if rounds is None else rounds
    steps = done * dp_steps(dp, epochs=config.local_epochs)
    return {
        "record_dp": True,
        "epsilon": record_epsilon(dp, rounds=done, local_epochs=config.local_epochs),
        "delta": dp.delta,
        "noise_multiplier": dp.noise_multiplier,
        "clip": dp.max_grad_norm,
        "sample_rate": dp.sample_rate,
        "trainable": dp.trainable.value,
        "steps": steps,
        "accountant": ACCOUNTANT,
        "unit": "one row of a plant's training data (add/remove), per plant",
        "covers": _COVERS,
        "not_covered": _NOT_COVERED,
        "threshold": "chosen by the server on public data",
    }
