"""Model-extraction attacks against the guard's HTTP API, measured class-balanced.

Why: each defence of the guard is only as good as the attack it was measured against.

* Knockoff-style natural queries: the attacker queries its own plant's real readings (another
  distribution than the victim's training data) and trains on the answers. Orekondy, Schiele,
  Fritz, "Knockoff Nets: Stealing Functionality of Black-Box Models", CVPR 2019.
* Jacobian-based augmentation: a small natural seed set grows by steps of ``lambda`` along the
  sign of the surrogate's gradient. Papernot, McDaniel, Goodfellow, Jha, Celik, Swami,
  "Practical Black-Box Attacks against Machine Learning", AsiaCCS 2017.
* Equation solving when probabilities are exposed: random queries in the sensor envelope and a
  surrogate that regresses the returned logits. Tramèr, Zhang, Juels, Reiter, Ristenpart,
  "Stealing Machine Learning Models via Prediction APIs", USENIX Security 2016.

Fidelity is reported class-balanced: with ~3.4 % failures, a surrogate that always answers
"healthy" agrees 96 % of the time but on none of the victim's failure predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import ConfigError, GuardError
from edgeshield.redteam._client import GuardClient, ServiceRefusedError
from edgeshield.redteam._space import AttackSpace
from edgeshield.redteam._surrogate import Surrogate, fit_surrogate

__all__ = [
    "AttackKind",
    "ExtractionConfig",
    "ExtractionPoint",
    "ExtractionReport",
    "Fidelity",
    "fidelity",
    "run_extraction",
]


class AttackKind(StrEnum):
    """The extraction attacks of the red team."""

    KNOCKOFF = "knockoff"
    JACOBIAN = "jacobian"
    EQUATION_SOLVING = "equation-solving"


@dataclass(frozen=True, kw_only=True)
class ExtractionConfig:
    """One extraction run.

    Parameters
    ----------
    kind
        The attack.
    budgets
        Increasing query counts at which the surrogate is (re)trained and measured.
    seed_size
        Natural seed queries of the Jacobian attack.
    step
        Jacobian augmentation step ``lambda`` in standardized sensor units.
    epochs
        Surrogate training epochs (full batch).
    seed
        Randomness of sampling and training.
    """

    kind: AttackKind
    budgets: tuple[int, ...] = (100, 300, 1000)
    seed_size: int = 50
    step: float = 0.1
    epochs: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.budgets or any(b < 10 for b in self.budgets):
            raise ConfigError("budgets must be a non-empty list of counts >= 10")
        if list(self.budgets) != sorted(set(self.budgets)):
            raise ConfigError("budgets must be strictly increasing")
        if self.seed_size < 1 or (
            self.kind is AttackKind.JACOBIAN and self.seed_size > self.budgets[0]
        ):
            raise ConfigError("seed_size must lie in [1, first budget] (the Jacobian's seed rows)")
        if self.step <= 0 or self.epochs < 1:
            raise ConfigError("step must be positive and epochs at least 1")


@dataclass(frozen=True, kw_only=True)
class Fidelity:
    """Agreement of a surrogate with the victim, class-balanced, and its own F1."""

    agreement: float
    failure_agreement: float
    macro_agreement: float
    surrogate_f1: float


def fidelity(
    surrogate_labels: npt.NDArray[np.int64],
    victim_labels: npt.NDArray[np.int64],
    true_labels: npt.NDArray[np.int64],
) -> Fidelity:
    """Raw agreement, agreement on the victim's failure predictions, macro agreement, F1."""
    s, v, t = (
        np.asarray(a, dtype=np.int64) for a in (surrogate_labels, victim_labels, true_labels)
    )
    per_class = [float(np.mean(s[v == c] == c)) for c in (0, 1) if np.any(v == c)]
    tp = float(np.sum((s == 1) & (t == 1)))
    denom = float(np.sum(s == 1) + np.sum(t == 1))
    return Fidelity(
        agreement=float(np.mean(s == v)),
        failure_agreement=float(np.mean(s[v == 1] == 1)) if np.any(v == 1) else float("nan"),
        macro_agreement=float(np.mean(per_class)),
        surrogate_f1=2 * tp / denom if denom else 0.0,
    )


@dataclass(frozen=True, kw_only=True)
class ExtractionPoint:
    """Surrogate quality after ``queries`` answered queries."""

    budget: int
    queries: int
    fidelity: Fidelity


