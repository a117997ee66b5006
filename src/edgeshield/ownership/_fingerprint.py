"""A fingerprint that needs no change to the model: points just beside its decision boundary.

Why: a watermark must be embedded before release; a fingerprint can be taken from any model
the owner holds. IPGuard (Cao, Jia, Gong, "IPGuard: Protecting Intellectual Property of Deep
Neural Network Classifiers by Fingerprinting the Classification Boundary", AsiaCCS 2021)
picks points near the owner's boundary: copies derived from the model (fine-tuned, pruned,
quantized) keep the boundary and so the labels there, while independently trained models
draw their boundary elsewhere. Here the points come from a label-only bisection between
rows the owner's model labels differently, so the fingerprint is taken black-box as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import ConfigError, OwnershipError, StorageError
from edgeshield.ownership._stats import Suspect, as_predict_fn, labels_of
from edgeshield.usecase import SENSOR_COLUMNS, TYPE, UCI_COLUMNS

__all__ = ["Fingerprint", "fingerprint", "fingerprint_auc", "match_fingerprint"]

_FORMAT: Final = "edgeshield.fingerprint/1"


@dataclass(frozen=True)
class Fingerprint:
    """Query points near the owner's decision boundary and the owner's labels there."""

    frame: pd.DataFrame
    labels: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.labels.size)

    def save(self, path: str | Path) -> Path:
        """Write the fingerprint as JSON (records plus labels)."""
        path = Path(path)
        data = {
            "format": _FORMAT,
            "rows": json.loads(self.frame.to_json(orient="records")),
            "labels": self.labels.tolist(),
        }
        try:
            path.write_text(json.dumps(data))
        except OSError as exc:
            raise StorageError(f"cannot write fingerprint to {path}: {exc}") from exc
        return path

    @classmethod
    def load(cls, path: str | Path) -> Fingerprint:
        """Read a fingerprint written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            if data["format"] != _FORMAT:
                raise ValueError("format")
            frame = pd.DataFrame.from_records(data["rows"]).loc[:, list(UCI_COLUMNS)]
            labels = np.asarray(data["labels"], dtype=np.int64)
        except OSError as exc:
            raise StorageError(f"cannot read fingerprint {path}: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise OwnershipError(f"{path} is not an EdgeShield fingerprint") from exc
        if labels.size != len(frame):
            raise OwnershipError(f"{path} is not an EdgeShield fingerprint")
        return cls(frame=frame, labels=labels)


def _blend(a: pd.DataFrame, b: pd.DataFrame, t: npt.NDArray[np.float64]) -> pd.DataFrame:
    out = a.copy()
    for column in SENSOR_COLUMNS:
        left = a[column].to_numpy(np.float64)
        right = b[column].to_numpy(np.float64)
        out[column] = left + t * (right - left)
    return out


def fingerprint(
    model: Suspect,
    reference: pd.DataFrame,
    *,
    n: int = 100,
    margin: float = 0.05,
    steps: int = 12,
    seed: int = 0,
) -> Fingerprint:
    """Take an IPGuard-style fingerprint of ``model`` from reference rows, label-only.

    Pairs of same-type rows that the model labels 0 and 1 are bisected in sensor space for
    ``steps`` rounds; each pair then gives one point ``margin`` (a share of the segment) on
    each side of the boundary, labelled by the model, so ``2 * (n // 2)`` points in all.

    Raises
    ------
    ConfigError
        ``n``, ``margin`` or ``steps`` is out of range.
    OwnershipError
        The model labels every reference row the same, so there is no boundary to find.
    """
    if n < 2 or not 0.0 < margin < 0.5 or steps < 1:
        raise ConfigError("need n >= 2, 0 < margin < 0.5 and steps >= 1")
    predict = as_predict_fn(model)
    rng = np.random.default_rng(seed)
    reference = reference.loc[:, list(UCI_COLUMNS)].reset_index(drop=True)
    decided = labels_of(predict, reference)
    pairs = n // 2
    lows, highs = [], []
    for kind in reference[TYPE].unique():
        same = reference[TYPE].to_numpy() == kind
        zero = np.flatnonzero(same & (decided == 0))
        one = np.flatnonzero(same & (decided == 1))
        if zero.size and one.size:
            lows.append(zero)
            highs.append(one)
    if not lows:
        raise OwnershipError("the model gives every reference row the same label")
    groups = rng.integers(0, len(lows), size=pairs)
    a_index = np.array([rng.choice(lows[g]) for g in groups])
    b_index = np.array([rng.choice(highs[g]) for g in groups])
    a = reference.iloc[a_index].reset_index(drop=True)
    b = reference.iloc[b_index].reset_index(drop=True)
    lo, hi = np.zeros(pairs), np.ones(pairs)
    for _ in range(steps):
        mid = (lo + hi) / 2
        label = labels_of(predict, _blend(a, b, mid))
        lo = np.where(label == 0, mid, lo)
        hi = np.where(label == 1, mid, hi)
    boundary = (lo + hi) / 2
    below = _blend(a, b, np.clip(boundary - margin, 0.0, 1.0))
    above = _blend(a, b, np.clip(boundary + margin, 0.0, 1.0))
    frame = pd.concat([below, above], ignore_index=True)
    frame["UDI"] = np.arange(1, len(frame) + 1)
    return Fingerprint(frame=frame, labels=labels_of(predict, frame))


def match_fingerprint(suspect: Suspect, fp: Fingerprint) -> float:
    """Share of fingerprint points on which ``suspect`` gives the owner's label."""
    answers = labels_of(as_predict_fn(suspect), fp.frame)
    return float(np.mean(answers == fp.labels))


def fingerprint_auc(stolen: list[float], independent: list[float]) -> float:
    """ROC AUC of match rate separating derived copies (positives) from independent models."""
    if not stolen or not independent:
        raise ConfigError("need at least one stolen and one independent match rate")
    from sklearn.metrics import roc_auc_score  # lazy: few commands need sklearn

    truth = np.r_[np.ones(len(stolen)), np.zeros(len(independent))]
    return float(roc_auc_score(truth, np.r_[stolen, independent]))
