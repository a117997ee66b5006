"""Membership-inference audit of a plant's local training, with and without record-level DP.

Two attacks score every row of an audit pool for "was it in the training set?":

* Loss threshold: a row with a low loss under the target model is called a member (Yeom,
  Giacomelli, Fredrikson, Jha, "Privacy Risk in Machine Learning: Analyzing the Connection to
  Overfitting", CSF 2018).
* LiRA, the likelihood-ratio attack (Carlini, Chien, Nasr, Song, Terzis, Tramer, "Membership
  Inference Attacks From First Principles", IEEE S&P 2022), online variant: shadow models are
  trained on random halves of the pool; per row, Gaussians are fitted to the logit-scaled
  confidence of the shadows that saw it and of those that did not (with a global variance, as
  the paper advises for fewer than 64 shadows), and the target's confidence is scored by the
  log-likelihood ratio.

Every model (target and shadows) is trained with the same local training the federated plants
run (:func:`edgeshield.federated.train_local`), so the audit measures what a plant's update can
leak. The shadows are balanced (every row is in exactly half of them, so the in and out
Gaussians are always fitted on equally many shadows), and separate target models, each trained
on a random half of the pool, are attacked; their scores are pooled.
Results are the ROC AUC and the true-positive rate at 1 % and 0.1 % false-positive rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from scipy.stats import norm

from edgeshield.errors import ConfigError, DataError
from edgeshield.federated import RecordDP, dp_epsilon, train_local
from edgeshield.usecase import FailureMLP, FeatureEncoder, labels

__all__ = ["AttackScore", "MembershipAuditConfig", "MembershipReport", "membership_audit"]


@dataclass(frozen=True, kw_only=True)
class MembershipAuditConfig:
    """Size of the audit and the local training it attacks.

    Parameters
    ----------
    pool_rows
        Rows in the audit pool; each model trains on a random half of them.
    shadows
        Shadow models (at least 8, even).
    targets
        Target models attacked (each on its own random half of the pool).
    epochs, batch_size, learning_rate, hidden
        The local training recipe under audit.
    dp
        Record-level DP-SGD for every model, or ``None``.
    seed
        Seed of the pool, the halves and the training.
    """

    pool_rows: int = 1000
    shadows: int = 8
    targets: int = 2
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 3e-3
    hidden: tuple[int, ...] = (64,)
    dp: RecordDP | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.shadows < 8 or self.shadows % 2:
            raise ConfigError(f"LiRA needs an even number >= 8 of shadows, got {self.shadows}")
        if self.targets < 1:
            raise ConfigError("at least one target model is needed")
        if self.pool_rows < 50 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("pool_rows must be >= 50, epochs and batch_size >= 1")
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate must be positive")


@dataclass(frozen=True, kw_only=True)
class AttackScore:
    """ROC AUC and TPR at low FPR of one attack (``fpr_resolution``: 1 / non-members)."""

    auc: float
    tpr_at_1pct_fpr: float
    tpr_at_01pct_fpr: float
    fpr_resolution: float


@dataclass(frozen=True, kw_only=True)
class MembershipReport:
    """The audit's result: both attacks, and the epsilon of the training if DP was on."""

    loss_threshold: AttackScore
    lira: AttackScore
    epsilon: float | None
    delta: float | None
    models: int
    pool_rows: int
    train_accuracy: float
    test_accuracy: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "loss_threshold": vars(self.loss_threshold),
            "lira": vars(self.lira),
            "epsilon": self.epsilon,
            "delta": self.delta,
            "models": self.models,
            "pool_rows": self.pool_rows,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
        }


def _tpr_at(fpr: npt.NDArray[np.float64], tpr: npt.NDArray[np.float64], target: float) -> float:
    ok = fpr <= target
    return float(tpr[ok].max()) if ok.any() else 0.0


