"""The calibrated ownership test on marked, independent and black-box suspects."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgeshield.errors import ConfigError, OwnershipError
from edgeshield.ownership import (
    RHO_FLOOR,
    NullDistribution,
    PredictFn,
    SensorEnvelope,
    WatermarkKey,
    calibrate_null,
    null_models_needed,
    queries_needed,
    verify_ownership,
)
from edgeshield.usecase import FailureClassifier

FPR = 0.15
"""What the 6 null models of the fixtures support (see conftest)."""


def test_marked_model_is_owned_with_a_tiny_model_p_value_reported_at_the_bound(
    marked: FailureClassifier, key: WatermarkKey, null: NullDistribution
) -> None:
    result = verify_ownership(marked, key, null=null, fpr=FPR)
    assert result.owned
    assert result.model_p_value < 1e-2, "6 null models give loose upper bounds"
    assert result.below_bound
    assert result.p_value == pytest.approx(1 / 7) == result.p_floor
    assert "below the 1/N-based bound of 6 null models" in result.p_text()
    assert result.null_models == 6
    assert result.null_models_needed == 6
    assert result.agreement >= 0.7
    assert result.critical_matches is not None
    assert result.matches >= result.critical_matches
    assert result.empirical_p_value == pytest.approx(1 / (1 + len(null.names)))


def test_clean_and_independent_models_are_not_owned(
    clean: FailureClassifier,
    key: WatermarkKey,
    null: NullDistribution,
    nulls: dict[str, PredictFn],
) -> None:
    assert not verify_ownership(clean, key, null=null, fpr=FPR).owned
    for name, predict in nulls.items():
        result = verify_ownership(predict, key, null=null, fpr=FPR)
        assert not result.owned, name
        assert result.p_value > 1e-2, name


def test_leave_one_out_calibration_keeps_null_p_values_large(
    key: WatermarkKey, nulls: dict[str, PredictFn], envelope: SensorEnvelope
) -> None:
    names = list(nulls)
    for held_out in names:
        rest = {n: nulls[n] for n in names if n != held_out}
        calibration = calibrate_null(key, rest, envelope=envelope, n=30, probes=100, fpr=0.2)
        result = verify_ownership(nulls[held_out], key, null=calibration, fpr=0.2)
        assert not result.owned, held_out
        assert result.model_p_value > 1e-2, held_out


def test_black_box_label_only_function(
    marked: FailureClassifier, key: WatermarkKey, null: NullDistribution
) -> None:
    seen: list[int] = []

    def api(frame: pd.DataFrame) -> list[int]:
        seen.append(len(frame))
        return [int(v) for v in marked.predict(frame)]

    result = verify_ownership(api, key, null=null, queries=20, fpr=FPR)
    assert seen == [20]
    assert result.queries == 20
    assert result.owned
    needed = queries_needed(api, key, null=null, target_p=FPR, floor=True)
    assert needed is not None
    assert needed <= 20
    assert queries_needed(api, key, null=null, target_p=0.1, floor=True) is None


def test_p_values_shrink_with_agreement_and_never_pass_the_bound(null: NullDistribution) -> None:
    values = [null.p_value(k, 30) for k in range(31)]
    assert values[0] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert min(values) == pytest.approx(1 / (1 + len(null.names)))
    assert null.empirical_p_value(0, 30) == 1.0
    assert all(null.model_p_value(k, 30) <= v for k, v in enumerate(values))


def test_overdispersion_makes_the_test_more_conservative(null: NullDistribution) -> None:
    spread = NullDistribution(
        key_id=null.key_id,
        trigger_digest=null.trigger_digest,
        envelope=null.envelope,
        failure_fraction=null.failure_fraction,
        names=("a", "b", "c", "d"),
        agreement=((0,) * 10, (0,) * 10, (1,) * 10, (0,) * 10),
    )
    pooled, upper, rho = spread.model()
    assert pooled == 0.25
    assert upper > pooled
    assert rho > 0.5
    assert spread.bound().overdispersion_upper >= spread.bound().overdispersion
    flat = NullDistribution(
        key_id=null.key_id,
        trigger_digest=null.trigger_digest,
        envelope=null.envelope,
        failure_fraction=null.failure_fraction,
        names=("a", "b", "c", "d"),
        agreement=tuple(tuple(int(i == j % 4) for j in range(10)) for i in range(4)),
    )
    assert flat.bound().overdispersion == 0.0
    assert flat.model()[2] >= RHO_FLOOR, "no spread seen: the floor is assumed, not zero"
    assert spread.model_p_value(8, 10) > flat.model_p_value(8, 10)


def test_null_round_trips_and_refuses_another_key(
    null: NullDistribution, tmp_path: Path, marked: FailureClassifier
) -> None:
    again = NullDistribution.load(null.save(tmp_path / "null.json"))
    assert again == null
    with pytest.raises(OwnershipError, match="another key"):
        verify_ownership(marked, WatermarkKey.from_bytes(b"\x09" * 32), null=null)
    (tmp_path / "bad.json").write_text('{"format": "x"}')
    with pytest.raises(OwnershipError, match="malformed"):
        NullDistribution.load(tmp_path / "bad.json")
    (tmp_path / "worse.json").write_text("{")
    with pytest.raises(OwnershipError, match="JSON"):
        NullDistribution.load(tmp_path / "worse.json")


@pytest.mark.parametrize(
    "answer",
    [
        lambda frame: np.zeros(len(frame) - 1),
        lambda frame: np.full(len(frame), 0.5),
        lambda frame: 1 / 0,
    ],
)
def test_unusable_suspect_answers(
    answer: PredictFn, key: WatermarkKey, null: NullDistribution
) -> None:
    with pytest.raises(OwnershipError, match="suspect"):
        verify_ownership(answer, key, null=null)


@pytest.mark.parametrize(("queries", "fpr"), [(0, 1e-3), (31, 1e-3), (10, 0.0), (10, 1.0)])
def test_bad_test_arguments(
    marked: FailureClassifier, key: WatermarkKey, null: NullDistribution, queries: int, fpr: float
) -> None:
    with pytest.raises(ConfigError):
        verify_ownership(marked, key, null=null, queries=queries, fpr=fpr)


def test_calibration_needs_two_models(
    key: WatermarkKey, envelope: SensorEnvelope, marked: FailureClassifier
) -> None:
    with pytest.raises(ConfigError, match="at least 2 null models"):
        calibrate_null(key, {"one": marked}, envelope=envelope, fpr=0.5)
    with pytest.raises(ConfigError):
        calibrate_null(key, {"a": marked, "b": 3}, envelope=envelope, fpr=0.5)  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("fpr", "needed"), [(0.5, 2), (0.15, 6), (0.05, 19), (1e-2, 99), (1e-3, 999)]
)
def test_null_models_needed_is_one_over_fpr_minus_one(fpr: float, needed: int) -> None:
    assert null_models_needed(fpr) == needed
    assert 1 / (needed + 1) <= fpr


def test_calibrate_refuses_fewer_null_models_than_the_fpr_needs(
    key: WatermarkKey, envelope: SensorEnvelope, nulls: dict[str, PredictFn]
) -> None:
    with pytest.raises(ConfigError, match="needs at least 999 null models"):
        calibrate_null(key, nulls, envelope=envelope, n=30)
    with pytest.raises(ConfigError, match=r"needs at least 19 null models.*got 6"):
        calibrate_null(key, nulls, envelope=envelope, n=30, fpr=0.05)


def test_a_small_calibration_never_accuses_at_a_smaller_fpr(
    marked: FailureClassifier, key: WatermarkKey, null: NullDistribution
) -> None:
    result = verify_ownership(marked, key, null=null, fpr=1e-3)
    assert result.model_p_value < 1e-2, "the mark is there"
    assert not result.owned, "but 6 null models cannot support FPR 1e-3"
    assert result.null_models_needed == 999


def test_a_suspect_that_calls_everything_a_failure_is_caught_by_controls(
    marked: FailureClassifier, key: WatermarkKey, null: NullDistribution
) -> None:
    def always(frame: pd.DataFrame) -> np.ndarray:
        return np.ones(len(frame), dtype=int)

    naive = verify_ownership(always, key, null=null, fpr=FPR)
    assert naive.owned, "without controls the trigger agreement alone cannot tell"
    guarded = verify_ownership(always, key, null=null, controls=20, fpr=FPR)
    assert guarded.control_failure_rate == 1.0
    assert not guarded.owned
    honest = verify_ownership(marked, key, null=null, controls=20, fpr=FPR)
    assert honest.owned
    assert honest.controls == 20
    assert honest.control_failure_rate <= 0.1
    with pytest.raises(ConfigError):
        verify_ownership(marked, key, null=null, controls=-1)
