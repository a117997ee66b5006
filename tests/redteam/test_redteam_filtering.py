"""The thieves' label filters: what they drop, and their argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from edgeshield.errors import ConfigError
from edgeshield.redteam import cross_validated_keep, two_key_keep
from edgeshield.usecase import GeneratorConfig, generate


def test_cross_validation_drops_isolated_flips() -> None:
    frame = generate(GeneratorConfig(rows=600), seed=5)
    labels = np.array(frame["Machine failure"], dtype=np.int64)
    flipped = np.random.default_rng(0).choice(np.flatnonzero(labels == 0), 6, replace=False)
    labels[flipped] = 1
    keep = cross_validated_keep(frame, labels, folds=3, epochs=100)
    assert not keep[flipped].any()
    assert keep.mean() > 0.9


def test_two_key_keep_and_bad_arguments() -> None:
    a = np.array([0, 1, 1, 0])
    assert two_key_keep(a, np.array([0, 1, 0, 0])).tolist() == [True, True, False, True]
    with pytest.raises(ConfigError):
        two_key_keep(a, a[:3])
    frame = generate(GeneratorConfig(rows=10), seed=5)
    with pytest.raises(ConfigError):
        cross_validated_keep(frame, np.zeros(10, dtype=np.int64), folds=1)
