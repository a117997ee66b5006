"""The plausible region of any dataset schema's rows, for triggers where no physics is declared.

Why: the AI4I triggers follow its failure physics (:class:`SensorEnvelope`); another schema
declares only columns, types and ranges. Its envelope is measured on reference rows as a
Gaussian copula: each numeric model input keeps its marginal (quantile knots from the 1st to
the 99th percentile, clipped to the declared range), the normal scores keep their correlation,
and the squared Mahalanobis distance of the scores is the density sketch. Triggers are drawn
from the copula on a shell just beyond the 99th percentile of that distance (rare, yet shaped
like the data: every value inside its column's 1st-99th percentile span, correlated columns
moving together) and rounded as the data is. The envelope names its schema and the schema's
digest, so a verification years later re-derives the same triggers and refuses another
schema's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtri

from edgeshield.errors import ConfigError, OwnershipError
from edgeshield.usecase import Column, DatasetSchema

__all__ = ["TableEnvelope", "model_input_columns"]

FloatArray = npt.NDArray[np.float64]
KIND = "table"
_KNOTS = np.linspace(0.01, 0.99, 33)
_SCORES = ndtri(_KNOTS)
_RARITY_QUANTILE = 0.99
_SHELL = 1.15
"""Triggers lie between the rarity radius and this multiple of it (in score-space distance)."""
_RIDGE = 1e-3
_MIN_ROWS = 50


def model_input_columns(schema: DatasetSchema) -> tuple[Column, ...]:
    """Numeric columns the model reads: numeric inputs and what derived inputs are built from."""
    return tuple(
        c for c in schema.input_columns if c.type.numeric and c.name != schema.target.column
    )


def _decimals(values: FloatArray) -> int:
    """Fewest decimals (up to 6) that reproduce every reference value."""
    for digits in range(7):
        if np.allclose(values, np.round(values, digits), rtol=0.0, atol=1e-9):
            return digits
    return 6


def _score_map(knots: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Strictly increasing knot values and their normal scores (tied knots share the mean)."""
    values, inverse = np.unique(knots, return_inverse=True)
    scores = np.bincount(inverse, weights=_SCORES) / np.bincount(inverse)
    return values, scores


