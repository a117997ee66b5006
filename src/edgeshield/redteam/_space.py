"""The query space an attacker reads from the API's published request schema.

Why: a thief of any model knows what the API accepts (its OpenAPI document names every field,
its range and its levels), not the victim's encoder. The extraction attacks and the surrogate
work in that space: numeric inputs (standardized by the attacker), category inputs one-hot, and
the label column of the attacker's own rows. For AI4I 2020 it is the five sensors and the
product type, in the order the red team always used.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.guard import RequestSchema, request_schema

__all__ = ["AttackSpace", "default_space"]


@dataclass(frozen=True)
class AttackSpace:
    """Numeric and category inputs of one request schema, as the attacker handles them."""

    request: RequestSchema

    @cached_property
    def numeric(self) -> tuple[str, ...]:
        """Headers of the numeric inputs (the features the attacker standardizes and moves)."""
        return tuple(c.header for c in self.request.numeric)

    @cached_property
    def categories(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Header and levels of each category input."""
        return tuple((c.header, tuple(str(v) for v in c.levels)) for c in self.request.categories)

    @property
    def width(self) -> int:
        """Number of surrogate input features: the numeric inputs and every category level."""
        return len(self.numeric) + sum(len(levels) for _, levels in self.categories)

    def features(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Numeric inputs as given, then one-hot category levels."""
        parts = [frame.loc[:, list(self.numeric)].to_numpy(np.float64)]
        for header, levels in self.categories:
            values = frame[header].astype(str).to_numpy()
            parts.append(np.column_stack([(values == v).astype(np.float64) for v in levels]))
        return np.hstack(parts)

    def clip(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Numeric inputs clipped to the ranges the API accepts (an open end stays open)."""
        out = frame.copy()
        for column in self.request.numeric:
            out[column.header] = out[column.header].clip(column.minimum, column.maximum)
        return out

    def uniform(self, pool: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """``n`` uniform queries in the envelope of the attacker's own readings."""
        data: dict[str, Any] = {
            header: rng.choice(list(levels), size=n) for header, levels in self.categories
        }
        for header in self.numeric:
            low, high = float(pool[header].min()), float(pool[header].max())
            data[header] = rng.uniform(low, high, size=n)
        return pd.DataFrame(data)

    def moved(self, base: pd.DataFrame, values: npt.NDArray[np.float64]) -> pd.DataFrame:
        """``base``'s rows with their numeric inputs replaced by ``values``, clipped."""
        data: dict[str, Any] = {header: base[header].to_numpy() for header, _ in self.categories}
        data.update({header: values[:, j] for j, header in enumerate(self.numeric)})
        return self.clip(pd.DataFrame(data))

    def jittered(
        self, natural: pd.DataFrame, size: int, *, spread: float, rng: np.random.Generator
    ) -> pd.DataFrame:
        """``natural``'s rows, then jittered copies of random ones, up to ``size`` queries.

        Why: a thief with few rows of its own spends a larger budget on its rows moved by
        ``spread`` standard deviations (of its rows) per numeric input, clipped to the API's
        ranges; category inputs and the label column are kept from the copied row.
        """
        if size <= len(natural):
            return natural.iloc[:size].reset_index(drop=True)
        base = natural.iloc[rng.integers(0, len(natural), size - len(natural))]
        base = base.reset_index(drop=True)
        values = base.loc[:, list(self.numeric)].to_numpy(np.float64)
        sd = natural.loc[:, list(self.numeric)].to_numpy(np.float64).std(axis=0)
        values = values + rng.normal(0.0, spread, values.shape) * sd
        moved = self.moved(base, values)
        target = self.request.dataset.target_column.header
        if target in base.columns:
            moved[target] = base[target].to_numpy()
        return pd.concat([natural, moved], ignore_index=True)

    def labels(self, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
        """1 where the attacker's own row carries the schema's positive label, else 0."""
        dataset = self.request.dataset
        hits = frame[dataset.target_column.header] == dataset.target.positive
        return hits.to_numpy(dtype=np.bool_).astype(np.int64)


def default_space() -> AttackSpace:
    """The AI4I 2020 request space (the guard's default schema)."""
    return AttackSpace(request_schema())
