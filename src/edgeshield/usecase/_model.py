"""The failure classifier: a small PyTorch MLP and its deterministic training loop.

The loop is shared with the federated clients (each plant runs it on its own rows), so it
takes tensors, a seed and explicit hyper-parameters, and touches no global random state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from edgeshield.errors import ConfigError

__all__ = ["FailureMLP", "TrainConfig", "fit_mlp", "positive_weight", "proximal_term"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Hyper-parameters of the failure classifier.

    Parameters
    ----------
    hidden
        Widths of the hidden layers (small: larger networks overfit the ~300 failures).
    bins
        Piecewise-linear bins per numeric feature (see :class:`FeatureEncoder`).
    epochs, batch_size, learning_rate, weight_decay
        Adam training schedule.
    balance
        Weight failures by ``sqrt(negatives / positives)`` in the loss. Off by default: the
        imbalance is handled by choosing the decision threshold on held-out rows instead.
    validation_fraction
        Share of the training rows held out (stratified) to choose the decision threshold.
    """

    hidden: tuple[int, ...] = (32,)
    bins: int = 16
    epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    balance: bool = False
    validation_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"hidden layer widths must be positive, got {self.hidden}")
        if self.bins < 2:
            raise ConfigError(f"bins must be at least 2, got {self.bins}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("learning_rate must be positive and weight_decay non-negative")
        if not 0.0 <= self.validation_fraction < 0.9:
            raise ConfigError("validation_fraction must lie in [0, 0.9)")


class FailureMLP(nn.Module):
    """Multi-layer perceptron that outputs one failure logit per row."""

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (64, 64), *, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers: list[nn.Module] = []
            width = in_features
            for h in hidden:
                layers += [nn.Linear(width, h), nn.ReLU()]
                width = h
            layers.append(nn.Linear(width, 1))
            self.net = nn.Sequential(*layers)
        self.in_features = in_features
        self.hidden = tuple(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Failure logits of shape ``(rows,)``."""
        out: torch.Tensor = self.net(x).squeeze(-1)
        return out

    def predict_proba(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Failure probabilities for a scaled feature matrix."""
        self.eval()
        with torch.no_grad():
            logits = self.forward(torch.as_tensor(x, dtype=torch.float32))
        return torch.sigmoid(logits).numpy().astype(np.float64)


def positive_weight(y: npt.NDArray[np.float32]) -> float:
    """Loss weight of failures: ``sqrt(negatives / positives)``, 1 when a class is absent."""
    positives = float(np.sum(y))
    negatives = float(y.size - positives)
    return float(np.sqrt(negatives / positives)) if positives and negatives else 1.0


def fit_mlp(
    model: FailureMLP,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float = 0.0,
    pos_weight: float = 1.0,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
    proximal_mu: float = 0.0,
) -> list[float]:
    """Train ``model`` in place with Adam on weighted BCE; return the mean loss per epoch.

    ``proximal_mu > 0`` adds FedProx's :func:`proximal_term` towards the weights the model has
    on entry (a plant's received global model); the returned losses are the BCE alone.
    """
    if x.shape[0] != y.shape[0]:
        raise ConfigError(f"{x.shape[0]} feature rows but {y.shape[0]} labels")
    if not (np.isfinite(proximal_mu) and proximal_mu >= 0):
        raise ConfigError(f"proximal_mu must be finite and non-negative, got {proximal_mu}")
    anchor = [p.detach().clone() for p in model.parameters()] if proximal_mu > 0 else []
    generator = torch.Generator().manual_seed(seed)
    features = torch.as_tensor(x, dtype=torch.float32)
    targets = torch.as_tensor(y, dtype=torch.float32)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    losses: list[float] = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(features.shape[0], generator=generator)
        total = 0.0
        for start in range(0, features.shape[0], batch_size):
            index = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(features[index]), targets[index])
            objective = loss + proximal_term(model, anchor, proximal_mu) if anchor else loss
            objective.backward()
            optimizer.step()
            total += float(loss.detach()) * index.numel()
        losses.append(total / max(features.shape[0], 1))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    model.eval()
    return losses


def proximal_term(model: nn.Module, anchor: list[torch.Tensor], mu: float) -> torch.Tensor:
    """FedProx's ``mu / 2 * ||w - anchor||^2`` over every parameter, which curbs client drift.

    Li, Sahu, Zaheer, Sanjabi, Talwalkar, Smith, "Federated Optimization in Heterogeneous
    Networks", MLSys 2020: each plant's local objective gets this term towards the global
    model it received, so non-IID plants cannot wander far from it in one round.
    """
    params = list(model.parameters())
    if len(params) != len(anchor):
        raise ConfigError(f"{len(params)} parameters but {len(anchor)} anchor tensors")
    total = torch.zeros(())
    for p, a in zip(params, anchor, strict=True):
        total = total + (p - a).pow(2).sum()
    return 0.5 * mu * total
