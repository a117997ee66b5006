import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from edgeshield.errors import ConfigError, DataError, ModelError, StorageError
from edgeshield.usecase import (
    CARD_FILE,
    WEIGHTS_FILE,
    FeatureEncoder,
    FleetConfig,
    TrainConfig,
    best_f1_threshold,
    default_schema,
    failure_metrics,
    load_classifier,
    load_schema,
    make_fleet,
    read_table,
    save_classifier,
    stratified_split,
    train_classifier,
)

SMALL = TrainConfig(epochs=8, hidden=(16,))


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    return stratified_split(make_fleet(FleetConfig(plants=3, total_rows=3000), seed=0).combined())


def test_training_is_deterministic_under_a_seed(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = split
    a = train_classifier(train, SMALL, seed=4)
    b = train_classifier(train, SMALL, seed=4)
    for (ka, va), (kb, vb) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=True
    ):
        assert ka == kb
        assert torch.equal(va, vb)
    assert a.threshold == b.threshold
    assert np.array_equal(a.predict_proba(test), b.predict_proba(test))


def test_classifier_learns_failures(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = split
    metrics = train_classifier(train, TrainConfig(epochs=40), seed=0).evaluate(test)
    assert metrics.positives > 10
    assert metrics.f1 > 0.5  # a constant "healthy" answer scores 0
    assert metrics.pr_auc > 0.5


def test_save_and_load_round_trip(tmp_path: Path, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = split
    clf = train_classifier(train, SMALL, seed=1)
    save_classifier(clf, tmp_path / "m")
    card = json.loads((tmp_path / "m" / CARD_FILE).read_text())
    assert card["data_sha256"].startswith("sha256:")
    assert card["features"][0] == "air_temperature_k"
    loaded = load_classifier(tmp_path / "m")
    assert np.array_equal(loaded.predict_proba(test), clf.predict_proba(test))
    assert loaded.threshold == clf.threshold


def test_weights_file_is_safetensors_not_pickle(
    tmp_path: Path, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    save_classifier(train_classifier(split[0], SMALL, seed=1), tmp_path)
    head = (tmp_path / WEIGHTS_FILE).read_bytes()[:16]
    header_len = int.from_bytes(head[:8], "little")
    assert head[8:9] == b"{"  # safetensors: u64 length + JSON header
    assert header_len > 0


def test_loading_rejects_bad_files(
    tmp_path: Path, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    with pytest.raises(StorageError):
        load_classifier(tmp_path / "absent")
    save_classifier(train_classifier(split[0], SMALL, seed=1), tmp_path / "m")
    card_path = tmp_path / "m" / CARD_FILE
    good_card = card_path.read_text()
    card_path.write_text("{not json")
    with pytest.raises(ModelError, match="JSON"):
        load_classifier(tmp_path / "m")
    card = json.loads(good_card)
    card["architecture"]["hidden"] = [8]
    card["train_config"]["hidden"] = [8]
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="architecture"):
        load_classifier(tmp_path / "m")
    for hidden in ([2_000_000_000], [-5], []):  # 2e9 once allocated 896 GB before any check
        card = json.loads(good_card)
        card["architecture"]["hidden"] = hidden
        card_path.write_text(json.dumps(card))
        with pytest.raises(ModelError, match="architecture"):
            load_classifier(tmp_path / "m")
    card = json.loads(good_card)
    card["threshold"] = 0.5
    card_path.write_text(json.dumps(card).replace('"threshold": 0.5', '"threshold": 1e999'))
    with pytest.raises(ModelError, match="threshold must lie in"):
        load_classifier(tmp_path / "m")
    card = json.loads(good_card)
    card["encoder"]["edges"][0] = [3.0, 1.0]
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="encoder"):
        load_classifier(tmp_path / "m")
    card = json.loads(good_card)
    card["encoder"]["mean"][0] = float("nan")  # passed every check, then a ValueError in use
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="encoder"):
        load_classifier(tmp_path / "m")
    for field, value in (("threshold", True), ("threshold", "0.5"), ("in_features", 50.5)):
        card = json.loads(good_card)
        (card["architecture"] if field == "in_features" else card)[field] = value
        card_path.write_text(json.dumps(card))
        with pytest.raises(ModelError, match="model card is malformed"):
            load_classifier(tmp_path / "m")  # true was taken as 1.0, 50.5 as 50
    card_path.write_text(good_card.replace('"threshold"', '"threshold": 0.99, "threshold"', 1))
    with pytest.raises(ModelError, match="repeated key"):
        load_classifier(tmp_path / "m")  # the last one won
    # not UTF-8, and a 5,000-digit number: a UnicodeDecodeError and a ValueError escaped
    for raw in (
        b"\xff\xfe{}",
        good_card.replace('"threshold"', '"x": ' + "9" * 5000 + ', "threshold"').encode(),
    ):
        card_path.write_bytes(raw)
        with pytest.raises(ModelError, match="is not valid JSON"):
            load_classifier(tmp_path / "m")
    card_path.write_text(good_card)
    (tmp_path / "m" / WEIGHTS_FILE).write_bytes(b"\x00" * 32)
    with pytest.raises(ModelError, match="safetensors"):
        load_classifier(tmp_path / "m")
    save_file({"net.0.weight": torch.zeros(2, 2)}, str(tmp_path / "m" / WEIGHTS_FILE))
    with pytest.raises(ModelError, match="architecture"):
        load_classifier(tmp_path / "m")


def test_training_needs_both_classes(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    healthy = split[0][split[0]["Machine failure"] == 0]
    with pytest.raises(DataError):
        train_classifier(healthy, SMALL)


def test_bad_train_config() -> None:
    with pytest.raises(ConfigError):
        TrainConfig(hidden=())
    with pytest.raises(ConfigError):
        TrainConfig(learning_rate=0.0)


def test_encoder_width_matches_model_input(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    encoder = FeatureEncoder.fit(split[0], bins=8)
    x = encoder.transform(split[1])
    assert x.shape == (len(split[1]), encoder.width)
    assert np.isfinite(x).all()
    assert FeatureEncoder.from_dict(encoder.to_dict()) == encoder


def test_failure_metrics_known_values() -> None:
    y = np.array([1, 1, 0, 0, 0])
    s = np.array([0.9, 0.4, 0.6, 0.1, 0.2])
    m = failure_metrics(y, s, threshold=0.5)
    assert (m.precision, m.recall, m.f1) == (0.5, 0.5, 0.5)
    assert m.pr_auc == pytest.approx((1.0 + 2 / 3) / 2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1, allow_nan=False)), min_size=2, max_size=40)
)
def test_best_threshold_attains_the_best_f1(pairs: list[tuple[bool, float]]) -> None:
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs])
    if not y.any():
        assert best_f1_threshold(y, s) == 0.5
        return
    best = max(failure_metrics(y, s, threshold=t).f1 for t in np.unique(s))
    assert failure_metrics(y, s, threshold=best_f1_threshold(y, s)).f1 == pytest.approx(best)


