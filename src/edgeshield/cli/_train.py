"""``edgeshield train``: train the classifier centrally on any dataset schema; save it safely."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from edgeshield.cli._data import SchemaOption, load_schema_option
from edgeshield.cli._limits import ROWS_MAX, SEED_MAX
from edgeshield.cli._outputs import check_writable, staged_directory
from edgeshield.cli._render import JsonOption, console, metrics_table, print_json, progress
from edgeshield.errors import ConfigError
from edgeshield.usecase import (
    DatasetSchema,
    FleetConfig,
    PlantDatabase,
    TrainConfig,
    is_default_schema,
    make_fleet,
    read_table,
    save_classifier,
    stratified_split,
    train_classifier,
)

__all__ = ["evaluate", "train"]


def _load_rows(
    csv: Path | None,
    db_url: str | None,
    plants: int,
    rows: int,
    seed: int,
    schema: DatasetSchema,
) -> pd.DataFrame:
    if csv is not None and db_url is not None:
        raise ConfigError("give either --csv or --db-url, not both")
    if csv is not None:
        return read_table(csv, schema)
    if db_url is not None:
        with PlantDatabase(db_url, create=False, schema=schema) as db:
            ids = db.plant_ids()
            if not ids:
                raise ConfigError(f"the database {db_url} holds no plant data")
            return pd.concat([db.read_plant(p) for p in ids], ignore_index=True)
    if not is_default_schema(schema):
        raise ConfigError(f"schema {schema.name!r} needs --csv or --db-url with its data")
    return make_fleet(FleetConfig(plants=plants, total_rows=rows), seed=seed).combined()


def train(
    out: Annotated[Path, typer.Option("--out", help="Directory for model.safetensors + card.")],
    csv: Annotated[
        Path | None, typer.Option(help="Train on this CSV (in the --schema layout).")
    ] = None,
    db_url: Annotated[str | None, typer.Option("--db-url", help="Train on this database.")] = None,
    plants: Annotated[int, typer.Option(min=1, help="Generated plants (no --csv/--db-url).")] = 5,
    rows: Annotated[
        int, typer.Option(min=100, max=ROWS_MAX, help="Generated rows (no --csv/--db-url).")
    ] = 10_000,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 100,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=SEED_MAX,
            help="Seed of data split, init and batches (default: fresh, recorded).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
    schema: SchemaOption = None,
) -> None:
    """Train the failure classifier on 75 % of the rows and report metrics on the rest.

    The rows follow ``--schema`` (AI4I 2020 by default); its target's positive label is the
    class the metrics score, and the model card records the schema and its digest. Without
    ``--seed`` a fresh seed is drawn, so two vendors training on the same public data
    do not get byte-identical models; the seed is recorded in the model card and printed.
    """
    check_writable(out, force=force, what="model directory")
    if seed is None:
        seed = secrets.randbelow(2**31)
    layout = load_schema_option(schema)
    data = _load_rows(csv, db_url, plants, rows, seed, layout)
    train_rows, test_rows = stratified_split(data, seed=seed, schema=layout)
    with progress() as bar:
        task = bar.add_task("training", total=epochs)
        classifier = train_classifier(
            train_rows,
            TrainConfig(epochs=epochs),
            seed=seed,
            on_epoch=lambda _epoch, _loss: bar.advance(task),
            schema=layout,
        )
    metrics = classifier.evaluate(test_rows)
    classifier.metrics = {"test": metrics.as_dict()}
    with staged_directory(out, force=force) as staging:
        save_classifier(classifier, staging)
    title = "Failure classifier" if layout.name == "ai4i2020" else f"{layout.name} classifier"
    console.print(metrics_table(f"{title} (held-out 25 %)", {"test": metrics}))
    console.print(f"model saved to {out} (seed {seed}, recorded in the model card)")
    console.print(f"model digest {classifier.model_digest}")


def evaluate(
    model: Annotated[Path, typer.Argument(help="Model directory (model.safetensors + card).")],
    csv: Annotated[
        Path | None, typer.Option(help="Evaluate on this CSV (in the model's dataset schema).")
    ] = None,
    db_url: Annotated[
        str | None, typer.Option("--db-url", help="Evaluate on every plant of this database.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a saved model on labelled rows: failure precision, recall, F1 and PR-AUC."""
    from edgeshield.usecase import load_classifier

    if csv is None and db_url is None:
        raise ConfigError("give --csv or --db-url with the rows to evaluate on")
    classifier = load_classifier(model)
    data = _load_rows(csv, db_url, 1, 100, 0, classifier.schema)
    metrics = classifier.evaluate(data)
    if as_json:
        print_json(
            {
                "model": str(model),
                "model_digest": classifier.model_digest,
                "metrics": metrics.as_dict(),
            }
        )
        return
    console.print(metrics_table(f"Failure classifier {model}", {"evaluation": metrics}))
