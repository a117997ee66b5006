"""Output hardening: what a client sees of the model's probabilities, per client tier.

Why: probabilities make extraction far cheaper than labels (Tramèr et al., "Stealing Machine
Learning Models via Prediction APIs", USENIX Security 2016). Tiers: full, label only, top-k
(for a binary model the top-1 confidence, which still reveals the probability), rounded, and
the reverse-sigmoid perturbation of Lee, Edraki, Qi, "Defending Against NN Model Stealing
Attacks Using Deceptive Perturbations", IEEE S&P Workshops 2019, which makes the output a
non-invertible function of the logit so that fitting logits misleads the attacker.

The decision of this binary model is ``p >= threshold``, not ``p >= 0.5``; the perturbation
works in the threshold-centred space ``q = sigmoid(logit p - logit t)`` and is clamped so that
it never changes the returned label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgeshield.errors import ConfigError
from edgeshield.guard._schema import OutputTier, Prediction

__all__ = ["HardeningConfig", "harden", "reverse_sigmoid"]

_EPS = 1e-7


@dataclass(frozen=True, kw_only=True)
class HardeningConfig:
    """Parameters of the output tiers.

    Parameters
    ----------
    decimals
        Decimals kept by the rounded tier.
    beta, gamma
        Reverse-sigmoid strength and slope; ``0 < beta < 1`` and ``0 < gamma <= 1`` keep the
        label by construction (a clamp enforces it in any case).
    """

    decimals: int = 1
    beta: float = 0.8
    gamma: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= 6:
            raise ConfigError(f"decimals must lie in [0, 6], got {self.decimals}")
        if not 0.0 < self.beta < 1.0 or not 0.0 < self.gamma <= 1.0:
            raise ConfigError("reverse sigmoid needs 0 < beta < 1 and 0 < gamma <= 1")


def _logit(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def reverse_sigmoid(
    p_failure: npt.NDArray[np.float64], threshold: float, *, beta: float, gamma: float
) -> npt.NDArray[np.float64]:
    """Perturbed failure probabilities that keep ``p >= threshold`` for every row.

    ``q' = q - beta * (sigmoid(gamma * logit q) - 1/2)`` in the threshold-centred space (the
    two-class form of Lee et al.'s ``y - beta * (s(gamma s^-1(y)) - 1/2)``, already normalized).
    """
    p = np.asarray(p_failure, dtype=np.float64)
    shift = float(_logit(np.asarray([threshold]))[0])
    z = _logit(p) - shift
    q = _sigmoid(z)
    perturbed = q - beta * (_sigmoid(gamma * z) - 0.5)
    positive = p >= threshold
    perturbed = np.where(
        positive, np.maximum(perturbed, 0.5 + 1e-6), np.minimum(perturbed, 0.5 - 1e-6)
    )
    out = _sigmoid(_logit(perturbed) + shift)
    # Floating point at the clamp: re-impose the side exactly.
    out = np.where(
        positive, np.maximum(out, threshold), np.minimum(out, np.nextafter(threshold, 0))
    )
    return np.asarray(out, dtype=np.float64)


def harden(
    p_failure: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    tier: OutputTier,
    *,
    threshold: float,
    config: HardeningConfig,
) -> list[Prediction]:
    """The predictions a client of ``tier`` receives; ``labels`` are always returned as is."""
    p = np.asarray(p_failure, dtype=np.float64)
    match tier:
        case OutputTier.LABEL_ONLY:
            return [Prediction(label=int(y)) for y in labels]
        case OutputTier.TOP_K:
            conf = np.where(labels == 1, p, 1.0 - p)
            return [
                Prediction(label=int(y), confidence=round(float(c), 6))
                for y, c in zip(labels, conf, strict=True)
            ]
        case OutputTier.ROUNDED:
            shown = np.round(p, config.decimals)
        case OutputTier.REVERSE_SIGMOID:
            shown = reverse_sigmoid(p, threshold, beta=config.beta, gamma=config.gamma)
        case OutputTier.FULL:
            shown = p
    return [
        Prediction(label=int(y), probabilities=[float(1.0 - s), float(s)])
        for y, s in zip(labels, shown, strict=True)
    ]
