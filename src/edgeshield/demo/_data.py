"""Where the demo's rows come from: generated AI4I 2020 plants, or a file read by its schema.

Why one place: every step that needs rows (the plants, the server's public reference set, the
test rows, the benign client's trace, the attackers' pools, the honest competitors' data of the
null models) asks :class:`DemoData`, so a run on another dataset schema changes the source of
the rows and nothing else. AI4I 2020 (the default) keeps its generator, seeds and sizes; any
other schema has no generator, so its rows come from the user's CSV: a public reference set
and held-out test rows are drawn from it first (stratified), the rest is split into plants as
``data import --plants --split`` splits them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from edgeshield.demo._config import DemoConfig
from edgeshield.errors import ConfigError
from edgeshield.usecase import (
    DatasetSchema,
    Fleet,
    FleetConfig,
    GeneratorConfig,
    default_schema,
    generate,
    is_default_schema,
    make_fleet,
    read_table,
    split_rows,
    stratified_split,
)

__all__ = [
    "MIN_PLANT_ROWS",
    "REFERENCE_FRACTION",
    "TEST_FRACTION",
    "THIEF_JITTER",
    "DemoData",
    "generated_null_sources",
    "load_demo_data",
    "positive_word",
]

REFERENCE_FRACTION = 0.2
"""Share of a file's rows the vendor holds as public reference rows (never a plant's)."""
TEST_FRACTION = 0.25
"""Share of a file's rows held out to score the model (and replayed by the benign client)."""
MIN_PLANT_ROWS = 50
"""Fewest rows a plant of a file may hold: the Jacobian attacker starts from 50 of them."""
THIEF_JITTER = 0.1
"""Standard deviations by which the thief jitters its rows to spend a budget beyond them
(as ``benchmarks/guard_watermark_schema.py``)."""
_NULL_FLEETS = 3


def generated_null_sources(seed: int) -> dict[str, pd.DataFrame]:
    """Plants of independent generated AI4I fleets: data an honest competitor could hold."""
    sources: dict[str, pd.DataFrame] = {}
    for s in range(_NULL_FLEETS):
        fleet = make_fleet(FleetConfig(plants=2, total_rows=3000), seed=seed + 900 + s)
        for pid, frame in fleet.frames.items():
            sources[f"fleet{s}-{pid}"] = frame
    return sources


def positive_word(schema: DatasetSchema | None) -> str:
    """How the report names the positive class: AI4I's "failure", else the schema's label."""
    if schema is None or is_default_schema(schema):
        return "failure"
    return str(schema.target.positive)