@dataclass(frozen=True, kw_only=True)
class ExtractionReport:
    """Outcome of one attack run."""

    kind: AttackKind
    points: tuple[ExtractionPoint, ...]
    refused_at: int | None
    refusal: str
    probabilities_seen: bool
    throttled_requests: int
    surrogate: Surrogate | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the surrogate)."""
        return {
            "kind": self.kind.value,
            "refused_at": self.refused_at,
            "refusal": self.refusal,
            "probabilities_seen": self.probabilities_seen,
            "throttled_requests": self.throttled_requests,
            "points": [
                {"budget": p.budget, "queries": p.queries, **p.fidelity.__dict__}
                for p in self.points
            ],
        }


class _Session:
    """Queries spent so far and what came back."""

    def __init__(self, client: GuardClient) -> None:
        self.client = client
        self.frames: list[pd.DataFrame] = []
        self.labels: list[npt.NDArray[np.int64]] = []
        self.probs: list[npt.NDArray[np.float64] | None] = []

    @property
    def spent(self) -> int:
        return sum(len(f) for f in self.frames)

    def ask(self, frame: pd.DataFrame) -> None:
        answers = self.client.query(frame.reset_index(drop=True))
        self.frames.append(frame.reset_index(drop=True))
        self.labels.append(answers.labels)
        self.probs.append(answers.p_failure)

    def data(self) -> tuple[pd.DataFrame, npt.NDArray[np.int64], npt.NDArray[np.float64] | None]:
        frame = pd.concat(self.frames, ignore_index=True)
        labels = np.concatenate(self.labels)
        exposed = [p for p in self.probs if p is not None]
        probs = np.concatenate(exposed) if len(exposed) == len(self.probs) else None
        return frame, labels, probs


def _logits(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def run_extraction(
    client: GuardClient,
    config: ExtractionConfig,
    *,
    attacker_pool: pd.DataFrame,
    eval_frame: pd.DataFrame,
    victim_eval_labels: npt.NDArray[np.int64],
) -> ExtractionReport:
    """Run one attack through ``client`` and measure the surrogate at each budget.

    Parameters
    ----------
    client
        HTTP client of the guard with the attacker's key.
    config
        The attack and its budgets.
    attacker_pool
        The attacker's own natural readings (another plant), under the served schema's
        headers (the client's request schema: AI4I 2020 by default).
    eval_frame, victim_eval_labels
        Held-out rows with their true labels and the victim's predictions on them (obtained
        by the owner, or by the attacker with other keys; not counted in the budget).

    Raises
    ------
    GuardError
        Equation solving against a tier that exposes no probabilities.
    """
    rng = np.random.default_rng(config.seed)
    space = AttackSpace(client.schema)
    session = _Session(client)
    true_eval = space.labels(eval_frame)
    points: list[ExtractionPoint] = []
    refused_at: int | None = None
    refusal = ""
    surrogate: Surrogate | None = None
    pool = attacker_pool.sample(frac=1.0, random_state=config.seed).reset_index(drop=True)
    for budget in config.budgets:
        try:
            _spend(session, config, budget, pool, rng, space)
        except ServiceRefusedError as exc:
            refused_at, refusal = session.spent + 0, str(exc)
        if session.spent == 0:
            break
        frame, labels, probs = session.data()
        if config.kind is AttackKind.EQUATION_SOLVING and probs is None:
            raise GuardError("equation solving needs probabilities; this client sees labels only")
        surrogate = fit_surrogate(
            frame,
            labels,
            logit_targets=_logits(probs)
            if config.kind is AttackKind.EQUATION_SOLVING and probs is not None
            else None,
            scaler_frame=pool,
            epochs=config.epochs,
            seed=config.seed,
            space=space,
        )
        points.append(
            ExtractionPoint(
                budget=budget,
                queries=session.spent,
                fidelity=fidelity(surrogate.predict(eval_frame), victim_eval_labels, true_eval),
            )
        )
        if refused_at is not None:
            break
    return ExtractionReport(
        kind=config.kind,
        points=tuple(points),
        refused_at=refused_at,
        refusal=refusal,
        probabilities_seen=bool(session.probs) and all(p is not None for p in session.probs),
        throttled_requests=client.throttled,
        surrogate=surrogate,
    )


def _spend(
    session: _Session,
    config: ExtractionConfig,
    budget: int,
    pool: pd.DataFrame,
    rng: np.random.Generator,
    space: AttackSpace,
) -> None:
    """Spend queries up to ``budget`` the way the attack does."""
    match config.kind:
        case AttackKind.KNOCKOFF:
            start = session.spent
            take = pool.iloc[start:budget]
            if len(take):
                session.ask(take)
        case AttackKind.EQUATION_SOLVING:
            need = budget - session.spent
            if need > 0:
                session.ask(space.uniform(pool, need, rng))
        case AttackKind.JACOBIAN:
            if session.spent == 0:
                session.ask(pool.iloc[: config.seed_size])
            rounds = 0
            while session.spent < budget:
                frame, labels, _ = session.data()
                model = fit_surrogate(
                    frame,
                    labels,
                    scaler_frame=pool,
                    epochs=config.epochs,
                    seed=config.seed,
                    space=space,
                )
                # Papernot's periodic step: the sign of lambda alternates every few rounds.
                step = config.step * (-1.0 if (rounds // 3) % 2 else 1.0)
                grad = model.gradient_sign(frame, labels)
                need = budget - session.spent
                pick = rng.choice(len(frame), size=min(need, len(frame)), replace=False)
                base = frame.iloc[pick].reset_index(drop=True)
                values = base.loc[:, list(space.numeric)].to_numpy(np.float64)
                values = values + step * grad[pick] * model.scale
                session.ask(space.moved(base, values))
                rounds += 1
