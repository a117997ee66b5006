"""Server optimizers (FedAvgM, FedAdam, FedYogi): known-answer steps, bounds and validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeshield.errors import ConfigError
from edgeshield.federated import FederatedConfig, ServerOptimizer, config_from_dict
from edgeshield.federated._server_opt import ServerOptimizerState, server_step


def _two_rounds(optimizer: ServerOptimizer, *, lr: float, momentum: float = 0.0) -> list[float]:
    """The global model after two rounds whose aggregate is always the global plus 0.1."""
    state, model, seen = ServerOptimizerState(), [np.zeros(1, np.float32)], []
    for _ in range(2):
        aggregate = [model[0] + np.float32(0.1)]
        model = server_step(optimizer, model, aggregate, state, lr=lr, tau=1e-3, momentum=momentum)
        seen.append(float(model[0][0]))
    return seen


@pytest.mark.parametrize(
    ("optimizer", "lr", "momentum", "expected"),
    [
        # m1 = 0.01, v1 = 0.99 tau^2 + 0.01 * 0.1^2; x1 = lr m1 / (sqrt(v1) + tau)
        # m2 = 0.019, v2 = 0.99 v1 + 1e-4
        (ServerOptimizer.ADAM, 0.1, 0.0, [0.0905028312, 0.2159863387]),
        # Yogi: v1 = tau^2 + 1e-4 (v0 < delta^2), v2 = v1 + 1e-4
        (ServerOptimizer.YOGI, 0.1, 0.0, [0.0904987562, 0.2156845016]),
        # FedAvgM: v1 = 0.1, v2 = 0.5 * 0.1 + 0.1; x = x + lr v
        (ServerOptimizer.SGD, 1.0, 0.5, [0.1, 0.25]),
        (ServerOptimizer.SGD, 0.5, 0.0, [0.05, 0.1]),
    ],
)
def test_known_answers(
    optimizer: ServerOptimizer, lr: float, momentum: float, expected: list[float]
) -> None:
    np.testing.assert_allclose(
        _two_rounds(optimizer, lr=lr, momentum=momentum), expected, rtol=1e-6
    )


def test_plain_sgd_adopts_the_aggregate() -> None:
    before = [np.array([1.0, -2.0], np.float32), np.array([0.5], np.float32)]
    aggregate = [np.array([1.5, -1.0], np.float32), np.array([0.25], np.float32)]
    after = server_step(
        ServerOptimizer.SGD, before, aggregate, ServerOptimizerState(), lr=1.0, tau=1e-3, momentum=0
    )
    for a, b in zip(after, aggregate, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32


@given(
    delta=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=8),
    lr=st.floats(1e-4, 1.0),
    optimizer=st.sampled_from([ServerOptimizer.ADAM, ServerOptimizer.YOGI]),
)
def test_first_adaptive_step_is_at_most_lr_per_coordinate(
    delta: list[float], lr: float, optimizer: ServerOptimizer
) -> None:
    # m1 = 0.1 d and sqrt(v1) >= 0.1 |d|: the first step never exceeds lr in any coordinate,
    # whatever the scale of the update (the adaptivity that makes eta the step size).
    before = [np.zeros(len(delta), np.float32)]
    aggregate = [np.asarray(delta, np.float32)]
    after = server_step(
        optimizer, before, aggregate, ServerOptimizerState(), lr=lr, tau=1e-3, momentum=0
    )
    assert np.all(np.abs(after[0]) <= lr * (1 + 1e-6))
    assert np.all(after[0] * aggregate[0] >= 0)  # along the update (tiny ones may round to 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"server_lr": 0.0}, "server_lr"),
        ({"server_lr": float("nan")}, "server_lr"),
        ({"server_lr": 11.0}, "server_lr"),
        ({"server_tau": 0.0}, "server_tau"),
        ({"server_tau": float("inf")}, "server_tau"),
        ({"server_optimizer": "adam"}, "ServerOptimizer"),
        ({"server_optimizer": ServerOptimizer.ADAM, "server_momentum": 0.5}, "FedAvgM"),
    ],
)
def test_bad_server_optimizer_settings_raise(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        FederatedConfig(**kwargs)


def test_server_optimizer_round_trips_through_the_app_config() -> None:
    config = FederatedConfig(server_optimizer=ServerOptimizer.YOGI, server_lr=0.03, server_tau=1e-2)
    data = config.to_dict()
    assert data["server_optimizer"] == "yogi"
    assert config_from_dict(data) == config
    older = {k: v for k, v in data.items() if not k.startswith("server_")}
    assert config_from_dict(older).server_optimizer is ServerOptimizer.SGD
