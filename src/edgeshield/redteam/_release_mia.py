"""Membership inference on what a plant sends besides its model: validation counts and metrics.

Why: epsilon only protects what it accounts for. Without record-level DP a plant reports, after
evaluating the global model, its TP/FP/FN counts at every threshold of a fine grid, F1, PR-AUC,
loss and row count. The counts decode exactly into a histogram of the failure scores on its
validation rows, so an attacker who holds the global model (every plant and the server do) can
test whether a given failure record is among them: it computes the record's score and reads how
many failures the histogram puts in that score's bin.

The game is the substitution neighbour of DP (one record replaced by another of the same label,
so the row and failure counts alone cannot decide it): a plant's validation set holds either the
target failure record or another failure record, drawn from the same pool, with equal odds.
The attacker scores each payload; the result is the ROC AUC and TPR at 1 % FPR. A payload that
carries nothing about the rows (the DP release of :mod:`edgeshield.federated`) puts every score
at the same value: AUC 0.5, TPR 0 at 1 % FPR.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeshield.errors import ConfigError
from edgeshield.federated import evaluate_release, fit_release
from edgeshield.redteam._membership import AttackScore, _score

__all__ = ["ReleaseGameConfig", "release_membership_game", "release_membership_score"]

#: The threshold grid the counts are reported on (as :mod:`edgeshield.federated`'s).
_GRID = np.linspace(0.005, 0.995, 199)


@dataclass(frozen=True, kw_only=True)
class ReleaseGameConfig:
    """Size of the membership game on plant releases.

    Parameters
    ----------
    trials
        Games played (half with the target in the validation set).
    validation_rows
        Rows in the plant's validation set in every game.
    seed
        Seed of the draws.
    """

    trials: int = 400
    validation_rows: int = 800
    seed: int = 0

    def __post_init__(self) -> None:
        if self.trials < 100 or self.validation_rows < 50:
            raise ConfigError("the game needs at least 100 trials and 50 validation rows")


def release_membership_score(payload: Mapping[str, Any], target_score: float) -> float:
    """The attacker's membership score of a failure record with ``target_score``.

    The number of validation failures whose score falls in the target's grid bin, decoded from
    the reported counts; ``0`` when the payload carries no counts.
    """
    raw = payload.get("counts")
    if raw is None:
        return 0.0
    tp, _, fn = np.asarray(json.loads(str(raw)), dtype=np.int64)
    k = int(np.searchsorted(_GRID, target_score, side="right")) - 1
    if k < 0:  # below the first threshold: every such failure is a false negative there
        return float(fn[0])
    above = int(tp[k + 1]) if k + 1 < tp.size else 0
    return float(int(tp[k]) - above)


def release_membership_game(
    scores: npt.NDArray[np.float64],
    y: npt.NDArray[np.float32],
    *,
    private: bool,
    config: ReleaseGameConfig,
) -> AttackScore:
    """Play the game on a plant's pool of rows (the global model's ``scores`` and labels ``y``).

    ``private`` selects the release the plant makes (:func:`~edgeshield.federated.
    evaluate_release` and :func:`~edgeshield.federated.fit_release`), exactly what the federated
    client sends.

    Raises
    ------
    ConfigError
        The pool has fewer than 2 failures or too few rows for the validation set.
    """
    failures = np.flatnonzero(np.asarray(y) > 0.5)
    if failures.size < 2 or y.size < config.validation_rows + 2:
        raise ConfigError("the pool needs at least 2 failures and more rows than the game uses")
    rng = np.random.default_rng(config.seed)
    members = np.zeros(config.trials, dtype=bool)
    attack = np.zeros(config.trials)
    for t in range(config.trials):
        target, other = rng.choice(failures, size=2, replace=False)
        rest = np.setdiff1d(np.arange(y.size), [target, other])
        base = rng.choice(rest, size=config.validation_rows - 1, replace=False)
        members[t] = bool(t % 2 == 0)
        chosen = np.append(base, target if members[t] else other)
        _, weight, metrics = evaluate_release(
            "plant", y[chosen], scores[chosen], threshold=0.5, private=private
        )
        fit_weight, fit_metrics = fit_release("plant", rows=chosen.size, steps=0, private=private)
        payload = {**fit_metrics, **metrics, "weight": weight, "fit_weight": fit_weight}
        attack[t] = release_membership_score(payload, float(scores[target]))
    return _score(members, attack)
