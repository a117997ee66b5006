"""``edgeshield demo``: the end-to-end chain of custody on embedded defaults."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgeshield.cli._render import console, fleet_table, metrics_table, progress
from edgeshield.demo import DemoConfig, run_demo, write_report

__all__ = ["demo"]


def demo(
    plants: Annotated[int, typer.Option(min=2, help="Number of plants.")] = 5,
    rows: Annotated[int, typer.Option(min=200, help="Rows over all plants.")] = 10_000,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed of the whole run.")] = 0,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories are created.")] = Path(
        "runs"
    ),
    db_url: Annotated[
        str | None, typer.Option("--db-url", help="Plant database (default: SQLite in the run).")
    ] = None,
) -> None:
    """Run the chain that exists today, check every step, and write a report."""
    config = DemoConfig(plants=plants, rows=rows, epochs=epochs, seed=seed, db_url=db_url)
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    with progress() as bar:
        task = bar.add_task("demo", total=1.0)

        def on_progress(step: str, done: float) -> None:
            bar.update(task, description=step, completed=done)

        result = run_demo(config, runs_dir / run_id, on_progress)
    report = write_report(result)
    console.print(fleet_table(result.fleet))
    console.print(
        metrics_table(
            "Failure classifier (held-out 25 % of each plant)",
            {"all": result.overall, **result.per_plant},
        )
    )
    summary = Table(title="Demo steps", show_header=True)
    summary.add_column("step")
    summary.add_column("outcome")
    for name, outcome in result.steps:
        summary.add_row(name, outcome)
    console.print(summary)
    console.print(f"report: {report}")
