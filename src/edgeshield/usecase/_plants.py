"""A fleet of plants whose data differ for physical reasons, not by random label skew.

Plants differ in ambient temperature (a hotter hall cools worse, so heat-dissipation failures
rise), product mix (Dirichlet around the UCI 60/30/10), maintenance policy (earlier or later
tool replacement moves tool-wear and overstrain failures) and size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from edgeshield.errors import ConfigError
from edgeshield.usecase._features import labels
from edgeshield.usecase._generator import GeneratorConfig, generate
from edgeshield.usecase._schema import DatasetSchema

__all__ = [
    "PLANT_COLUMN",
    "Fleet",
    "FleetConfig",
    "PlantProfile",
    "leave_one_plant_out",
    "make_fleet",
    "split_rows",
    "stratified_split",
]

PLANT_COLUMN = "Plant"
"""Column added to fleet-wide frames to name each row's plant."""


@dataclass(frozen=True, kw_only=True)
class PlantProfile:
    """One plant: its identity and the physical parameters of its production line."""

    plant_id: str
    rows: int
    ambient_offset_k: float
    type_mix: tuple[float, float, float]
    tool_replacement_mean_min: float
    seed: int

    def generator_config(self) -> GeneratorConfig:
        """The generator parameters that produce this plant's data."""
        return GeneratorConfig(
            rows=self.rows,
            type_mix=self.type_mix,
            ambient_offset_k=self.ambient_offset_k,
            tool_replacement_mean_min=self.tool_replacement_mean_min,
        )


@dataclass(frozen=True, kw_only=True)
class FleetConfig:
    """How a fleet of plants is drawn.

    Parameters
    ----------
    plants
        Number of plants.
    total_rows
        Rows over all plants; sizes are drawn around an equal share (at least ``min_rows``).
    ambient_spread_k
        Standard deviation of the plants' ambient-temperature offsets.
    mix_concentration
        Dirichlet concentration around the 60/30/10 product mix (higher: more alike).
    maintenance_spread_min
        Standard deviation of the plants' mean tool-replacement wear.
    size_spread
        Log-normal spread of plant sizes.
    min_rows
        Smallest plant size.
    """

    plants: int = 5
    total_rows: int = 10_000
    ambient_spread_k: float = 1.5
    mix_concentration: float = 30.0
    maintenance_spread_min: float = 10.0
    size_spread: float = 0.4
    min_rows: int = 200

    def __post_init__(self) -> None:
        if self.plants < 1:
            raise ConfigError(f"plants must be at least 1, got {self.plants}")
        if self.total_rows < self.plants * self.min_rows:
            raise ConfigError(
                f"total_rows={self.total_rows} is too small for {self.plants} plants of at least "
                f"{self.min_rows} rows"
            )
        if self.mix_concentration <= 0:
            raise ConfigError("mix_concentration must be positive")


@dataclass(frozen=True)
class Fleet:
    """The plants' profiles and their data, one frame per plant in UCI layout."""

    profiles: tuple[PlantProfile, ...]
    frames: dict[str, pd.DataFrame] = field(repr=False)

    @property
    def plant_ids(self) -> list[str]:
        """Plant identifiers in fleet order."""
        return [p.plant_id for p in self.profiles]

    def combined(self) -> pd.DataFrame:
        """All plants' rows in one frame with a leading ``Plant`` column."""
        parts = [
            self.frames[pid].assign(**{PLANT_COLUMN: pid})[
                [PLANT_COLUMN, *self.frames[pid].columns]
            ]
            for pid in self.plant_ids
        ]
        return pd.concat(parts, ignore_index=True)