@pytest.fixture(scope="module")
def cancer_split(breast_cancer_csv: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    schema = load_schema("breast_cancer")
    return stratified_split(read_table(breast_cancer_csv, schema), seed=0, schema=schema)


def test_classifier_learns_another_data_set_from_its_schema(
    tmp_path: Path, cancer_split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    schema = load_schema("breast_cancer")
    train, test = cancer_split
    clf = train_classifier(train, TrainConfig(epochs=30, hidden=(16,)), seed=0, schema=schema)
    metrics = clf.evaluate(test)
    assert metrics.positives == int((test["diagnosis"] == "malignant").sum())
    assert metrics.f1 > 0.85  # malignant is the positive class
    save_classifier(clf, tmp_path / "m")
    card = json.loads((tmp_path / "m" / CARD_FILE).read_text())
    assert card["dataset_schema_sha256"] == schema.digest
    assert card["features"][-1] == "radius_spread"
    loaded = load_classifier(tmp_path / "m")
    assert loaded.schema == schema
    assert np.array_equal(loaded.predict_proba(test), clf.predict_proba(test))


def test_ai4i_card_names_the_default_schema(
    tmp_path: Path, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    save_classifier(train_classifier(split[0], SMALL, seed=1), tmp_path)
    card = json.loads((tmp_path / CARD_FILE).read_text())
    assert card["dataset_schema"]["name"] == "ai4i2020"
    assert card["dataset_schema_sha256"] == default_schema().digest


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda card: card.update(dataset_schema_sha256="sha256:" + "0" * 64), "its digest"),
        (lambda card: card["dataset_schema"].update(name="Bad Name"), "schema is invalid"),
        (lambda card: card["dataset_schema"]["columns"][0].update(type="nope"), "is invalid"),
    ],
)
def test_card_with_a_changed_schema_is_refused(
    tmp_path: Path,
    split: tuple[pd.DataFrame, pd.DataFrame],
    edit: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    save_classifier(train_classifier(split[0], SMALL, seed=1), tmp_path)
    card = json.loads((tmp_path / CARD_FILE).read_text())
    edit(card)
    (tmp_path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=message):
        load_classifier(tmp_path)


def test_card_without_a_schema_reads_as_ai4i(
    tmp_path: Path, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    clf = train_classifier(split[0], SMALL, seed=1)
    save_classifier(clf, tmp_path)
    card = json.loads((tmp_path / CARD_FILE).read_text())
    del card["dataset_schema"], card["dataset_schema_sha256"]  # a card from before schemas
    (tmp_path / CARD_FILE).write_text(json.dumps(card))
    loaded = load_classifier(tmp_path)
    assert loaded.schema is default_schema()
    assert np.array_equal(loaded.predict_proba(split[1]), clf.predict_proba(split[1]))


@pytest.mark.parametrize("low", [0.5, 0.0])
def test_the_threshold_separates_adjacent_float_scores(low: float) -> None:
    """Hypothesis found it: between two adjacent floats the midpoint rounds onto the lower score,
    which then counted as a failure (F1 0.67 where 1.0 was attainable)."""
    s = np.array([np.nextafter(low, 1.0), low])
    y = np.array([True, False])
    assert failure_metrics(y, s, threshold=best_f1_threshold(y, s)).f1 == 1.0
