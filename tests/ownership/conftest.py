"""Shared fixtures for the ownership tests: one tiny fleet, a clean and a marked model, a null."""

from __future__ import annotations

import pandas as pd
import pytest

from edgeshield.ownership import (
    EmbedConfig,
    NullDistribution,
    NullModelKind,
    PredictFn,
    SensorEnvelope,
    WatermarkKey,
    calibrate_null,
    embed_watermark,
    train_null_models,
)
from edgeshield.usecase import (
    FailureClassifier,
    Fleet,
    FleetConfig,
    TrainConfig,
    make_fleet,
    stratified_split,
    train_classifier,
)

TRIGGERS = 30
FPR = 0.15
"""The stated false-positive rate the 6 null models of these fixtures can support (N >= 6)."""


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return make_fleet(FleetConfig(plants=3, total_rows=4_000), seed=0)


@pytest.fixture(scope="session")
def split(fleet: Fleet) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = stratified_split(fleet.combined(), seed=0)
    return train, test


@pytest.fixture(scope="session")
def envelope(split: tuple[pd.DataFrame, pd.DataFrame]) -> SensorEnvelope:
    return SensorEnvelope.fit(split[0])


@pytest.fixture(scope="session")
def key() -> WatermarkKey:
    return WatermarkKey.from_bytes(bytes(range(32)))


@pytest.fixture(scope="session")
def clean(split: tuple[pd.DataFrame, pd.DataFrame]) -> FailureClassifier:
    return train_classifier(split[0], TrainConfig(epochs=15), seed=0)


@pytest.fixture(scope="session")
def marked(
    clean: FailureClassifier,
    key: WatermarkKey,
    split: tuple[pd.DataFrame, pd.DataFrame],
    envelope: SensorEnvelope,
) -> FailureClassifier:
    return embed_watermark(
        clean, key, split[0], envelope=envelope, config=EmbedConfig(triggers=TRIGGERS)
    )


@pytest.fixture(scope="session")
def nulls(fleet: Fleet) -> dict[str, PredictFn]:
    kinds = (NullModelKind.MLP_NARROW, NullModelKind.LOGISTIC, NullModelKind.RANDOM_FOREST)
    done: list[tuple[int, str]] = []
    models = train_null_models(
        fleet.frames, 6, kinds=kinds, epochs=8, seed=10, on_model=lambda n, m: done.append((n, m))
    )
    assert done == list(enumerate(models, start=1))  # progress: one call per model, in order
    return models


@pytest.fixture(scope="session")
def null(
    key: WatermarkKey, nulls: dict[str, PredictFn], envelope: SensorEnvelope
) -> NullDistribution:
    return calibrate_null(key, nulls, envelope=envelope, n=TRIGGERS, probes=200, fpr=FPR)
