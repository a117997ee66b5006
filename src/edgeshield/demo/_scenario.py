"""The demonstrator's scenario: each step runs, is checked, and leaves its result for the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from edgeshield.errors import ConfigError, ModelError
from edgeshield.usecase import (
    FailureClassifier,
    FailureMetrics,
    Fleet,
    FleetConfig,
    PlantDatabase,
    TrainConfig,
    load_classifier,
    make_fleet,
    save_classifier,
    sqlite_url,
    stratified_split,
    train_classifier,
)

__all__ = ["DemoConfig", "DemoResult", "run_demo"]

Progress = Callable[[str, float], None]
"""Called with a step description and the fraction of the demo done."""


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """What the demo runs: fleet size, data volume, training budget and seed."""

    plants: int = 5
    rows: int = 10_000
    epochs: int = 100
    seed: int = 0
    db_url: str | None = None

    def __post_init__(self) -> None:
        if self.plants < 2:
            raise ConfigError(f"the demo needs at least 2 plants, got {self.plants}")
        if self.rows < 100 * self.plants:
            raise ConfigError(f"the demo needs at least 100 rows per plant, got {self.rows}")


@dataclass
class DemoResult:
    """Everything the demo measured, for the summary and the report."""

    run_dir: Path
    fleet: Fleet
    db_url: str
    classifier: FailureClassifier
    overall: FailureMetrics
    per_plant: dict[str, FailureMetrics]
    steps: list[tuple[str, str]] = field(default_factory=list)


def _split_fleet(
    db: PlantDatabase, plant_ids: list[str], seed: int
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Read each plant back from the database and split it 75/25, stratified."""
    trains, tests = [], {}
    for i, pid in enumerate(plant_ids):
        train, test = stratified_split(db.read_plant(pid), seed=seed + i)
        trains.append(train)
        tests[pid] = test
    return pd.concat(trains, ignore_index=True), tests


def run_demo(config: DemoConfig, run_dir: Path, progress: Progress | None = None) -> DemoResult:
    """Run the chain that exists today and check every step's outcome.

    Raises
    ------
    EdgeShieldError
        A step failed; the message says which.
    """
    report = progress or (lambda _step, _done: None)
    run_dir.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, str]] = []

    report("generating plant data", 0.0)
    fleet = make_fleet(FleetConfig(plants=config.plants, total_rows=config.rows), seed=config.seed)
    db_url = config.db_url or sqlite_url(run_dir / "plants.db")
    with PlantDatabase(db_url) as db:
        written = db.write_fleet(fleet.profiles, fleet.frames)
        if written != config.rows or db.plant_ids() != sorted(fleet.plant_ids):
            raise ModelError("plant data did not round-trip through the database")
        steps.append(("plant data", f"{config.plants} plants, {written} rows in {db_url}"))
        train, tests = _split_fleet(db, fleet.plant_ids, config.seed)

    def on_epoch(epoch: int, _loss: float) -> None:
        report("training the failure classifier", 0.1 + 0.8 * (epoch + 1) / config.epochs)

    classifier = train_classifier(
        train, TrainConfig(epochs=config.epochs), seed=config.seed, on_epoch=on_epoch
    )
    test_all = pd.concat(tests.values(), ignore_index=True)
    overall = classifier.evaluate(test_all)
    per_plant = {pid: classifier.evaluate(frame) for pid, frame in tests.items()}
    classifier.metrics = {"test": overall.as_dict()}
    steps.append(("training", f"failure F1 {overall.f1:.3f}, PR-AUC {overall.pr_auc:.3f}"))

    report("saving the model", 0.95)
    model_dir = save_classifier(classifier, run_dir / "model")
    reloaded = load_classifier(model_dir)
    if not np.array_equal(reloaded.predict_proba(test_all), classifier.predict_proba(test_all)):
        raise ModelError("the saved model does not reproduce the trained model's predictions")
    steps.append(("model", f"safetensors + model card in {model_dir}, reload verified"))
    report("done", 1.0)
    return DemoResult(
        run_dir=run_dir,
        fleet=fleet,
        db_url=db_url,
        classifier=classifier,
        overall=overall,
        per_plant=per_plant,
        steps=steps,
    )
