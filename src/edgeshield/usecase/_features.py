"""Model features as a dataset schema declares them: numeric columns, derived ones, one-hot.

For AI4I 2020 (the default schema) these are the five sensors and three derived quantities
that follow its failure physics: the temperature difference drives heat dissipation,
mechanical power drives power failures, and tool wear times torque drives overstrain. Numeric
features are standardized with statistics fitted on training rows only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import ConfigError, ModelError
from edgeshield.usecase._expr import evaluate
from edgeshield.usecase._schema import DatasetSchema
from edgeshield.usecase._schema_load import default_schema

__all__ = ["FEATURE_NAMES", "FeatureEncoder", "feature_matrix", "labels"]

FEATURE_NAMES: tuple[str, ...] = default_schema().feature_names
"""The AI4I 2020 model features: five sensors, three derived quantities, one-hot type."""


def _schema(schema: DatasetSchema | None) -> DatasetSchema:
    return default_schema() if schema is None else schema


def feature_matrix(
    frame: pd.DataFrame, schema: DatasetSchema | None = None
) -> npt.NDArray[np.float64]:
    """Raw (unscaled) feature matrix of shape ``(rows, len(schema.feature_names))``.

    Numeric inputs come first in the schema's order (derived ones computed from their
    expressions), then one column per level of each category input. The schema defaults to
    AI4I 2020.
    """
    schema = _schema(schema)
    rows = len(frame)
    values: dict[str, npt.NDArray[np.float64]] = {
        c.name: frame[c.header].to_numpy(dtype=np.float64)
        for c in schema.columns
        if c.type.numeric and c.header in frame.columns
    }
    for feature in schema.derived:
        values[feature.name] = evaluate(feature.expression, values, rows)
    parts = [values[name] for name in schema.numeric_features]
    for column in schema.category_features:
        levels = frame[column.header].astype(str).to_numpy()
        parts.extend((levels == level).astype(np.float64) for level in column.levels)
    return np.column_stack(parts) if parts else np.empty((rows, 0))


def labels(frame: pd.DataFrame, schema: DatasetSchema | None = None) -> npt.NDArray[np.float32]:
    """Target labels (1 for the schema's positive label, else 0) as float32."""
    target = _schema(schema).target
    column = _schema(schema).target_column
    hits = (frame[column.header] == target.positive).to_numpy(dtype=np.bool_)
    return hits.astype(np.float32)


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
        from sklearn.tree import DecisionTreeClassifier  # lazy: few commands need sklearn

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
    schema: DatasetSchema = field(default_factory=default_schema)
    """The dataset schema whose features this encodes (AI4I 2020 unless given)."""

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, *, bins: int = 16, schema: DatasetSchema | None = None
    ) -> FeatureEncoder:
        """Fit standardization and bin edges on training rows (labels place the bin edges)."""
        if bins < 2:
            raise ConfigError(f"bins must be at least 2, got {bins}")
        schema = _schema(schema)
        numeric = len(schema.numeric_features)
        x = feature_matrix(frame, schema)[:, :numeric]
        y = labels(frame, schema)
        sd = x.std(axis=0)
        sd[sd == 0] = 1.0
        return cls(
            mean=tuple(map(float, x.mean(axis=0))),
            scale=tuple(map(float, sd)),
            edges=tuple(_plausible_edges(x[:, j], y, bins) for j in range(numeric)),
            schema=schema,
        )

    @property
    def _numeric(self) -> int:
        return len(self.schema.numeric_features)

    @property
    def width(self) -> int:
        """Number of encoded inputs the model sees."""
        one_hot = len(self.schema.feature_names) - self._numeric
        return self._numeric + sum(len(e) - 1 for e in self.edges) + one_hot

    def transform_matrix(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        """Encode an already-built raw feature matrix (see :func:`feature_matrix`)."""
        expected = len(self.schema.feature_names)
        if x.ndim != 2 or x.shape[1] != expected:
            raise ModelError(f"expected {expected} features, got shape {x.shape}")
        numeric = x[:, : self._numeric]
        parts = [(numeric - np.asarray(self.mean)) / np.asarray(self.scale)]
        for j, edges in enumerate(self.edges):
            left, right = np.asarray(edges[:-1]), np.asarray(edges[1:])
            parts.append(np.clip((numeric[:, j : j + 1] - left) / (right - left), 0.0, 1.0))
        parts.append(x[:, self._numeric :])
        return np.hstack(parts).astype(np.float32)

    def transform(self, frame: pd.DataFrame) -> npt.NDArray[np.float32]:
        """Encoded feature matrix of a frame in the encoder's schema layout."""
        return self.transform_matrix(feature_matrix(frame, self.schema))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the model card."""
        return {
            "features": list(self.schema.feature_names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "edges": [list(e) for e in self.edges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], schema: DatasetSchema | None = None) -> FeatureEncoder:
        """Inverse of :meth:`to_dict`; rejects a card for other features or malformed values.

        ``schema`` is the card's dataset schema (AI4I 2020 for a card that names none).
        """
        schema = _schema(schema)
        numeric = len(schema.numeric_features)
        if list(data.get("features", [])) != list(schema.feature_names):
            raise ModelError("model card lists other features than its dataset schema")
        try:
            mean = tuple(float(m) for m in data["mean"])
            scale = tuple(float(s) for s in data["scale"])
            edges = tuple(tuple(float(e) for e in row) for row in data["edges"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError("model card encoder is malformed") from exc
        if len(mean) != numeric or len(scale) != numeric or len(edges) != numeric:
            raise ModelError("model card encoder is malformed")
        finite = all(math.isfinite(v) for v in (*mean, *scale, *(b for e in edges for b in e)))
        if (
            not finite
            or any(s <= 0 for s in scale)
            or any(len(e) < 2 or any(b <= a for a, b in pairwise(e)) for e in edges)
        ):  # NaN passed every comparison above and failed later, deep in the scaler
            raise ModelError("model card encoder is malformed")
        return cls(mean=mean, scale=scale, edges=edges, schema=schema)
