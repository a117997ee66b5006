"""Watermark removal attacks on a stolen failure classifier, and their scoring.

Why: a watermark is only evidence if it survives what a thief does to a stolen model without
ruining it. The attacks follow the watermark-robustness SoK (Lukas, Jiang, Li, Kerschbaum,
"SoK: How Robust is Image Classification Deep Neural Network Watermarking?", IEEE S&P 2022),
adapted to a tabular MLP: fine-tuning (last layer or all layers, on 10 % or 33 % of the
data), re-initialising and re-training the last layer, global magnitude pruning, int8 weight
quantization, and label-only distillation into a fresh model by an attacker holding a third
of the data. An attack succeeds only if the mark is no longer detected AND the stolen model
loses at most 5 percentage points of accuracy.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import torch
from torch import nn

from edgeshield.errors import ConfigError, DataError
from edgeshield.ownership import NullDistribution, WatermarkKey, verify_ownership
from edgeshield.usecase import (
    MACHINE_FAILURE,
    DatasetSchema,
    FailureClassifier,
    best_f1_threshold,
    fit_mlp,
    labels,
    train_classifier,
)

__all__ = [
    "RemovalAttack",
    "RemovalKind",
    "RemovalOutcome",
    "removal_suite",
    "remove_watermark",
    "run_removal_suite",
]


class RemovalKind(enum.Enum):
    """Families of removal attacks."""

    FINE_TUNE_LAST = "fine-tune last layer"
    FINE_TUNE_ALL = "fine-tune all layers"
    REINIT_LAST = "re-init + retrain last layer"
    PRUNE = "magnitude pruning"
    QUANTIZE_INT8 = "int8 quantization"
    DISTILL = "label-only distillation"


_NEEDS_DATA = {
    RemovalKind.FINE_TUNE_LAST,
    RemovalKind.FINE_TUNE_ALL,
    RemovalKind.REINIT_LAST,
    RemovalKind.DISTILL,
}


@dataclass(frozen=True, kw_only=True)
class RemovalAttack:
    """One removal attack.

    Parameters
    ----------
    kind
        The attack family.
    data_fraction
        Share of the attacker's data pool used (fine-tuning, re-training, distillation).
    sparsity
        Share of weights set to zero (pruning only).
    epochs, learning_rate
        Training schedule of the attacks that train.
    """

    kind: RemovalKind
    data_fraction: float = 0.1
    sparsity: float = 0.5
    epochs: int = 10
    learning_rate: float = 3e-3

    def __post_init__(self) -> None:
        if not 0.0 < self.data_fraction <= 1.0:
            raise ConfigError("data_fraction must lie in (0, 1]")
        if not 0.0 <= self.sparsity < 1.0:
            raise ConfigError("sparsity must lie in [0, 1)")
        if self.epochs < 1 or self.learning_rate <= 0:
            raise ConfigError("epochs must be at least 1 and learning_rate positive")

    @property
    def name(self) -> str:
        """Short human-readable name, e.g. ``fine-tune all layers (33 % data)``."""
        if self.kind is RemovalKind.PRUNE:
            return f"{self.kind.value} {self.sparsity:.0%}"
        if self.kind in _NEEDS_DATA:
            return f"{self.kind.value} ({self.data_fraction:.0%} data)"
        return str(self.kind.value)


def removal_suite(*, epochs: int = 10) -> tuple[RemovalAttack, ...]:
    """The standard suite: every attack of the issue; the training ones with 10 % and 33 % data."""
    attacks: list[RemovalAttack] = []
    for kind in (RemovalKind.FINE_TUNE_LAST, RemovalKind.FINE_TUNE_ALL, RemovalKind.REINIT_LAST):
        for fraction in (0.1, 0.33):
            attacks.append(RemovalAttack(kind=kind, data_fraction=fraction, epochs=epochs))
    for sparsity in (0.1, 0.3, 0.5, 0.7, 0.9):
        attacks.append(RemovalAttack(kind=RemovalKind.PRUNE, sparsity=sparsity))
    attacks.append(RemovalAttack(kind=RemovalKind.QUANTIZE_INT8))
    attacks.append(
        RemovalAttack(kind=RemovalKind.DISTILL, data_fraction=1 / 3, epochs=max(epochs, 50))
    )
    return tuple(attacks)


def _sample(pool: pd.DataFrame, fraction: float, seed: int, schema: DatasetSchema) -> pd.DataFrame:
    if fraction >= 1.0:
        return pool
    y = labels(pool, schema)
    stratify = y if 2 <= y.sum() <= y.size - 2 else None
    from sklearn.model_selection import train_test_split  # lazy: few commands need sklearn

    part: pd.DataFrame = train_test_split(
        pool, train_size=fraction, stratify=stratify, random_state=seed
    )[0]
    if len(part) < 10:
        raise DataError("the attacker's data share holds fewer than 10 rows")
    return part


def _last_linear(model: nn.Module) -> nn.Linear:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return layers[-1]


def _train(stolen: FailureClassifier, data: pd.DataFrame, attack: RemovalAttack, seed: int) -> None:
    fit_mlp(
        stolen.model,
        stolen.encoder.transform(data),
        labels(data, stolen.schema),
        epochs=attack.epochs,
        batch_size=128,
        learning_rate=attack.learning_rate,
        seed=seed,
    )


def _prune(model: nn.Module, sparsity: float) -> None:
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    magnitudes = torch.cat([w.detach().abs().flatten() for w in weights])
    count = int(sparsity * magnitudes.numel())
    if count == 0:
        return
    cutoff = torch.kthvalue(magnitudes, count).values
    with torch.no_grad():
        for w in weights:
            w[w.abs() <= cutoff] = 0.0


def _quantize_int8(model: nn.Module) -> None:
    """Symmetric per-tensor int8 weights (what dynamic quantization stores), de-quantized."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                scale = m.weight.abs().max().clamp_min(1e-12) / 127.0
                m.weight.copy_(torch.clamp(torch.round(m.weight / scale), -127, 127) * scale)


