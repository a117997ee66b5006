"""``edgeshield data``: generate, import and inspect plant data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgeshield.cli._render import console, fleet_table
from edgeshield.errors import ConfigError
from edgeshield.usecase import (
    FleetConfig,
    GeneratorConfig,
    PlantDatabase,
    generate,
    make_fleet,
    read_uci_csv,
    write_uci_csv,
)

__all__ = ["app"]

app = typer.Typer(help="Generate, import and inspect plant sensor data.", no_args_is_help=True)

DbUrl = Annotated[
    str | None,
    typer.Option("--db-url", help="SQLAlchemy URL of the plant database, e.g. sqlite:///plants.db"),
]


@app.command(name="generate")
def generate_cmd(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write (UCI layout).")],
    rows: Annotated[int, typer.Option(min=1, help="Rows to generate.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    db_url: DbUrl = None,
    plant: Annotated[str, typer.Option(help="Plant id when writing to a database.")] = "plant-1",
) -> None:
    """Generate one plant's data in the UCI AI4I 2020 CSV format."""
    frame = generate(GeneratorConfig(rows=rows), seed=seed)
    write_uci_csv(frame, out)
    if db_url:
        with PlantDatabase(db_url) as db:
            db.write_plant(plant, frame)
    console.print(
        f"wrote {len(frame)} rows ({int(frame['Machine failure'].sum())} failures) to {out}"
    )


@app.command(name="import")
def import_cmd(
    csv: Annotated[Path, typer.Argument(help="A CSV file in the UCI AI4I 2020 layout.")],
    db_url: Annotated[str, typer.Option("--db-url", help="SQLAlchemy URL to import into.")],
    plant: Annotated[str, typer.Option(help="Plant id for the imported rows.")] = "plant-1",
) -> None:
    """Import a UCI-layout CSV (such as the published AI4I 2020 file) into the plant database."""
    frame = read_uci_csv(csv)
    with PlantDatabase(db_url) as db:
        count = db.write_plant(plant, frame)
    console.print(f"imported {count} rows into plant {plant!r} of {db_url}")


@app.command(name="plants")
def plants_cmd(
    plants: Annotated[int, typer.Option("--plants", min=1, help="Number of plants.")] = 5,
    rows: Annotated[int, typer.Option(help="Rows over all plants.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed of the fleet.")] = 0,
    db_url: DbUrl = None,
) -> None:
    """Draw a fleet of plants, print rows and failures by mode, optionally store it."""
    if rows < plants:
        raise ConfigError(f"--rows {rows} is smaller than --plants {plants}")
    config = FleetConfig(plants=plants, total_rows=rows, min_rows=min(200, rows // plants))
    fleet = make_fleet(config, seed=seed)
    if db_url:
        with PlantDatabase(db_url) as db:
            db.write_fleet(fleet.profiles, fleet.frames)
    console.print(fleet_table(fleet))
