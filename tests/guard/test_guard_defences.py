"""Output hardening, the API watermark and PRADA, on their own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from guard_kit import SECRET, Kit
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeshield.errors import ConfigError, StorageError
from edgeshield.guard import (
    ApiWatermark,
    HardeningConfig,
    OutputTier,
    PradaConfig,
    PradaState,
    SensorRecord,
    harden,
    prada_observe,
    records_from_frame,
    reverse_sigmoid,
)

probabilities = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50)


@settings(max_examples=200, deadline=None)
@given(
    p=probabilities,
    threshold=st.floats(0.01, 0.99),
    beta=st.floats(0.05, 0.95),
    gamma=st.floats(0.05, 1.0),
)
def test_reverse_sigmoid_never_changes_the_label(
    p: list[float], threshold: float, beta: float, gamma: float
) -> None:
    raw = np.asarray(p)
    out = reverse_sigmoid(raw, threshold, beta=beta, gamma=gamma)
    assert np.array_equal(out >= threshold, raw >= threshold)
    assert np.all((out >= 0) & (out <= 1))


def test_reverse_sigmoid_is_not_invertible() -> None:
    """Different probabilities map to the same output: logits cannot be solved for."""
    p = np.linspace(0.5, 0.999999, 2000)
    out = reverse_sigmoid(p, 0.5, beta=0.8, gamma=0.3)
    assert np.any(np.diff(out) < 0)
    assert np.any(np.diff(out) > 0)


@pytest.mark.parametrize("tier", list(OutputTier))
def test_harden_keeps_labels(tier: OutputTier) -> None:
    p = np.linspace(0.0, 1.0, 101)
    labels = (p >= 0.3).astype(np.int64)
    out = harden(p, labels, tier, threshold=0.3, config=HardeningConfig())
    assert [o.label for o in out] == labels.tolist()
    if tier is OutputTier.LABEL_ONLY:
        assert all(o.probabilities is None and o.confidence is None for o in out)
    if tier is OutputTier.ROUNDED:
        assert {round(o.probabilities[1], 1) for o in out} == {o.probabilities[1] for o in out}  # type: ignore[index]


@pytest.mark.parametrize("kwargs", [{"beta": 1.0}, {"beta": 0.0}, {"gamma": 1.5}, {"decimals": 9}])
def test_hardening_config_rejects_unsafe_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        HardeningConfig(**kwargs)  # type: ignore[arg-type]


def _records(kit: Kit, n: int) -> list[SensorRecord]:
    frame = pd.concat(kit.frames.values(), ignore_index=True).iloc[:n]
    return [SensorRecord.model_validate(r) for r in records_from_frame(frame)]


def test_watermark_rate_and_determinism(kit: Kit) -> None:
    mark = ApiWatermark(SECRET, rate=0.005)
    records = _records(kit, 4000)
    mask = mark.select(records)
    assert 0.001 < mask.mean() <= 0.01
    assert np.array_equal(mask, mark.select(records))
    other = ApiWatermark(b"another-secret-of-at-least-32-bytes!!", rate=0.005).select(records)
    assert not np.array_equal(mask, other)


@pytest.mark.parametrize(("secret", "rate"), [(b"short", 0.005), (SECRET, 0.01), (SECRET, 0.0)])
def test_watermark_rejects_bad_settings(secret: bytes, rate: float) -> None:
    with pytest.raises(ConfigError):
        ApiWatermark(secret, rate=rate)


def _feed(
    vectors: np.ndarray, config: PradaConfig, batch: int = 25
) -> tuple[PradaState, int | None]:
    state = PradaState(dim=vectors.shape[1], window=config.window)
    for i in range(0, len(vectors), batch):
        prada_observe(
            state,
            vectors[i : i + batch],
            np.zeros(len(vectors[i : i + batch]), dtype=np.int64),
            config,
        )
    return state, state.alarm_at


def test_prada_flags_small_steps_not_natural_spread() -> None:
    rng = np.random.default_rng(1)
    config = PradaConfig(delta=0.9, min_distances=50)
    natural = rng.normal(size=(1500, 8))
    _, natural_alarm = _feed(natural, config)
    seeds = rng.normal(size=(10, 8))
    steps = np.sign(rng.normal(size=(300, 8))) * 0.1
    synthetic = seeds[np.arange(300) % 10] + steps * (1 + np.arange(300)[:, None] // 100)
    _, synthetic_alarm = _feed(synthetic, config)
    assert natural_alarm is None
    assert synthetic_alarm is not None
    assert synthetic_alarm <= 300


def test_prada_incremental_state_matches_a_rebuild() -> None:
    from edgeshield.guard import GuardStore

    rng = np.random.default_rng(2)
    config = PradaConfig()
    vectors = rng.normal(size=(400, 8))
    groups = rng.integers(0, 3, size=400)
    state = PradaState(dim=8, window=config.window)
    store = GuardStore("sqlite://")
    for i in range(0, 400, 40):
        update = prada_observe(state, vectors[i : i + 40], groups[i : i + 40], config)
        with store.transaction() as conn:
            store.save_prada(conn, "c", update.points, update.distances)
    with store.transaction() as conn:
        rebuilt = store.load_prada(conn, "c", dim=8, window=config.window)
    assert list(rebuilt.distances) == pytest.approx(list(state.distances))
    assert list(rebuilt.distance_groups) == list(state.distance_groups)
    for g, growing in state.growing.items():
        assert rebuilt.growing[g].size == growing.size
        assert rebuilt.growing[g].threshold == pytest.approx(growing.threshold)
    # state written with another point size (an older version's eight features) is refused
    with store.transaction() as conn, pytest.raises(StorageError, match="new state database"):
        store.load_prada(conn, "c", dim=5, window=config.window)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delta": 1.0},
        {"min_distances": 2},
        {"window": 6000},
        {"log_offset": 0.0},
        {"alpha": 0.0},
        {"min_group": 0},
    ],
)
def test_prada_config_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        PradaConfig(**kwargs)  # type: ignore[arg-type]