def _score(members: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64]) -> AttackScore:
    from sklearn.metrics import roc_auc_score, roc_curve  # lazy: few commands need sklearn

    fpr, tpr, _ = roc_curve(members, scores)
    return AttackScore(
        auc=float(roc_auc_score(members, scores)),
        tpr_at_1pct_fpr=_tpr_at(fpr, tpr, 0.01),
        tpr_at_01pct_fpr=_tpr_at(fpr, tpr, 0.001),
        fpr_resolution=1.0 / max(int((~members).sum()), 1),
    )


def _confidence(
    model: FailureMLP, x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """Logit of the probability of the true label: ``z`` for failures, ``-z`` otherwise."""
    model.eval()
    with torch.no_grad():
        z = model(torch.as_tensor(x)).numpy().astype(np.float64)
    out: npt.NDArray[np.float64] = np.where(y > 0.5, z, -z)
    return out


def membership_audit(
    frame: pd.DataFrame, encoder: FeatureEncoder, config: MembershipAuditConfig | None = None
) -> MembershipReport:
    """Run the loss-threshold and LiRA attacks against the local training of ``frame`` rows.

    Raises
    ------
    DataError
        When ``frame`` has fewer rows than the pool or lacks failures.
    """
    config = config or MembershipAuditConfig()
    if len(frame) < config.pool_rows:
        raise DataError(f"the audit needs {config.pool_rows} rows, got {len(frame)}")
    rng = np.random.default_rng(config.seed)
    pool = frame.iloc[rng.choice(len(frame), size=config.pool_rows, replace=False)]
    x, y = encoder.transform(pool), labels(pool)
    if not 0 < y.sum() < y.size:
        raise DataError("the audit pool needs failures and non-failures")
    models = config.shadows + config.targets
    masks = np.zeros((models, config.pool_rows), dtype=bool)
    for i in range(config.pool_rows):
        masks[rng.choice(config.shadows, size=config.shadows // 2, replace=False), i] = True
    for t in range(config.shadows, models):
        masks[t, rng.permutation(config.pool_rows)[: config.pool_rows // 2]] = True
    conf = np.zeros((models, config.pool_rows))
    train_acc, test_acc = [], []
    steps = 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: thread hand-offs cost more than they save
    try:
        for m in range(models):
            model = FailureMLP(encoder.width, config.hidden, seed=config.seed * 1000 + m)
            steps = train_local(
                model,
                x[masks[m]],
                y[masks[m]],
                epochs=config.epochs,
                batch_size=config.batch_size,
                learning_rate=config.learning_rate,
                weight_decay=0.0,
                dp=config.dp,
                seed=config.seed * 1000 + m,
            )
            conf[m] = _confidence(model, x, y)
            correct = conf[m] > 0
            train_acc.append(float(correct[masks[m]].mean()))
            test_acc.append(float(correct[~masks[m]].mean()))
    finally:
        torch.set_num_threads(threads)
    shadow, target = slice(0, config.shadows), slice(config.shadows, models)
    inside = np.where(masks[shadow], conf[shadow], np.nan)
    outside = np.where(~masks[shadow], conf[shadow], np.nan)
    mu_in, mu_out = np.nanmean(inside, axis=0), np.nanmean(outside, axis=0)
    sd_in = float(np.nanstd(inside - mu_in)) + 1e-6
    sd_out = float(np.nanstd(outside - mu_out)) + 1e-6
    lira_scores = norm.logpdf(conf[target], mu_in, sd_in) - norm.logpdf(
        conf[target], mu_out, sd_out
    )
    members = masks[target].ravel()
    loss_scores = conf[target].ravel()
    lira_scores = np.nan_to_num(lira_scores, nan=0.0)
    epsilon = None
    if config.dp is not None:
        epsilon = dp_epsilon(config.dp, steps=steps)
    return MembershipReport(
        loss_threshold=_score(members, loss_scores),
        lira=_score(members, lira_scores.ravel()),
        epsilon=epsilon,
        delta=None if config.dp is None else config.dp.delta,
        models=models,
        pool_rows=config.pool_rows,
        train_accuracy=float(np.mean(train_acc)),
        test_accuracy=float(np.mean(test_acc)),
    )
