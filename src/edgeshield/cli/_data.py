"""``edgeshield data``: generate, import and inspect plant data."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from edgeshield.cli._limits import ROWS_MAX, SEED_MAX
from edgeshield.cli._outputs import check_writable
from edgeshield.cli._render import console, fleet_table
from edgeshield.errors import ConfigError
from edgeshield.usecase import (
    DatasetSchema,
    FleetConfig,
    GeneratorConfig,
    IfPlantExists,
    PlantDatabase,
    default_schema,
    generate,
    load_schema,
    make_fleet,
    read_table,
    screen_table,
    split_rows,
    write_uci_csv,
)

__all__ = ["OnBadRow", "SchemaOption", "app", "load_schema_option"]

app = typer.Typer(help="Generate, import and inspect plant sensor data.", no_args_is_help=True)


def _non_empty(value: str | None) -> str | None:
    if value is not None and not value.strip():  # '' once meant "no database" in silence
        raise typer.BadParameter("an empty URL names no database")
    return value


DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db-url",
        callback=_non_empty,
        help="SQLAlchemy URL of the plant database, e.g. sqlite:///plants.db",
    ),
]
Replace = Annotated[
    bool, typer.Option("--replace", help="Replace the rows of a plant that already has data.")
]
Append = Annotated[
    bool, typer.Option("--append", help="Add to the rows of a plant that already has data.")
]
SchemaOption = Annotated[
    str | None,
    typer.Option(
        "--schema",
        help="Dataset schema: a YAML file or a shipped name (default: ai4i2020, the UCI layout).",
    ),
]


class OnBadRow(enum.Enum):
    """What ``data import`` does with a row that does not fit the schema."""

    REFUSE = "refuse"
    """Refuse the whole file at the first such row (nothing is written)."""
    QUARANTINE = "quarantine"
    """Import the other rows; store these, with the reason, in ``quarantined_rows``."""


def load_schema_option(schema: str | None) -> DatasetSchema:
    """The schema that ``--schema`` names, or AI4I 2020 when it is not given."""
    return default_schema() if schema is None else load_schema(schema)


def _if_exists(replace: bool, append: bool) -> IfPlantExists:
    """The storage policy that ``--replace``/``--append`` ask for (refuse by default)."""
    if replace and append:
        raise ConfigError("give either --replace or --append, not both")
    if replace:
        return IfPlantExists.REPLACE
    return IfPlantExists.APPEND if append else IfPlantExists.FAIL


@app.command(name="generate")
def generate_cmd(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write (UCI layout).")],
    rows: Annotated[int, typer.Option(min=1, max=ROWS_MAX, help="Rows to generate.")] = 10_000,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Random seed.")] = 0,
    db_url: DbUrl = None,
    plant: Annotated[str, typer.Option(help="Plant id when writing to a database.")] = "plant-1",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    replace: Replace = False,
    append: Append = False,
) -> None:
    """Generate one plant's data in the UCI AI4I 2020 CSV format."""
    policy = _if_exists(replace, append)
    check_writable(out, force=force, what="CSV file")
    frame = generate(GeneratorConfig(rows=rows), seed=seed)
    if db_url:
        with PlantDatabase(db_url) as db:
            db.write_plant(plant, frame, if_exists=policy)
    write_uci_csv(frame, out)
    console.print(
        f"wrote {len(frame)} rows ({int(frame['Machine failure'].sum())} failures) to {out}"
    )


