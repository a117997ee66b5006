"""The attacker's surrogate: a small MLP on the raw inputs, trained on what the API returned.

Why: the attacker knows neither the victim's encoder nor its threshold; it standardizes with
its own data's statistics and picks the threshold that best reproduces the labels it saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from torch import nn

from edgeshield.redteam._space import AttackSpace, default_space

__all__ = ["Surrogate", "attacker_features", "fit_surrogate"]


def attacker_features(
    frame: pd.DataFrame, space: AttackSpace | None = None
) -> npt.NDArray[np.float64]:
    """Raw features the attacker uses: numeric inputs, then one-hot category levels.

    For AI4I: the five sensors and the product type.
    """
    return (space or default_space()).features(frame)


@dataclass
class Surrogate:
    """A trained surrogate: scaler, network and decision threshold."""

    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    net: nn.Module
    threshold: float
    space: AttackSpace = field(default_factory=default_space)

    def scaled(self, frame: pd.DataFrame) -> npt.NDArray[np.float32]:
        """Standardized features (the space the Jacobian augmentation steps in)."""
        x = self.space.features(frame)
        n = len(self.space.numeric)
        x[:, :n] = (x[:, :n] - self.mean) / self.scale
        return x.astype(np.float32)

    def logits(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Failure logits per row."""
        with torch.no_grad():
            out = self.net(torch.as_tensor(self.scaled(frame))).squeeze(-1)
        return np.asarray(out.numpy(), dtype=np.float64)

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
        """0/1 labels per row."""
        p = 1.0 / (1.0 + np.exp(-self.logits(frame)))
        return (p >= self.threshold).astype(np.int64)

    def gradient_sign(
        self, frame: pd.DataFrame, labels: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        """Sign of the gradient of the labelled class's logit w.r.t. the scaled numeric inputs."""
        x = torch.as_tensor(self.scaled(frame), dtype=torch.float32).requires_grad_(True)
        out = self.net(x).squeeze(-1)
        direction = torch.as_tensor(np.where(labels == 1, 1.0, -1.0), dtype=torch.float32)
        (out * direction).sum().backward()
        assert x.grad is not None
        n = len(self.space.numeric)
        return np.asarray(np.sign(x.grad.numpy()[:, :n]), dtype=np.float64)


def _best_threshold(p: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    """Threshold that maximizes class-balanced agreement with the observed labels."""
    if labels.min() == labels.max():
        return 0.5
    best, best_score = 0.5, -1.0
    for t in np.unique(np.quantile(p, np.linspace(0.0, 1.0, 101))):
        pred = p >= t
        score = 0.5 * (np.mean(pred[labels == 1]) + np.mean(~pred[labels == 0]))
        if score > best_score:
            best, best_score = float(t), float(score)
    return best


def fit_surrogate(
    frame: pd.DataFrame,
    labels: npt.NDArray[np.int64],
    *,
    logit_targets: npt.NDArray[np.float64] | None = None,
    scaler_frame: pd.DataFrame | None = None,
    hidden: tuple[int, ...] = (32, 32),
    epochs: int = 300,
    seed: int = 0,
    space: AttackSpace | None = None,
) -> Surrogate:
    """Train a surrogate on queried rows in ``space`` (default: AI4I 2020's requests).

    With ``logit_targets`` (equation solving) the network regresses the returned logits
    (mean squared error); otherwise it fits the labels with class-balanced cross-entropy.
    """
    space = space or default_space()
    numeric = len(space.numeric)
    base = space.features(scaler_frame if scaler_frame is not None else frame)[:, :numeric]
    mean, scale = base.mean(axis=0), base.std(axis=0)
    scale[scale == 0] = 1.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        width = space.width
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        net = nn.Sequential(*layers)
    surrogate = Surrogate(mean=mean, scale=scale, net=net, threshold=0.5, space=space)
    x = torch.as_tensor(surrogate.scaled(frame))
    y = torch.as_tensor(labels, dtype=torch.float32)
    if logit_targets is not None:
        target = torch.as_tensor(np.clip(logit_targets, -12, 12), dtype=torch.float32)
        loss_fn: nn.Module = nn.MSELoss()
    else:
        positives = float(y.sum())
        weight = np.sqrt((len(y) - positives) / positives) if 0 < positives < len(y) else 1.0
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(weight))
        target = y
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(net(x).squeeze(-1), target)
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        p = torch.sigmoid(net(x).squeeze(-1)).numpy().astype(np.float64)
    surrogate.threshold = _best_threshold(p, np.asarray(labels, dtype=np.int64))
    return surrogate
