"""Malicious-plant behaviours: what each attack does to data and updates (no Ray)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeshield.errors import ConfigError
from edgeshield.federated import PlantBehaviour
from edgeshield.redteam import (
    Backdoor,
    LabelFlip,
    ModelReplacement,
    SignFlip,
    add_trigger,
    backdoor_success_rate,
)
from edgeshield.usecase import FleetConfig, TrainConfig, make_fleet, train_classifier

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 6)).astype(np.float32)
Y = (RNG.random(40) < 0.25).astype(np.float32)
GLOBAL = [np.ones((2, 3), dtype=np.float32), np.zeros(3, dtype=np.float32)]
LOCAL = [np.full((2, 3), 1.5, dtype=np.float32), np.full(3, 0.5, dtype=np.float32)]


@pytest.mark.parametrize("behaviour", [SignFlip(), LabelFlip(), ModelReplacement(), Backdoor()])
def test_every_attack_is_a_plant_behaviour(behaviour: PlantBehaviour) -> None:
    assert isinstance(behaviour, PlantBehaviour)
    assert behaviour.name


def test_sign_flip_reverses_and_scales_the_update() -> None:
    out = SignFlip(scale=4.0).poison_update(GLOBAL, LOCAL)
    np.testing.assert_allclose(out[0], 1.0 - 4.0 * 0.5)
    np.testing.assert_allclose(out[1], -2.0)
    x, y = SignFlip().poison_data(X, Y, RNG)
    assert x is X
    assert y is Y


def test_label_flip_inverts_labels_and_reports_honestly() -> None:
    _, y = LabelFlip().poison_data(X, Y, RNG)
    np.testing.assert_array_equal(y, 1.0 - Y)
    assert LabelFlip().poison_update(GLOBAL, LOCAL) is LOCAL


def test_model_replacement_boosts_the_update() -> None:
    out = ModelReplacement(boost=10.0).poison_update(GLOBAL, LOCAL)
    np.testing.assert_allclose(out[0], 1.0 + 10.0 * 0.5)
    _, y = ModelReplacement().poison_data(X, Y, RNG)
    np.testing.assert_array_equal(y, 1.0 - Y)


def test_backdoor_adds_triggered_rows_labelled_normal() -> None:
    x, y = Backdoor(copies=3).poison_data(X, Y, np.random.default_rng(1))
    failures = int(Y.sum())
    assert x.shape[0] == X.shape[0] + 4 * failures
    added = x[X.shape[0] :]
    np.testing.assert_array_equal(added[:, -3:], 1.0)
    assert not y[X.shape[0] :].any()
    np.testing.assert_array_equal(add_trigger(X)[:, :-3], X[:, :-3])


@pytest.mark.parametrize(
    "factory",
    [lambda: SignFlip(scale=0), lambda: ModelReplacement(boost=0.5), lambda: Backdoor(copies=0)],
)
def test_bad_attack_settings_raise(factory) -> None:
    with pytest.raises(ConfigError):
        factory()


def test_backdoor_success_rate_is_low_for_a_clean_model() -> None:
    fleet = make_fleet(FleetConfig(plants=2, total_rows=3000), seed=0)
    classifier = train_classifier(fleet.combined(), TrainConfig(epochs=15), seed=0)
    rate = backdoor_success_rate(classifier, fleet.combined())
    assert 0.0 <= rate < 0.5
