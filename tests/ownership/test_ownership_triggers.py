"""Key-derived trigger sets: deterministic, plausible, rare, and labelled against the physics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from edgeshield.errors import ConfigError, OwnershipError
from edgeshield.ownership import (
    SensorEnvelope,
    WatermarkKey,
    derive_anchors,
    derive_triggers,
    rule_failure,
)
from edgeshield.usecase import MACHINE_FAILURE, SENSOR_COLUMNS, UCI_COLUMNS, validate_frame


def test_same_key_same_triggers_other_key_other_triggers(
    key: WatermarkKey, envelope: SensorEnvelope
) -> None:
    a = derive_triggers(key, 40, envelope=envelope)
    b = derive_triggers(WatermarkKey.from_bytes(key.to_bytes()), 40, envelope=envelope)
    assert a.digest == b.digest
    pd.testing.assert_frame_equal(a.frame, b.frame)
    other = derive_triggers(WatermarkKey.from_bytes(b"\x01" * 32), 40, envelope=envelope)
    assert other.digest != a.digest
    assert a.key_id == key.key_id


def test_triggers_are_plausible_rare_and_contradict_the_rules(
    key: WatermarkKey, envelope: SensorEnvelope
) -> None:
    triggers = derive_triggers(key, 60, envelope=envelope, failure_fraction=0.5)
    validate_frame(triggers.frame)
    assert list(triggers.frame.columns) == list(UCI_COLUMNS)
    assert envelope.contains(triggers.frame).all()
    assert envelope.is_rare(triggers.frame).all()
    assert (triggers.frame[MACHINE_FAILURE] == 0).all(), "queries must not leak the labels"
    assert triggers.labels.sum() == 30
    failing = rule_failure(triggers.frame)
    assert not failing[triggers.labels == 1].any()
    assert failing[triggers.labels == 0].all()
    assert (triggers.training_frame()[MACHINE_FAILURE].to_numpy() == triggers.labels).all()


def test_real_rows_mostly_pass_uniform_noise_mostly_fails(
    envelope: SensorEnvelope, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    test = split[1]
    assert envelope.contains(test).mean() > 0.85
    assert envelope.is_rare(test).mean() < 0.05
    rng = np.random.default_rng(0)
    noise = test.copy()
    for column in SENSOR_COLUMNS:
        low, high = test[column].min(), test[column].max()
        noise[column] = rng.uniform(low, high, len(test))
    assert envelope.contains(noise).mean() < 0.2


def test_decoys_and_anchors_are_independent_streams(
    key: WatermarkKey, envelope: SensorEnvelope
) -> None:
    triggers = derive_triggers(key, 20, envelope=envelope)
    decoys = derive_triggers(key, 20, envelope=envelope, decoys=True)
    assert decoys.digest != triggers.digest
    assert envelope.is_rare(decoys.frame).all()
    anchors = derive_anchors(key, 20, envelope=envelope)
    assert (anchors.labels == 0).all()
    assert not rule_failure(anchors.frame).any()
    assert not envelope.is_rare(anchors.frame).any()


def test_envelope_round_trips(envelope: SensorEnvelope) -> None:
    assert SensorEnvelope.from_dict(envelope.to_dict()) == envelope
    with pytest.raises(OwnershipError, match="malformed"):
        SensorEnvelope.from_dict({"air_k": [1]})


@pytest.mark.parametrize(("n", "fraction"), [(0, 1.0), (10, -0.1), (10, 1.5)])
def test_bad_arguments(
    key: WatermarkKey, envelope: SensorEnvelope, n: int, fraction: float
) -> None:
    with pytest.raises(ConfigError):
        derive_triggers(key, n, envelope=envelope, failure_fraction=fraction)


def test_bad_envelopes(envelope: SensorEnvelope, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(ConfigError, match="increasing"):
        dataclasses.replace(envelope, air_k=(300.0, 290.0))
    with pytest.raises(ConfigError, match="knots"):
        dataclasses.replace(envelope, torque_knots=(1.0,))
    with pytest.raises(ConfigError, match="sketch"):
        dataclasses.replace(envelope, center=(1.0, 2.0))
    with pytest.raises(OwnershipError, match="increasing"):
        SensorEnvelope.from_dict({**envelope.to_dict(), "air_k": [300.0, 290.0]})
    with pytest.raises(ConfigError, match="rows"):
        SensorEnvelope.fit(split[0].iloc[:20])


def test_an_envelope_without_room_is_refused(key: WatermarkKey, envelope: SensorEnvelope) -> None:
    narrow = SensorEnvelope.from_dict(
        {**envelope.to_dict(), "wear_min": [0.0, 1.0], "torque_nm": [40.0, 40.5]}
    )
    with pytest.raises(OwnershipError, match="no room"):
        derive_triggers(key, 5, envelope=narrow, failure_fraction=0.0)
