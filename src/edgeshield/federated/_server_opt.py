"""Server-side optimizers: FedAvgM, FedAdam and FedYogi on the robust aggregate's update.

Reddi, Charles, Zaheer, Garrett, Rush, Konečný, Kumar, McMahan, "Adaptive Federated
Optimization", ICLR 2021 (Algorithm 2): the server treats ``aggregate - global`` as a
pseudo-gradient ``Δ`` and applies it with its own optimizer,

* FedAdam: ``m <- β1 m + (1 - β1) Δ``, ``v <- β2 v + (1 - β2) Δ²``,
  ``global <- global + η m / (√v + τ)``;
* FedYogi: the same with ``v <- v - (1 - β2) Δ² sign(v - Δ²)``, which grows ``v`` more slowly;

with ``m`` starting at 0, ``v`` at ``τ²`` (the paper's ``v_{-1} ≥ τ²``), no bias correction,
``β1 = 0.9`` and ``β2 = 0.99`` (the paper's values). ``τ`` sets how adaptive the step is: with
``τ`` far below ``|Δ|`` every coordinate moves about ``η`` per round whatever its scale. SGD is
FedAvgM (Hsu, Qi, Brown, 2019): ``v <- β v + Δ``, ``global <- global + η v``; ``η = 1`` and
``β = 0`` is plain FedAvg (the aggregate becomes the global model).

Why here and not in the plants: the step runs on the server after the robust aggregation, on
what the plants already sent, so it is post-processing of their releases and leaves each
plant's differential-privacy guarantee (and its ε) unchanged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["ADAPTIVE_BETAS", "ServerOptimizer", "ServerOptimizerState", "server_step"]

Arrays = list[npt.NDArray[np.float32]]
Moments = list[npt.NDArray[np.float64]]

#: ``(β1, β2)`` of FedAdam and FedYogi, as in Reddi et al. (2021).
ADAPTIVE_BETAS = (0.9, 0.99)


class ServerOptimizer(enum.Enum):
    """How the server applies the aggregated update to the global model."""

    SGD = "sgd"
    ADAM = "adam"
    YOGI = "yogi"


@dataclass(kw_only=True)
class ServerOptimizerState:
    """The server optimizer's moments across rounds (empty before the first step)."""

    first: Moments = field(default_factory=list)
    second: Moments = field(default_factory=list)


def server_step(
    optimizer: ServerOptimizer,
    before: Arrays,
    aggregate: Arrays,
    state: ServerOptimizerState,
    *,
    lr: float,
    tau: float,
    momentum: float,
) -> Arrays:
    """Return the new global model and update ``state`` in place.

    Parameters
    ----------
    optimizer
        SGD (FedAvgM with ``momentum``), Adam or Yogi.
    before
        The global model the plants trained from this round.
    aggregate
        The robust aggregate of their updates (the model plain FedAvg would adopt).
    state
        Moments carried from the previous rounds.
    lr, tau, momentum
        Server learning rate ``η``, adaptivity ``τ`` (Adam/Yogi) and FedAvgM's ``β`` (SGD).
    """
    deltas = [(a - b).astype(np.float64) for a, b in zip(aggregate, before, strict=True)]
    if optimizer is ServerOptimizer.SGD:
        previous = state.first or [np.zeros_like(d) for d in deltas]
        state.first = [momentum * v + d for v, d in zip(previous, deltas, strict=True)]
        steps = [lr * v for v in state.first]
    else:
        beta1, beta2 = ADAPTIVE_BETAS
        first = state.first or [np.zeros_like(d) for d in deltas]
        second = state.second or [np.full_like(d, tau * tau) for d in deltas]
        state.first = [beta1 * m + (1 - beta1) * d for m, d in zip(first, deltas, strict=True)]
        squares = [d * d for d in deltas]
        if optimizer is ServerOptimizer.ADAM:
            state.second = [
                beta2 * v + (1 - beta2) * s for v, s in zip(second, squares, strict=True)
            ]
        else:
            state.second = [
                v - (1 - beta2) * s * np.sign(v - s) for v, s in zip(second, squares, strict=True)
            ]
        steps = [
            lr * m / (np.sqrt(v) + tau) for m, v in zip(state.first, state.second, strict=True)
        ]
    return [(b + s).astype(np.float32) for b, s in zip(before, steps, strict=True)]