@dataclass(frozen=True, kw_only=True)
class TableEnvelope:
    """The region of plausible rows of one dataset schema, measured on reference rows.

    Parameters
    ----------
    schema_name, schema_digest
        The dataset schema the envelope was fitted for (a model of another schema is refused).
    columns
        Headers of the numeric model-input columns the envelope spans, in schema order.
    knots
        Per column, its values at the percentiles ``1, 4.06, ..., 99`` (33 knots).
    decimals
        Per column, the decimals its values are written with.
    levels
        Per category input column (by header), its declared levels (drawn uniformly).
    correlation
        Correlation of the columns' normal scores (plus a small ridge).
    rarity
        The 99th percentile of the reference rows' squared score distance: rare beyond it.
    """

    schema_name: str
    schema_digest: str
    columns: tuple[str, ...]
    knots: tuple[tuple[float, ...], ...]
    decimals: tuple[int, ...]
    levels: tuple[tuple[str, tuple[str, ...]], ...]
    correlation: tuple[tuple[float, ...], ...]
    rarity: float

    def __post_init__(self) -> None:
        k = len(self.columns)
        if k < 1:
            raise ConfigError("the envelope needs at least one numeric model input")
        if len(self.knots) != k or any(len(row) != _KNOTS.size for row in self.knots):
            raise ConfigError(f"envelope needs {_KNOTS.size} knots per column")
        if any(np.any(np.diff(row) < 0) or row[-1] <= row[0] for row in self.knots):
            raise ConfigError("envelope knots must increase from the 1st to the 99th percentile")
        if len(self.decimals) != k or len(self.correlation) != k:
            raise ConfigError("envelope needs decimals and a correlation row per column")
        if any(len(row) != k for row in self.correlation) or not self.rarity > 0:
            raise ConfigError(f"envelope correlation must be {k}x{k} and rarity positive")

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: DatasetSchema) -> TableEnvelope:
        """Measure the envelope on reference rows in ``schema``'s layout.

        Raises
        ------
        ConfigError
            The schema has no numeric model input, or fewer than 50 rows are given.
        """
        columns = model_input_columns(schema)
        if not columns:
            raise ConfigError(
                f"schema {schema.name!r} has no numeric model input to draw triggers in"
            )
        if len(frame) < _MIN_ROWS:
            raise ConfigError(
                f"need at least {_MIN_ROWS} reference rows to fit a trigger envelope, "
                f"got {len(frame)}"
            )
        x = np.column_stack([frame[c.header].to_numpy(np.float64) for c in columns])
        knots = []
        for j, column in enumerate(columns):
            row = np.quantile(x[:, j], _KNOTS)
            low = -np.inf if column.minimum is None else column.minimum
            high = np.inf if column.maximum is None else column.maximum
            row = np.clip(row, low, high)
            if row[-1] <= row[0]:
                raise ConfigError(
                    f"column {column.header!r} barely varies in the reference rows "
                    "(1st and 99th percentile equal): it cannot hold triggers"
                )
            knots.append(tuple(float(v) for v in row))
        plain = cls(
            schema_name=schema.name,
            schema_digest=schema.digest,
            columns=tuple(c.header for c in columns),
            knots=tuple(knots),
            decimals=tuple(_decimals(x[:, j]) for j in range(len(columns))),
            levels=tuple(
                (c.header, c.levels)
                for c in schema.category_features
                if c.name != schema.target.column
            ),
            correlation=tuple((1.0,) * len(columns) for _ in columns),
            rarity=1.0,
        )
        scores = plain._scores_of(x)
        correlation = np.atleast_2d(np.corrcoef(scores, rowvar=False))
        correlation = (correlation + _RIDGE * np.eye(len(columns))) / (1 + _RIDGE)
        fitted = replace(
            plain, correlation=tuple(tuple(float(v) for v in row) for row in correlation)
        )
        return replace(
            fitted, rarity=float(np.quantile(fitted._distance(scores), _RARITY_QUANTILE))
        )

    def check_schema(self, schema: DatasetSchema) -> None:
        """Refuse a schema other than the one the envelope was fitted for."""
        if schema.digest != self.schema_digest:
            raise OwnershipError(
                f"the trigger envelope was fitted for schema {self.schema_name!r} "
                f"({self.schema_digest[:19]}...), not for {schema.name!r} "
                f"({schema.digest[:19]}...)"
            )

    def _scores_of(self, x: FloatArray) -> FloatArray:
        """Normal scores of raw column values (clamped at the 1st and 99th percentile)."""
        out = np.empty_like(x, dtype=np.float64)
        for j, row in enumerate(self.knots):
            values, scores = _score_map(np.asarray(row))
            out[:, j] = np.interp(x[:, j], values, scores)
        return out

    def _distance(self, scores: FloatArray) -> FloatArray:
        precision = np.linalg.inv(np.asarray(self.correlation))
        return np.asarray(np.einsum("ij,jk,ik->i", scores, precision, scores))

    def _matrix(self, frame: pd.DataFrame) -> FloatArray:
        return np.column_stack([frame[h].to_numpy(np.float64) for h in self.columns])

    def density_distance(self, frame: pd.DataFrame) -> FloatArray:
        """Squared Mahalanobis distance of each row's normal scores from the reference rows."""
        return self._distance(self._scores_of(self._matrix(frame)))

    def is_rare(self, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Per row, whether the point lies in the sparse tail of the reference rows."""
        return np.asarray(self.density_distance(frame) >= self.rarity)

    def contains(self, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Per row, whether every value lies in its column's span and every level is declared."""
        x = self._matrix(frame)
        ok = np.ones(len(frame), dtype=bool)
        for j, row in enumerate(self.knots):
            ok &= (x[:, j] >= row[0] - 1e-9) & (x[:, j] <= row[-1] + 1e-9)
        for name, levels in self.levels:
            ok &= frame[name].astype(str).isin(levels).to_numpy()
        return ok

    def draw(self, uniform: FloatArray) -> pd.DataFrame:
        """Candidate rows from uniforms: copula points on the rare shell, mapped and rounded.

        ``uniform`` holds ``candidates * self.width`` values in ``[0, 1)``; candidates whose
        scores leave a column's span are dropped, so fewer rows than candidates come back.
        """
        k = len(self.columns)
        u = uniform.reshape(-1, self.width)
        g = ndtri(np.clip(u[:, :k], 1e-12, 1 - 1e-12))
        direction = g / np.linalg.norm(g, axis=1, keepdims=True)
        radius = np.sqrt(self.rarity) * (1.0 + (_SHELL - 1.0) * u[:, k])
        white = direction * radius[:, None]
        scores = white @ np.linalg.cholesky(np.asarray(self.correlation)).T
        out: dict[str, Any] = {}
        inside = np.ones(len(u), dtype=bool)
        for j, (name, row) in enumerate(zip(self.columns, self.knots, strict=True)):
            values, knot_scores = _score_map(np.asarray(row))
            inside &= (scores[:, j] >= knot_scores[0]) & (scores[:, j] <= knot_scores[-1])
            out[name] = np.round(np.interp(scores[:, j], knot_scores, values), self.decimals[j])
        for i, (name, levels) in enumerate(self.levels):
            pick = np.minimum((u[:, k + 1 + i] * len(levels)).astype(int), len(levels) - 1)
            out[name] = np.asarray(levels)[pick]
        return pd.DataFrame(out).loc[inside].reset_index(drop=True)

    @property
    def width(self) -> int:
        """Uniforms one candidate row consumes."""
        return len(self.columns) + 1 + len(self.levels)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the null calibration."""
        return {
            "kind": KIND,
            "schema": self.schema_name,
            "schema_sha256": self.schema_digest,
            "columns": list(self.columns),
            "knots": [list(row) for row in self.knots],
            "decimals": list(self.decimals),
            "levels": {name: list(levels) for name, levels in self.levels},
            "correlation": [list(row) for row in self.correlation],
            "rarity": self.rarity,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableEnvelope:
        """Inverse of :meth:`to_dict`."""
        try:
            if data["kind"] != KIND:
                raise ValueError(f"kind {data['kind']!r} is not {KIND!r}")
            return cls(
                schema_name=str(data["schema"]),
                schema_digest=str(data["schema_sha256"]),
                columns=tuple(str(c) for c in data["columns"]),
                knots=tuple(tuple(float(v) for v in row) for row in data["knots"]),
                decimals=tuple(int(d) for d in data["decimals"]),
                levels=tuple(
                    (str(name), tuple(str(v) for v in levels))
                    for name, levels in dict(data["levels"]).items()
                ),
                correlation=tuple(tuple(float(v) for v in row) for row in data["correlation"]),
                rarity=float(data["rarity"]),
            )
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise OwnershipError(f"malformed trigger envelope: {exc!r}") from exc