def make_fleet(config: FleetConfig | None = None, *, seed: int = 0) -> Fleet:
    """Draw a fleet of plants and generate each plant's data, deterministically from ``seed``."""
    config = config or FleetConfig()
    rng = np.random.default_rng(seed)
    n = config.plants
    weights = rng.lognormal(0.0, config.size_spread, n)
    spare = config.total_rows - n * config.min_rows
    sizes = config.min_rows + np.floor(spare * weights / weights.sum()).astype(int)
    sizes[0] += config.total_rows - int(sizes.sum())
    offsets = rng.normal(0.0, config.ambient_spread_k, n)
    mixes = rng.dirichlet(config.mix_concentration * np.array([0.6, 0.3, 0.1]), n)
    replacement = np.clip(rng.normal(216.0, config.maintenance_spread_min, n), 180.0, 250.0)
    seeds = rng.integers(0, 2**31 - 1, n)
    profiles: list[PlantProfile] = []
    frames: dict[str, pd.DataFrame] = {}
    first_udi = 1
    for i in range(n):
        mix = mixes[i]
        profile = PlantProfile(
            plant_id=f"plant-{i + 1}",
            rows=int(sizes[i]),
            ambient_offset_k=round(float(offsets[i]), 2),
            type_mix=(round(float(mix[0]), 4), round(float(mix[1]), 4), round(float(mix[2]), 4)),
            tool_replacement_mean_min=round(float(replacement[i]), 1),
            seed=int(seeds[i]),
        )
        frame = generate(profile.generator_config(), seed=profile.seed)
        frame["UDI"] = np.arange(first_udi, first_udi + profile.rows)
        first_udi += profile.rows
        profiles.append(profile)
        frames[profile.plant_id] = frame
    return Fleet(profiles=tuple(profiles), frames=frames)


def leave_one_plant_out(fleet: Fleet) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """Yield ``(held_out_plant, train_rows, test_rows)`` once per plant."""
    for held_out in fleet.plant_ids:
        train = pd.concat(
            [fleet.frames[p] for p in fleet.plant_ids if p != held_out], ignore_index=True
        )
        yield held_out, train, fleet.frames[held_out].reset_index(drop=True)


def stratified_split(
    frame: pd.DataFrame,
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
    schema: DatasetSchema | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into train and test, keeping the positive (failure) rate equal in both."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    y = labels(frame, schema).astype(np.int64)
    stratify = y if 2 <= y.sum() <= y.size - 2 else None
    from sklearn.model_selection import train_test_split  # lazy: few commands need sklearn

    train, test = train_test_split(
        frame, test_size=test_fraction, stratify=stratify, random_state=seed
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_rows(
    frame: pd.DataFrame,
    plants: int,
    *,
    column: str | None = None,
    seed: int = 0,
    schema: DatasetSchema | None = None,
) -> dict[str, pd.DataFrame]:
    """Split one table into plants ``plant-1`` … ``plant-N``: at random, or by a column's value.

    Why: a user with one CSV can stand up a federation (``data import --plants N``) without
    writing the split. At random (``column`` ``None``), a seeded permutation is cut into
    ``plants`` parts of near-equal size; by ``column`` (a schema column's name or header), the
    column must hold exactly ``plants`` distinct values, one plant each in sorted order.

    Raises
    ------
    ConfigError
        Fewer than 2 plants, more plants than rows, an unknown column, or a column whose
        number of distinct values is not ``plants``.
    """
    if plants < 2:
        raise ConfigError(f"a split needs at least 2 plants, got {plants}")
    if plants > len(frame):
        raise ConfigError(f"cannot split {len(frame)} rows into {plants} plants")
    names = [f"plant-{i + 1}" for i in range(plants)]
    if column is None:
        order = np.random.default_rng(seed).permutation(len(frame))
        parts = np.array_split(order, plants)
        return {
            n: frame.iloc[np.sort(p)].reset_index(drop=True)
            for n, p in zip(names, parts, strict=True)
        }
    headers = {c.name: c.header for c in (schema.columns if schema is not None else ())}
    header = headers.get(column, column)
    if header not in frame.columns:
        raise ConfigError(f"no column {column!r} to split by; the rows have {list(frame.columns)}")
    values = sorted(frame[header].dropna().unique().tolist(), key=str)
    if len(values) != plants or frame[header].isna().any():
        raise ConfigError(
            f"column {column!r} holds {len(values)} distinct values"
            + (" and empty cells" if frame[header].isna().any() else "")
            + f"; a split into {plants} plants needs exactly {plants}"
        )
    return {
        n: frame[frame[header] == v].reset_index(drop=True)
        for n, v in zip(names, values, strict=True)
    }
