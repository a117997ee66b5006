"""FedProx in the plants' local training: the proximal term, its gradient and its settings."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import edgeshield.federated._client as client_module
from edgeshield.errors import ConfigError
from edgeshield.federated import Engine, FederatedConfig, RecordDP, config_from_dict, run_federated
from edgeshield.federated._local import get_arrays, train_local
from edgeshield.usecase import FailureMLP, FleetConfig, fit_mlp, make_fleet
from edgeshield.usecase._model import proximal_term


def _rows(n: int = 96, width: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Seeded features and labels with both classes."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, width)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=n) > 0.8).astype(np.float32)
    return x, y


def test_the_proximal_term_and_its_gradient_match_the_hand_computation() -> None:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0]]))
        model.bias.copy_(torch.tensor([0.5]))
    anchor = [torch.tensor([[0.0, -1.0]]), torch.tensor([1.5])]
    term = proximal_term(model, anchor, 0.4)
    # 0.4 / 2 * ((1 - 0)^2 + (-2 + 1)^2 + (0.5 - 1.5)^2) = 0.2 * 3
    assert term.item() == pytest.approx(0.6)
    weight_grad, bias_grad = torch.autograd.grad(term, [model.weight, model.bias])
    # d/dw = mu * (w - anchor)
    np.testing.assert_allclose(weight_grad.numpy(), [[0.4, -0.4]], rtol=1e-6)
    np.testing.assert_allclose(bias_grad.numpy(), [-0.4], rtol=1e-6)


def test_the_proximal_term_is_zero_at_the_anchor() -> None:
    model = FailureMLP(6, (4,), seed=1)
    anchor = [p.detach().clone() for p in model.parameters()]
    assert proximal_term(model, anchor, 10.0).item() == 0.0


def test_the_proximal_term_refuses_an_anchor_of_another_model() -> None:
    model = FailureMLP(6, (4,), seed=1)
    with pytest.raises(ConfigError, match="anchor"):
        proximal_term(model, [torch.zeros(1)], 1.0)


def _trained(mu: float, *, epochs: int = 3) -> list[np.ndarray]:
    """A seeded model after ``fit_mlp`` with FedProx's ``mu`` (``0``: the keyword left out)."""
    x, y = _rows()
    model = FailureMLP(6, (4,), seed=1)
    extra: dict[str, Any] = {} if mu == 0 else {"proximal_mu": mu}
    fit_mlp(model, x, y, epochs=epochs, batch_size=32, learning_rate=0.05, seed=2, **extra)
    return get_arrays(model)


def test_mu_zero_trains_exactly_as_before() -> None:
    x, y = _rows()
    plain, explicit = FailureMLP(6, (4,), seed=1), FailureMLP(6, (4,), seed=1)
    fit_mlp(plain, x, y, epochs=3, batch_size=32, learning_rate=0.05, seed=2)
    fit_mlp(explicit, x, y, epochs=3, batch_size=32, learning_rate=0.05, seed=2, proximal_mu=0.0)
    for a, b in zip(get_arrays(plain), get_arrays(explicit), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_larger_mu_keeps_the_model_closer_to_where_it_started() -> None:
    start = get_arrays(FailureMLP(6, (4,), seed=1))

    def drift(mu: float) -> float:
        moved = _trained(mu, epochs=20)
        return math.sqrt(
            sum(float(np.sum((a - b) ** 2)) for a, b in zip(moved, start, strict=True))
        )

    assert drift(50.0) < drift(1.0) < drift(0.0)


@pytest.mark.parametrize("mu", [-0.1, math.inf, math.nan])
def test_fit_mlp_refuses_a_bad_mu(mu: float) -> None:
    x, y = _rows()
    with pytest.raises(ConfigError, match="proximal_mu"):
        fit_mlp(
            FailureMLP(6, (4,)), x, y, epochs=1, batch_size=32, learning_rate=0.01, proximal_mu=mu
        )


def test_train_local_passes_mu_to_the_non_dp_training() -> None:
    x, y = _rows()
    model = FailureMLP(6, (4,), seed=1)
    steps = train_local(
        model,
        x,
        y,
        epochs=20,
        batch_size=32,
        learning_rate=0.05,
        weight_decay=0.0,
        dp=None,
        seed=2,
        proximal_mu=50.0,
    )
    assert steps == 20 * 3
    for a, b in zip(get_arrays(model), _trained(50.0, epochs=20), strict=True):
        np.testing.assert_array_equal(a, b)


def test_train_local_refuses_mu_under_dp_sgd() -> None:
    x, y = _rows()
    with pytest.raises(ConfigError, match="DP-SGD"):
        train_local(
            FailureMLP(6, (4,)),
            x,
            y,
            epochs=1,
            batch_size=32,
            learning_rate=0.01,
            weight_decay=0.0,
            dp=RecordDP(),
            seed=0,
            proximal_mu=0.1,
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"proximal_mu": -1.0}, "proximal_mu must be finite"),
        ({"proximal_mu": math.inf}, "proximal_mu must be finite"),
        ({"proximal_mu": math.nan}, "proximal_mu must be finite"),
        ({"proximal_mu": 0.1, "record_dp": RecordDP()}, "non-DP training only"),
    ],
)
def test_the_config_refuses_a_bad_mu(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        FederatedConfig(**kwargs)


def test_mu_round_trips_through_the_app_config() -> None:
    config = FederatedConfig(proximal_mu=0.01)
    assert config_from_dict(config.to_dict()).proximal_mu == 0.01
    legacy = config.to_dict()
    del legacy["proximal_mu"]
    assert config_from_dict(legacy).proximal_mu == 0.0


def test_the_round_config_carries_mu_to_every_plant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []

    def recording(*args: Any, **kwargs: Any) -> int:
        seen.append(kwargs["proximal_mu"])
        return train_local(*args, **kwargs)

    monkeypatch.setattr(client_module, "train_local", recording)
    fleet = make_fleet(FleetConfig(plants=2, total_rows=600), seed=4)
    config = FederatedConfig(
        plants=2, rounds=1, local_epochs=1, secure=False, proximal_mu=0.25, reference_rows=500
    )
    run_federated(config, fleet, tmp_path, engine=Engine.IN_PROCESS)
    assert seen == [0.25, 0.25]