def remove_watermark(
    classifier: FailureClassifier,
    attack: RemovalAttack,
    attacker_data: pd.DataFrame,
    *,
    seed: int = 0,
) -> FailureClassifier:
    """Apply ``attack`` to a copy of the stolen ``classifier``; the original is untouched.

    ``attacker_data`` is the thief's pool of labelled plant rows; attacks that train use
    ``attack.data_fraction`` of it and then re-tune the decision threshold for failure F1 on
    those rows. Distillation ignores its labels and asks the stolen model.

    Raises
    ------
    DataError
        The attacker's share of the data is too small to train on.
    """
    stolen = replace(classifier, model=copy.deepcopy(classifier.model), metrics={})
    kind = attack.kind
    if kind is RemovalKind.PRUNE:
        _prune(stolen.model, attack.sparsity)
    elif kind is RemovalKind.QUANTIZE_INT8:
        _quantize_int8(stolen.model)
    elif kind is RemovalKind.DISTILL:
        data = _sample(attacker_data, attack.data_fraction, seed, classifier.schema).copy()
        data[MACHINE_FAILURE] = classifier.predict(data)
        if data[MACHINE_FAILURE].sum() < 4:
            raise DataError("the stolen model labels too few of the attacker's rows as failures")
        config = replace(classifier.config, epochs=attack.epochs)
        return train_classifier(data, config, seed=seed)
    else:
        data = _sample(attacker_data, attack.data_fraction, seed, classifier.schema)
        last = _last_linear(stolen.model)
        if kind is not RemovalKind.FINE_TUNE_ALL:
            for parameter in stolen.model.parameters():
                parameter.requires_grad_(False)
            for parameter in last.parameters():
                parameter.requires_grad_(True)
        if kind is RemovalKind.REINIT_LAST:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                last.reset_parameters()
        _train(stolen, data, attack, seed)
        for parameter in stolen.model.parameters():
            parameter.requires_grad_(True)
        stolen.threshold = best_f1_threshold(
            labels(data, stolen.schema), stolen.predict_proba(data)
        )
    stolen.model.eval()
    return stolen


@dataclass(frozen=True, kw_only=True)
class RemovalOutcome:
    """One attack's effect: whether the mark is still detected, and what the model lost."""

    attack: str
    p_value: float
    model_p_value: float
    agreement: float
    detected: bool
    accuracy: float
    f1: float
    accuracy_drop: float
    f1_drop: float
    succeeded: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def run_removal_suite(
    classifier: FailureClassifier,
    key: WatermarkKey,
    *,
    null: NullDistribution,
    attacker_data: pd.DataFrame,
    test_frame: pd.DataFrame,
    attacks: Sequence[RemovalAttack] | None = None,
    fpr: float = 1e-3,
    max_accuracy_drop: float = 0.05,
    seed: int = 0,
) -> list[RemovalOutcome]:
    """Run every attack on the marked ``classifier`` and score it against the ownership test.

    An attack succeeds when the test no longer detects the mark at ``fpr`` and the stolen
    model's test accuracy fell by at most ``max_accuracy_drop`` (absolute).
    """
    base = classifier.evaluate(test_frame)
    outcomes = []
    for i, attack in enumerate(attacks if attacks is not None else removal_suite()):
        stolen = remove_watermark(classifier, attack, attacker_data, seed=seed + i)
        result = verify_ownership(stolen, key, null=null, fpr=fpr)
        metrics = stolen.evaluate(test_frame)
        drop = base.accuracy - metrics.accuracy
        outcomes.append(
            RemovalOutcome(
                attack=attack.name,
                p_value=result.p_value,
                model_p_value=result.model_p_value,
                agreement=result.agreement,
                detected=result.owned,
                accuracy=metrics.accuracy,
                f1=metrics.f1,
                accuracy_drop=drop,
                f1_drop=base.f1 - metrics.f1,
                succeeded=(not result.owned) and drop <= max_accuracy_drop,
            )
        )
    return outcomes
