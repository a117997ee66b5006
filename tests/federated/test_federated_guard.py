"""The no-silent-failure guard around a fit round, driven without Ray."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ConfigRecord, Context, RecordDict
from flwr.server import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key

from edgeshield.errors import AggregationError
from edgeshield.federated import FederatedConfig, ServerOptimizer, ServerPlan, server_encoder
from edgeshield.federated._server import (
    EdgeStrategy,
    _current_round,
    _global,
    _GuardedFit,
    _set_global,
)


def _setup(config: FederatedConfig) -> tuple[EdgeStrategy, LegacyContext]:
    plan = ServerPlan(
        config=config,
        encoder=server_encoder(config),
        initial=[np.ones((2, 2), dtype=np.float32)],
        names=["w"],
        test_x=None,
        test_y=None,
    )
    strategy = EdgeStrategy(plan)
    context = LegacyContext(
        Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}),
        strategy=strategy,
    )
    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({Key.CURRENT_ROUND: 1})
    _set_global(context, plan.initial)
    assert MAIN_PARAMS_RECORD in context.state.array_records
    return strategy, context


CONFIG = FederatedConfig(plants=3, rounds=1, reference_rows=300)


def test_a_halted_secure_aggregation_raises() -> None:
    strategy, context = _setup(CONFIG)
    guard = _GuardedFit(lambda grid, ctx: None, strategy)
    with pytest.raises(AggregationError, match="halted without a result"):
        guard(None, context)  # type: ignore[arg-type]


def test_an_unchanged_global_model_raises() -> None:
    strategy, context = _setup(CONFIG)

    def inner(grid: object, ctx: Context) -> None:
        strategy.aggregated.add(1)

    with pytest.raises(AggregationError, match="did not change"):
        _GuardedFit(inner, strategy)(None, context)  # type: ignore[arg-type]


def test_a_non_finite_global_model_raises() -> None:
    strategy, context = _setup(CONFIG)

    def inner(grid: object, ctx: Context) -> None:
        strategy.aggregated.add(1)
        _set_global(ctx, [np.full((2, 2), np.inf, dtype=np.float32)])

    with pytest.raises(AggregationError, match="not finite"):
        _GuardedFit(inner, strategy)(None, context)  # type: ignore[arg-type]


def test_the_after_aggregate_hook_replaces_the_global_model() -> None:
    calls: list[int] = []

    def hook(round_: int, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(round_)
        return {"w": weights["w"] + 1.0}

    strategy, context = _setup(CONFIG)
    strategy.plan.after_aggregate = hook

    def inner(grid: object, ctx: Context) -> None:
        strategy.aggregated.add(1)

    _GuardedFit(inner, strategy)(None, context)  # type: ignore[arg-type]
    assert calls == [1]
    np.testing.assert_array_equal(_global(context)[0], np.full((2, 2), 2.0))


def test_the_released_model_is_the_mean_of_the_last_rounds_globals() -> None:
    config = FederatedConfig(plants=3, rounds=4, reference_rows=300, release_average=2)
    strategy, context = _setup(config)

    def inner(grid: object, ctx: Context) -> None:
        strategy.aggregated.add(_current_round(ctx))
        _set_global(ctx, [_global(ctx)[0] + 1.0])  # globals 2, 3, 4, 5

    guard = _GuardedFit(inner, strategy)
    released = []
    for round_ in (1, 2, 3, 4):
        context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
            {Key.CURRENT_ROUND: round_}
        )
        guard(None, context)  # type: ignore[arg-type]
        assert strategy.released is not None
        released.append(float(strategy.released[0][0, 0]))
    assert released == [2.0, 2.5, 3.5, 4.5]  # round 1 alone, then the last two
    np.testing.assert_array_equal(_global(context)[0], np.full((2, 2), 5.0))  # training goes on


def test_server_momentum_accumulates_the_aggregated_updates() -> None:
    config = FederatedConfig(plants=3, rounds=2, reference_rows=300, server_momentum=0.5)
    strategy, context = _setup(config)

    def inner(grid: object, ctx: Context) -> None:
        strategy.aggregated.add(1)
        _set_global(ctx, [_global(ctx)[0] + 1.0])  # every round's aggregate moves by +1

    guard = _GuardedFit(inner, strategy)
    guard(None, context)  # type: ignore[arg-type]
    np.testing.assert_allclose(_global(context)[0], 2.0)  # 1 + v, v = 1
    guard(None, context)  # type: ignore[arg-type]
    np.testing.assert_allclose(_global(context)[0], 3.5)  # 2 + (0.5 * 1 + 1)


def test_fedadam_steps_the_global_model_from_the_aggregate() -> None:
    config = FederatedConfig(
        plants=3,
        rounds=1,
        reference_rows=300,
        server_optimizer=ServerOptimizer.ADAM,
        server_lr=0.1,
        server_tau=1e-3,
    )
    strategy, context = _setup(config)

    def inner(grid: object, ctx: Context) -> None:
        strategy.aggregated.add(1)
        _set_global(ctx, [_global(ctx)[0] + 0.1])  # the median's update: +0.1 everywhere

    _GuardedFit(inner, strategy)(None, context)  # type: ignore[arg-type]
    # m = 0.01, v = 0.99 tau^2 + 1e-4: 1 + 0.1 m / (sqrt(v) + tau), not the aggregate 1.1
    np.testing.assert_allclose(_global(context)[0], 1.0905028, rtol=1e-6)


def test_plants_sample_at_the_rate_the_accountant_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeshield.federated import RecordDP
    from edgeshield.federated._client import _record_dp

    dp = RecordDP(noise_multiplier=2.0, sample_rate=0.0267)
    strategy, _ = _setup(FederatedConfig(plants=3, rounds=1, reference_rows=300, record_dp=dp))
    monkeypatch.setattr(strategy, "_clients", lambda manager: ["plant"])
    ((_, fit_ins),) = strategy.configure_fit(1, None, None)  # type: ignore[arg-type]
    plant_dp = _record_dp(dict(fit_ins.config))
    assert plant_dp is not None
    assert plant_dp.sample_rate == dp.sample_rate
    assert plant_dp.noise_multiplier == dp.noise_multiplier
