"""Thieves that clean their stolen labels before training: cross-validated and two-key filters.

Why: issue 15 showed that isolated watermark flips are cheap to drop. A thief can (1) drop the
answers its own cross-validated surrogate contradicts, or (2) ask the same rows through two
API keys (the second slightly perturbed) and keep only the rows both answered alike. The API
watermark must survive both; these are the attacks it is measured against.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import ConfigError
from edgeshield.redteam._space import AttackSpace
from edgeshield.redteam._surrogate import fit_surrogate

__all__ = ["cross_validated_keep", "two_key_keep"]


def cross_validated_keep(
    frame: pd.DataFrame,
    labels: npt.NDArray[np.int64],
    *,
    folds: int = 5,
    hidden: tuple[int, ...] = (32, 32),
    epochs: int = 300,
    seed: int = 0,
    space: AttackSpace | None = None,
) -> npt.NDArray[np.bool_]:
    """Mask of the answers a surrogate trained on the other folds agrees with.

    The surrogates work in ``space`` (default: AI4I 2020's requests).
    """
    if not 2 <= folds <= len(frame):
        raise ConfigError("need 2 <= folds <= rows")
    labels = np.array(labels, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(frame))
    keep = np.ones(len(frame), dtype=np.bool_)
    for k, held in enumerate(np.array_split(order, folds)):
        train = np.setdiff1d(order, held)
        model = fit_surrogate(
            frame.iloc[train].reset_index(drop=True),
            labels[train],
            hidden=hidden,
            epochs=epochs,
            seed=seed + k,
            space=space,
        )
        keep[held] = model.predict(frame.iloc[held].reset_index(drop=True)) == labels[held]
    return keep


def two_key_keep(
    first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Mask of the rows both keys answered alike."""
    a, b = np.asarray(first), np.asarray(second)
    if a.shape != b.shape:
        raise ConfigError("the two keys' answers must cover the same rows")
    return np.asarray(a == b)
