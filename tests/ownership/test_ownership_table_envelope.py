"""Triggers for a schema without declared physics (breast cancer): envelope, honest models, mark.

Issue 19: the envelope is fitted on reference rows through the schema; triggers are rare rows
labelled by the key. Honest models (other seeds, splits and model families) must not be OWNED
at the stated rate; a model embedded with the key must be, also after light fine-tuning.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgeshield.errors import ConfigError, OwnershipError
from edgeshield.ownership import (
    EmbedConfig,
    NullModelKind,
    PredictFn,
    TableEnvelope,
    WatermarkKey,
    calibrate_null,
    derive_anchors,
    derive_triggers,
    embed_watermark,
    envelope_from_dict,
    fit_envelope,
    train_null_model,
    train_null_models,
    trigger_accuracy,
    verify_ownership,
)
from edgeshield.redteam import RemovalAttack, RemovalKind, false_positive_audit, remove_watermark
from edgeshield.usecase import (
    DatasetSchema,
    FailureClassifier,
    TrainConfig,
    default_schema,
    labels,
    load_schema,
    read_table,
    schema_from_dict,
    stratified_split,
    train_classifier,
)

FPR = 0.1
"""Stated false-positive rate: 9 null models support it (1/(N+1) = 0.1)."""
TRIGGERS = 30
KEYS = 5


def _key(i: int) -> WatermarkKey:
    return WatermarkKey.from_bytes(hashlib.sha256(f"table-key-{i}".encode()).digest())


@pytest.fixture(scope="module")
def schema() -> DatasetSchema:
    return load_schema("breast_cancer")


@pytest.fixture(scope="module")
def split(breast_cancer_csv: Path, schema: DatasetSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    return stratified_split(read_table(breast_cancer_csv, schema), seed=0, schema=schema)


@pytest.fixture(scope="module")
def envelope(split: tuple[pd.DataFrame, pd.DataFrame], schema: DatasetSchema) -> TableEnvelope:
    fitted = fit_envelope(split[0], schema)
    assert isinstance(fitted, TableEnvelope)
    return fitted


@pytest.fixture(scope="module")
def nulls(split: tuple[pd.DataFrame, pd.DataFrame], schema: DatasetSchema) -> dict[str, PredictFn]:
    kinds = (NullModelKind.MLP_NARROW, NullModelKind.LOGISTIC, NullModelKind.RANDOM_FOREST)
    return train_null_models({"train": split[0]}, 9, kinds=kinds, epochs=15, seed=10, schema=schema)


@pytest.fixture(scope="module")
def clean(split: tuple[pd.DataFrame, pd.DataFrame], schema: DatasetSchema) -> FailureClassifier:
    return train_classifier(split[0], TrainConfig(epochs=30), seed=0, schema=schema)


def test_triggers_are_deterministic_rare_inside_and_balanced(envelope: TableEnvelope) -> None:
    key = _key(0)
    a = derive_triggers(key, 40, envelope=envelope)
    b = derive_triggers(WatermarkKey.from_bytes(key.to_bytes()), 40, envelope=envelope)
    assert a.digest == b.digest
    assert derive_triggers(_key(1), 40, envelope=envelope).digest != a.digest
    assert envelope.contains(a.frame).all()
    assert envelope.is_rare(a.frame).all()
    assert a.labels.sum() == 20, "labels are balanced, the key deciding which is which"
    decoys = derive_triggers(key, 40, envelope=envelope, decoys=True)
    assert decoys.digest != a.digest


def test_real_rows_are_mostly_typical(
    envelope: TableEnvelope, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    assert envelope.is_rare(split[1]).mean() < 0.06
    assert envelope.contains(split[1]).mean() > 0.6


def test_training_frame_writes_the_schema_target(
    envelope: TableEnvelope, schema: DatasetSchema
) -> None:
    triggers = derive_triggers(_key(0), 10, envelope=envelope)
    frame = triggers.training_frame(schema)
    assert (labels(frame, schema) == triggers.labels).all()
    assert set(frame["diagnosis"]) == {"malignant", "benign"}


def test_envelope_round_trips_and_refuses_another_schema(
    envelope: TableEnvelope, schema: DatasetSchema
) -> None:
    again = envelope_from_dict(envelope.to_dict())
    assert again == envelope
    key = _key(0)
    assert derive_triggers(key, 20, envelope=again).digest == (
        derive_triggers(key, 20, envelope=envelope).digest
    )
    envelope.check_schema(schema)
    with pytest.raises(OwnershipError, match="fitted for schema 'breast_cancer'"):
        envelope.check_schema(default_schema())
    with pytest.raises(OwnershipError, match="malformed"):
        envelope_from_dict({"kind": "table", "columns": []})


def test_sensor_envelope_refuses_another_schema(schema: DatasetSchema) -> None:
    from edgeshield.usecase import FleetConfig, make_fleet

    rows = make_fleet(FleetConfig(plants=1, total_rows=400), seed=0).combined()
    with pytest.raises(OwnershipError, match="AI4I"):
        fit_envelope(rows, default_schema()).check_schema(schema)


def test_too_few_rows_and_no_numeric_input_are_refused(
    split: tuple[pd.DataFrame, pd.DataFrame], schema: DatasetSchema
) -> None:
    with pytest.raises(ConfigError, match="at least 50 reference rows"):
        fit_envelope(split[0].iloc[:20], schema)
    # a schema with no numeric model input cannot even be declared
    with pytest.raises(ConfigError, match="at least one numeric input"):
        schema_from_dict({**_DOCUMENT, "features": ["colour"]}, source="test")
    constant = schema_from_dict(_DOCUMENT, source="test")
    frame = pd.DataFrame({"colour": ["red", "blue"] * 40, "size": 3.0, "label": [0, 1] * 40})
    with pytest.raises(ConfigError, match="barely varies"):
        fit_envelope(frame, constant)


_DOCUMENT = {
    "format": "edgeshield.dataset-schema/1",
    "name": "tiny",
    "description": "A category and a numeric input.",
    "columns": {
        "colour": {"type": "category", "levels": ["red", "blue"]},
        "size": {"type": "float", "range": [0, 10]},
        "label": {"type": "binary"},
    },
    "target": {"column": "label", "positive": 1},
    "features": ["colour", "size"],
}


def test_no_physics_no_anchors(envelope: TableEnvelope) -> None:
    with pytest.raises(ConfigError, match="declares no failure physics"):
        derive_anchors(_key(0), 5, envelope=envelope)


def test_honest_models_are_not_owned_at_the_stated_rate(
    split: tuple[pd.DataFrame, pd.DataFrame],
    schema: DatasetSchema,
    envelope: TableEnvelope,
    nulls: dict[str, PredictFn],
) -> None:
    train = split[0]
    honest: dict[str, PredictFn] = {}
    for split_seed, init_seed in ((0, 1), (0, 2), (1, 0)):
        rows = stratified_split(pd.concat(split, ignore_index=True), seed=split_seed, schema=schema)
        config = TrainConfig(hidden=(32,), epochs=20)
        model = train_classifier(rows[0], config, seed=init_seed, schema=schema)
        honest[f"mlp/split{split_seed}/init{init_seed}"] = model.predict
    for kind in (NullModelKind.LOGISTIC, NullModelKind.RANDOM_FOREST):
        honest[kind.value] = train_null_model(kind, train, seed=7, schema=schema)
    keys = [_key(i) for i in range(KEYS)]
    audit = false_positive_audit(
        honest, nulls, keys, envelope=envelope, fpr=FPR, triggers=TRIGGERS, probes=200
    )
    assert audit.pairs == KEYS * len(honest)
    assert audit.false_owned == (), audit.false_owned
    assert audit.smallest_p_value >= 1 / (len(nulls) + 1)


def test_marked_model_is_owned_also_after_fine_tuning(
    clean: FailureClassifier,
    split: tuple[pd.DataFrame, pd.DataFrame],
    envelope: TableEnvelope,
    nulls: dict[str, PredictFn],
) -> None:
    key = _key(0)
    config = EmbedConfig(triggers=TRIGGERS, target_accuracy=1.0)
    marked = embed_watermark(clean, key, split[0], envelope=envelope, config=config)
    triggers = derive_triggers(key, TRIGGERS, envelope=envelope)
    assert trigger_accuracy(marked, triggers) == 1.0
    assert trigger_accuracy(clean, triggers) < 0.8
    null = calibrate_null(key, nulls, envelope=envelope, n=TRIGGERS, probes=200, fpr=FPR)
    result = verify_ownership(marked, key, null=null, fpr=FPR)
    assert result.owned
    assert result.p_value == pytest.approx(result.p_floor)
    assert not verify_ownership(clean, key, null=null, fpr=FPR).owned
    attack = RemovalAttack(kind=RemovalKind.FINE_TUNE_ALL, data_fraction=0.5, epochs=5)
    tuned = remove_watermark(marked, attack, split[0], seed=1)
    assert verify_ownership(tuned, key, null=null, fpr=FPR).owned
    with pytest.raises(ConfigError, match="no failure physics"):
        verify_ownership(marked, key, null=null, fpr=FPR, controls=5)
    assert np.isfinite(marked.evaluate(split[1]).f1)