@dataclass(frozen=True, kw_only=True)
class DemoData:
    """The run's rows: each plant's, and, for a file, its public reference and test rows.

    ``fleet`` is the generated AI4I fleet (``None`` for a file); ``reference`` and ``test``
    are ``None`` for AI4I, whose server generates its reference set and whose federated run
    holds test rows out of every plant.
    """

    schema: DatasetSchema
    plants: dict[str, pd.DataFrame]
    fleet: Fleet | None = None
    reference: pd.DataFrame | None = None
    test: pd.DataFrame | None = None
    source: str = ""
    """Where the rows came from, in words, for the report."""

    @property
    def plant_ids(self) -> list[str]:
        """Plant identifiers in order."""
        return list(self.plants)

    @property
    def plant_rows(self) -> int:
        """Rows over all plants."""
        return sum(len(f) for f in self.plants.values())

    def positives(self) -> dict[str, int]:
        """Rows of the schema's positive class in each plant."""
        target, positive = self.schema.target_column.header, self.schema.target.positive
        return {pid: int((f[target] == positive).sum()) for pid, f in self.plants.items()}

    def attacker_rows(self) -> pd.DataFrame:
        """The last plant's rows: what an attacker inside the fleet holds."""
        return self.plants[self.plant_ids[-1]]

    def benign_rows(self, config: DemoConfig) -> pd.DataFrame:
        """The benign client's trace: generated readings, or a file's held-out rows."""
        if self.test is None:
            return generate(GeneratorConfig(rows=config.benign_queries), seed=config.seed + 501)
        return self.test.iloc[: config.benign_queries].reset_index(drop=True)

    def eval_rows(self, config: DemoConfig) -> pd.DataFrame:
        """Rows on which the attackers' fidelity is measured (unseen by the attackers)."""
        if self.test is None:
            return generate(GeneratorConfig(rows=3000), seed=config.seed + 502)
        return self.test

    def thief_rows(self, config: DemoConfig) -> pd.DataFrame:
        """The natural-query thief's ``thief_queries`` queries.

        AI4I: generated readings. A file: the public reference rows (a thief may hold them),
        then jittered copies of them (:meth:`~edgeshield.redteam.AttackSpace.jittered`).
        """
        if self.reference is None:
            return generate(GeneratorConfig(rows=config.thief_queries), seed=config.seed + 503)
        from edgeshield.guard import request_schema
        from edgeshield.redteam import AttackSpace

        rng = np.random.default_rng(config.seed + 503)
        space = AttackSpace(request_schema(self.schema))
        return space.jittered(self.reference, config.thief_queries, spread=THIEF_JITTER, rng=rng)

    def null_sources(self, config: DemoConfig) -> dict[str, pd.DataFrame]:
        """Data an honest competitor could hold, never a plant's rows.

        AI4I: plants of independent generated fleets. A file: its public reference rows and
        its held-out test rows (neither trained the owner's model).
        """
        if self.reference is None or self.test is None:
            return generated_null_sources(config.seed)
        return {"public-reference": self.reference, "held-out": self.test}


def load_demo_data(config: DemoConfig) -> DemoData:
    """The run's rows: a generated AI4I fleet, or ``config.data`` read by ``config.schema``.

    Raises
    ------
    ConfigError
        The file's rows leave fewer than :data:`MIN_PLANT_ROWS` rows to a plant, or the
        split column does not name one value per plant.
    SchemaError, StorageError
        The file cannot be read by the schema (as ``data import`` refuses it).
    """
    if config.generated:
        fleet = make_fleet(
            FleetConfig(plants=config.plants, total_rows=config.rows), seed=config.seed
        )
        return DemoData(
            schema=default_schema(),
            plants=dict(fleet.frames),
            fleet=fleet,
            source=f"generated AI4I 2020 plants ({config.rows} rows)",
        )
    schema, path = config.schema or default_schema(), config.data
    if path is None:  # DemoConfig refuses this; a clear error all the same
        raise ConfigError(f"schema {schema.name!r} needs the demo's rows (--data FILE)")
    frame = read_table(path, schema)
    rest, reference = stratified_split(
        frame, test_fraction=REFERENCE_FRACTION, seed=config.seed, schema=schema
    )
    held = TEST_FRACTION / (1 - REFERENCE_FRACTION)
    rest, test = stratified_split(rest, test_fraction=held, seed=config.seed, schema=schema)
    plants = split_rows(
        rest, config.plants, column=config.split_by, seed=config.seed, schema=schema
    )
    smallest = min(len(f) for f in plants.values())
    if smallest < MIN_PLANT_ROWS:
        raise ConfigError(
            f"{path.name}: {len(frame)} rows leave a plant {smallest} rows after the public"
            f" reference ({REFERENCE_FRACTION:.0%}) and test ({TEST_FRACTION:.0%}) rows; the"
            f" demo needs at least {MIN_PLANT_ROWS} per plant (fewer --plants or more rows)"
        )
    how = "at random" if config.split_by is None else f"by column {config.split_by!r}"
    return DemoData(
        schema=schema,
        plants=plants,
        reference=reference,
        test=test,
        source=f"{len(frame)} rows of {path.name}: {len(reference)} public reference rows, "
        f"{len(test)} held-out test rows, {len(rest)} plant rows split {how}",
    )
