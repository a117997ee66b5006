"""PRADA with growing sets of different density: benign mixtures are not alarms (issue 15, 8)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from guard_kit import Kit, make_service

from edgeshield.guard import (
    GuardConfig,
    GuardStore,
    OutputTier,
    PradaConfig,
    PradaState,
    SensorRecord,
    prada_observe,
    records_from_frame,
)
from edgeshield.usecase import GeneratorConfig, generate


def _natural(
    rng: np.random.Generator, n: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """A benign client's readings: a dense majority group and a sparse minority one.

    The minority (a predicted failure class, a few % of the rows) spreads three times as far,
    so its nearest-neighbour distances are larger: pooled with the majority's, the log
    distances form a right-skewed mixture.
    """
    groups = (rng.random(n) < 0.12).astype(np.int64)
    scale = np.where(groups == 1, 3.0, 1.0)[:, None]
    return rng.normal(size=(n, 5)) * scale, groups


def _feed(
    state: PradaState,
    vectors: npt.NDArray[np.float64],
    groups: npt.NDArray[np.int64],
    config: PradaConfig,
    batch: int = 50,
) -> list[float | None]:
    return [
        prada_observe(state, vectors[i : i + batch], groups[i : i + batch], config).w
        for i in range(0, len(vectors), batch)
    ]


@pytest.mark.parametrize("seed", range(4))
def test_groups_of_different_density_raise_no_alarm(seed: int) -> None:
    config = PradaConfig()
    vectors, groups = _natural(np.random.default_rng(seed), 600)
    state = PradaState(dim=5, window=config.window)
    _feed(state, vectors, groups, config)
    assert state.alarm_at is None, f"flagged after {state.alarm_at} (W={state.last_w})"


def test_small_steps_in_groups_of_different_density_are_caught() -> None:
    """The Jacobian attack's signature, seeds plus fixed small steps, in a dense and a sparse
    group: centring each group's distances keeps the spike of equal steps."""
    rng = np.random.default_rng(7)
    config = PradaConfig()
    seeds, seed_groups = _natural(rng, 50)
    picks = np.arange(250) % 50
    steps = np.sign(rng.normal(size=(250, 5))) * 0.1 * (1 + np.arange(250)[:, None] // 100)
    vectors = np.concatenate([seeds, seeds[picks] + steps])
    groups = np.concatenate([seed_groups, seed_groups[picks]])
    state = PradaState(dim=5, window=config.window)
    _feed(state, vectors, groups, config, batch=25)
    assert state.alarm_at is not None
    assert state.alarm_at <= 300


def test_a_rebuilt_state_takes_the_same_decisions() -> None:
    """A worker that reloads the client from the database tests the same centred distances."""
    config = PradaConfig(min_distances=20, test_every=10)
    vectors, groups = _natural(np.random.default_rng(3), 400)
    first = PradaState(dim=5, window=200)
    store = GuardStore("sqlite://")
    for i in range(0, 200, 40):
        update = prada_observe(first, vectors[i : i + 40], groups[i : i + 40], config)
        with store.transaction() as conn:
            store.save_prada(conn, "c", update.points, update.distances)
    with store.transaction() as conn:
        rebuilt = store.load_prada(conn, "c", dim=5, window=200)
    rebuilt.observed = first.observed
    for i in range(200, 400, 40):
        a = prada_observe(first, vectors[i : i + 40], groups[i : i + 40], config)
        b = prada_observe(rebuilt, vectors[i : i + 40], groups[i : i + 40], config)
        assert a.distances == b.distances
        assert (a.w, a.p) == (b.w, b.p)
    store.close()


@pytest.mark.parametrize("seed", [520, 521])
def test_generated_benign_traces_raise_no_alarm(kit: Kit, tmp_path: object, seed: int) -> None:
    """The demo's benign client: 400 generated rows in batches of 50. Before group centring and
    the p-value condition, the kit's model flagged these two traces after 100 and 250
    queries (W 0.947), as the demo's DP-trained models flagged theirs."""
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path}/s.db", tiers={"plant": OutputTier.LABEL_ONLY}
    )
    assert service.config == GuardConfig()
    trace = [
        SensorRecord.model_validate(r)
        for r in records_from_frame(generate(GeneratorConfig(rows=400), seed=seed))
    ]
    for i in range(0, len(trace), 50):
        service.predict(keys["plant"], trace[i : i + 50])
    state = service.store.client_state("plant")
    assert state is not None
    assert state.queries == 400
    assert state.alarm_at is None, f"flagged after {state.alarm_at}"


def test_state_without_distance_groups_is_refused(tmp_path: object) -> None:
    """A state database of an older version (distances without their group) is refused at
    open with a clear error, not half-read."""
    import sqlite3

    from edgeshield.errors import StorageError

    path = f"{tmp_path}/old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE guard_prada_distances (id INTEGER PRIMARY KEY, "
            "client_id VARCHAR(64) NOT NULL, distance FLOAT NOT NULL)"
        )
    with pytest.raises(StorageError, match="new state database"):
        GuardStore(f"sqlite:///{path}")
