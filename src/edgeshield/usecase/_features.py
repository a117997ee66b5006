"""Model features: the five sensors, physically meaningful derived quantities, one-hot type.

Derived features follow the failure physics of AI4I 2020: the temperature difference drives
heat dissipation, mechanical power drives power failures, and tool wear times torque drives
overstrain. They are standardized with statistics fitted on training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

from edgeshield.errors import ConfigError, ModelError
from edgeshield.usecase import _columns as col
from edgeshield.usecase._rules import mechanical_power_w

__all__ = ["FEATURE_NAMES", "FeatureEncoder", "feature_matrix", "labels"]

FEATURE_NAMES: tuple[str, ...] = (
    "air_temperature_k",
    "process_temperature_k",
    "rotational_speed_rpm",
    "torque_nm",
    "tool_wear_min",
    "temperature_difference_k",
    "power_kw",
    "strain_knm_min",
    "type_L",
    "type_M",
    "type_H",
)
_NUMERIC = 8


def feature_matrix(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Raw (unscaled) feature matrix of shape ``(rows, len(FEATURE_NAMES))``."""
    air = frame[col.AIR_TEMPERATURE].to_numpy(dtype=np.float64)
    process = frame[col.PROCESS_TEMPERATURE].to_numpy(dtype=np.float64)
    speed = frame[col.ROTATIONAL_SPEED].to_numpy(dtype=np.float64)
    torque = frame[col.TORQUE].to_numpy(dtype=np.float64)
    wear = frame[col.TOOL_WEAR].to_numpy(dtype=np.float64)
    types = frame[col.TYPE].astype(str).to_numpy()
    return np.column_stack(
        [
            air,
            process,
            speed,
            torque,
            wear,
            process - air,
            mechanical_power_w(torque, speed) / 1000.0,
            wear * torque / 1000.0,
            *[(types == t).astype(np.float64) for t in col.PRODUCT_TYPES],
        ]
    )


def labels(frame: pd.DataFrame) -> npt.NDArray[np.float32]:
    """Machine-failure labels (0/1) as float32."""
    return frame[col.MACHINE_FAILURE].to_numpy(dtype=np.float32)


def _plausible_edges(
    column: npt.NDArray[np.float64], target: npt.NDArray[np.float32], bins: int
) -> tuple[float, ...]:
    """Bin edges of one feature: split points of a small decision tree, else quantiles.

    Tree-based bins (Gorishniy, Rubachev, Babenko, "On Embeddings for Numerical Features in
    Tabular Deep Learning", NeurIPS 2022) put edges where the failure rate changes, which lets
    a small MLP learn the sharp physical limits that trees find easily.
    """
    low, high = float(column.min()), float(column.max())
    if 0 < target.sum() < target.size:
        tree = DecisionTreeClassifier(max_leaf_nodes=bins, min_samples_leaf=20, random_state=0)
        tree.fit(column.reshape(-1, 1), target)
        splits = tree.tree_.threshold[tree.tree_.feature >= 0]
    else:
        splits = np.quantile(column, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(np.r_[low, np.sort(splits), high])
    if edges.size < 2:
        edges = np.array([low, low + 1.0])
    return tuple(float(e) for e in edges)


@dataclass(frozen=True)
class FeatureEncoder:
    """Standardized numeric features, their piecewise-linear bin encoding, and the one-hot type.

    Fitted on training rows only; its parameters go into the model card, so a model and its
    encoder always travel together.
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    edges: tuple[tuple[float, ...], ...]

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, bins: int = 16) -> FeatureEncoder:
        """Fit standardization and bin edges on training rows (labels place the bin edges)."""
        if bins < 2:
            raise ConfigError(f"bins must be at least 2, got {bins}")
        x = feature_matrix(frame)[:, :_NUMERIC]
        y = labels(frame)
        sd = x.std(axis=0)
        sd[sd == 0] = 1.0
        return cls(
            mean=tuple(map(float, x.mean(axis=0))),
            scale=tuple(map(float, sd)),
            edges=tuple(_plausible_edges(x[:, j], y, bins) for j in range(_NUMERIC)),
        )

    @property
    def width(self) -> int:
        """Number of encoded inputs the model sees."""
        return _NUMERIC + sum(len(e) - 1 for e in self.edges) + len(FEATURE_NAMES) - _NUMERIC

    def transform_matrix(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        """Encode an already-built raw feature matrix (see :func:`feature_matrix`)."""
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
            raise ModelError(f"expected {len(FEATURE_NAMES)} features, got shape {x.shape}")
        numeric = x[:, :_NUMERIC]
        parts = [(numeric - np.asarray(self.mean)) / np.asarray(self.scale)]
        for j, edges in enumerate(self.edges):
            left, right = np.asarray(edges[:-1]), np.asarray(edges[1:])
            parts.append(np.clip((numeric[:, j : j + 1] - left) / (right - left), 0.0, 1.0))
        parts.append(x[:, _NUMERIC:])
        return np.hstack(parts).astype(np.float32)

    def transform(self, frame: pd.DataFrame) -> npt.NDArray[np.float32]:
        """Encoded feature matrix of a frame in UCI layout."""
        return self.transform_matrix(feature_matrix(frame))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the model card."""
        return {
            "features": list(FEATURE_NAMES),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "edges": [list(e) for e in self.edges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoder:
        """Inverse of :meth:`to_dict`; rejects a card for other features or malformed values."""
        if list(data.get("features", [])) != list(FEATURE_NAMES):
            raise ModelError("model card lists other features than this version of EdgeShield")
        try:
            mean = tuple(float(m) for m in data["mean"])
            scale = tuple(float(s) for s in data["scale"])
            edges = tuple(tuple(float(e) for e in row) for row in data["edges"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError("model card encoder is malformed") from exc
        if len(mean) != _NUMERIC or len(scale) != _NUMERIC or len(edges) != _NUMERIC:
            raise ModelError("model card encoder is malformed")
        if any(s <= 0 for s in scale) or any(
            len(e) < 2 or any(b <= a for a, b in pairwise(e)) for e in edges
        ):
            raise ModelError("model card encoder is malformed")
        return cls(mean=mean, scale=scale, edges=edges)