@app.command(name="import")
def import_cmd(
    csv: Annotated[Path, typer.Argument(help="A CSV file in the layout --schema declares.")],
    db_url: Annotated[str, typer.Option("--db-url", help="SQLAlchemy URL to import into.")],
    plant: Annotated[
        str | None, typer.Option(help="Plant id for the imported rows (default plant-1).")
    ] = None,
    plants: Annotated[
        int | None,
        typer.Option(
            "--plants", min=2, help="Split the rows into plants plant-1 to plant-N (see --split)."
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            help="How --plants splits the rows: 'random' (near-equal parts), or a column whose"
            " N distinct values become the N plants."
        ),
    ] = "random",
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Seed of --split random.")] = 0,
    replace: Replace = False,
    append: Append = False,
    schema: SchemaOption = None,
    on_bad_row: Annotated[
        OnBadRow,
        typer.Option(
            "--on-bad-row",
            help="refuse: stop at the first bad row, write nothing; quarantine: import the "
            "good rows and keep the bad ones, with the reason, in the quarantined_rows table.",
        ),
    ] = OnBadRow.REFUSE,
) -> None:
    """Import a CSV (by default the UCI AI4I 2020 layout) into the plant database.

    Every row is checked against the schema first (types, levels, physical ranges); the first
    refused value is reported with its row and column and nothing is written, unless
    ``--on-bad-row quarantine`` sets such rows aside. A plant that already holds rows is
    refused unless ``--replace`` or ``--append`` says what to do. ``--plants N`` splits the
    file into plants ``plant-1`` to ``plant-N`` (a federation from one CSV, e.g. for ``fl run
    --db-url``); a refused plant then leaves every plant unwritten.
    """
    policy = _if_exists(replace, append)
    layout = load_schema_option(schema)
    if plants is not None and plant is not None:
        raise ConfigError("give either --plant or --plants, not both")
    if plants is None and split != "random":
        raise ConfigError("--split needs --plants")
    if plants is not None and on_bad_row is OnBadRow.QUARANTINE:
        raise ConfigError("--on-bad-row quarantine imports one plant; drop --plants")
    if on_bad_row is OnBadRow.QUARANTINE:
        frame, bad = screen_table(csv, layout)
    else:
        frame, bad = read_table(csv, layout), None
    if plants is not None:
        parts = split_rows(
            frame, plants, column=None if split == "random" else split, seed=seed, schema=layout
        )
        by = (
            None
            if split == "random"
            else {c.name: c.header for c in layout.columns}.get(split, split)
        )
        _import_plants(db_url, layout, parts, policy, by=by)
        return
    plant = plant or "plant-1"
    with PlantDatabase(db_url, schema=layout) as db:
        count = db.write_plant(plant, frame, if_exists=policy, quarantined=bad)
        where = db.display_url
    console.print(f"imported {count} rows into plant {plant!r} of {where} (schema {layout.name})")
    if bad is not None and len(bad):
        console.print(
            f"quarantined {len(bad)} rows in table quarantined_rows; first: "
            f"{bad['reason'].iloc[0]}",
            markup=False,
        )


def _import_plants(
    db_url: str,
    layout: DatasetSchema,
    parts: dict[str, pd.DataFrame],
    policy: IfPlantExists,
    *,
    by: str | None = None,
) -> None:
    """Write split plants; with the refuse policy, check every plant is free before writing.

    Each plant's line says how many rows and positives it got and, split by a column (``by``,
    its header), which value of that column it holds.
    """
    with PlantDatabase(db_url, schema=layout) as db:
        taken = sorted(set(parts) & set(db.plant_ids()))
        if taken and policy is IfPlantExists.FAIL:
            raise ConfigError(
                f"plants {', '.join(taken)} already hold rows in {db.display_url}; pass"
                " --replace or --append"
            )
        for name, part in parts.items():
            db.write_plant(name, part, if_exists=policy)
        where = db.display_url
    target = layout.target_column.header
    for name, part in parts.items():
        positives = int((part[target] == layout.target.positive).sum())
        holds = f" ({by} = {part[by].iloc[0]!s})" if by is not None else ""
        console.print(
            f"{name}{holds}: {len(part)} rows, {positives} {layout.target.positive!s}",
            markup=False,
        )
    total = sum(len(p) for p in parts.values())
    console.print(
        f"imported {total} rows into {len(parts)} plants of {where} (schema {layout.name})"
    )


@app.command(name="schema")
def schema_cmd(
    name: Annotated[
        str, typer.Argument(help="A shipped schema name or a schema file to check.")
    ] = "ai4i2020",
) -> None:
    """Print a shipped dataset schema (a template for your own), or check a schema file."""
    from edgeshield.usecase import shipped_schema_text

    layout = load_schema(name)
    text = shipped_schema_text(name)
    if text is not None:
        print(text, end="")
        return
    console.print(
        f"{name}: schema {layout.name!r} is valid ({len(layout.columns)} columns, "
        f"{len(layout.feature_names)} model inputs, {layout.digest})"
    )


@app.command(name="plants")
def plants_cmd(
    plants: Annotated[int, typer.Option("--plants", min=1, help="Number of plants.")] = 5,
    rows: Annotated[int, typer.Option(min=1, max=ROWS_MAX, help="Rows over all plants.")] = 10_000,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Random seed of the fleet.")] = 0,
    db_url: DbUrl = None,
    replace: Replace = False,
) -> None:
    """Draw a fleet of plants, print rows and failures by mode, optionally store it.

    Plants that already hold rows in the database are refused unless ``--replace``.
    """
    if rows < plants:
        raise ConfigError(f"--rows {rows} is smaller than --plants {plants}")
    config = FleetConfig(plants=plants, total_rows=rows, min_rows=min(200, rows // plants))
    fleet = make_fleet(config, seed=seed)
    if db_url:
        policy = IfPlantExists.REPLACE if replace else IfPlantExists.FAIL
        with PlantDatabase(db_url) as db:
            db.write_fleet(fleet.profiles, fleet.frames, if_exists=policy)
    console.print(fleet_table(fleet))
