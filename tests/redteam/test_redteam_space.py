"""The attacker's query space comes from the served request schema, not from AI4I's columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from edgeshield.guard import request_schema
from edgeshield.redteam import AttackSpace, attacker_features, default_space, fit_surrogate
from edgeshield.usecase import (
    PRODUCT_TYPES,
    SENSOR_COLUMNS,
    GeneratorConfig,
    generate,
    load_schema,
    read_table,
)


def test_the_ai4i_space_is_the_five_sensors_and_the_product_type() -> None:
    space = default_space()
    assert space.numeric == SENSOR_COLUMNS
    assert space.categories == (("Type", PRODUCT_TYPES),)
    frame = generate(GeneratorConfig(rows=50), seed=1)
    x = attacker_features(frame)
    assert x.shape == (50, 8)
    np.testing.assert_array_equal(x[:, :5], frame.loc[:, list(SENSOR_COLUMNS)].to_numpy())


def test_a_schema_without_categories_spans_its_numeric_inputs(breast_cancer_csv: Path) -> None:
    """Breast cancer: 30 numeric inputs with open upper ranges; uniform queries stay inside the
    thief's own rows' envelope, moved rows are clipped at the published lower bound only."""
    schema = load_schema("breast_cancer")
    space = AttackSpace(request_schema(schema))
    rows = read_table(breast_cancer_csv, schema)
    assert len(space.numeric) == space.width == 30
    assert space.categories == ()
    queries = space.uniform(rows, 200, np.random.default_rng(0))
    assert list(queries.columns) == list(space.numeric)
    for column in space.numeric:
        assert rows[column].min() <= queries[column].min()
        assert queries[column].max() <= rows[column].max()
    moved = space.moved(rows.iloc[:5], np.full((5, 30), -7.0))
    assert (moved.to_numpy() == 0.0).all()  # clipped to range [0, null]
    big = space.moved(rows.iloc[:5], np.full((5, 30), 1e9))
    assert (big.to_numpy() == 1e9).all()  # an open upper end stays open
    labels = space.labels(rows)
    assert labels.sum() == int((rows["diagnosis"] == "malignant").sum())
    surrogate = fit_surrogate(rows, labels, epochs=20, space=space)
    assert surrogate.predict(rows.iloc[:10]).shape == (10,)
    assert surrogate.gradient_sign(rows.iloc[:10], labels[:10]).shape == (10, 30)


def test_the_label_column_is_read_through_the_schema() -> None:
    frame = pd.DataFrame({"Machine failure": [0, 1, 1, 0]})
    assert default_space().labels(frame).tolist() == [0, 1, 1, 0]
