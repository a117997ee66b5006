"""Watermark removal attacks: each does what it says, and the suite scores them honestly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from edgeshield.errors import ConfigError, DataError
from edgeshield.ownership import (
    EmbedConfig,
    NullDistribution,
    NullModelKind,
    SensorEnvelope,
    WatermarkKey,
    calibrate_null,
    embed_watermark,
    train_null_models,
)
from edgeshield.redteam import (
    RemovalAttack,
    RemovalKind,
    removal_suite,
    remove_watermark,
    run_removal_suite,
)
from edgeshield.usecase import (
    FailureClassifier,
    FleetConfig,
    TrainConfig,
    make_fleet,
    stratified_split,
    train_classifier,
)

KEY = WatermarkKey.from_bytes(b"\x21" * 32)
FPR = 0.2
"""The false-positive rate the 4 null models of this module support (1/(N+1))."""


@pytest.fixture(scope="module")
def world() -> tuple[FailureClassifier, pd.DataFrame, pd.DataFrame, NullDistribution]:
    fleet = make_fleet(FleetConfig(plants=3, total_rows=3_000), seed=1)
    train, test = stratified_split(fleet.combined(), seed=1)
    envelope = SensorEnvelope.fit(train)
    clean = train_classifier(train, TrainConfig(epochs=10), seed=1)
    marked = embed_watermark(clean, KEY, train, envelope=envelope, config=EmbedConfig(triggers=30))
    kinds = (NullModelKind.LOGISTIC, NullModelKind.RANDOM_FOREST)
    nulls = train_null_models(fleet.frames, 4, kinds=kinds, seed=3)
    null = calibrate_null(KEY, nulls, envelope=envelope, n=30, fpr=FPR)
    return marked, train, test, null


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight.detach() for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.9])
def test_pruning_zeroes_the_share_of_weights(world: tuple, sparsity: float) -> None:
    marked, train, _, _ = world
    before = marked.model_digest
    pruned = remove_watermark(
        marked, RemovalAttack(kind=RemovalKind.PRUNE, sparsity=sparsity), train
    )
    weights = torch.cat([w.flatten() for w in _weights(pruned.model)])
    assert float((weights == 0).float().mean()) == pytest.approx(sparsity, abs=0.01)
    assert marked.model_digest == before, "the attack must not touch the original"


def test_int8_quantization_leaves_at_most_255_levels(world: tuple) -> None:
    marked, train, test, _ = world
    quantized = remove_watermark(marked, RemovalAttack(kind=RemovalKind.QUANTIZE_INT8), train)
    for w in _weights(quantized.model):
        assert torch.unique(w).numel() <= 255
    assert abs(quantized.evaluate(test).accuracy - marked.evaluate(test).accuracy) < 0.02


@pytest.mark.parametrize("kind", [RemovalKind.FINE_TUNE_LAST, RemovalKind.REINIT_LAST])
def test_last_layer_attacks_leave_the_body_alone(world: tuple, kind: RemovalKind) -> None:
    marked, train, _, _ = world
    stolen = remove_watermark(marked, RemovalAttack(kind=kind, data_fraction=0.33, epochs=2), train)
    old, new = _weights(marked.model), _weights(stolen.model)
    assert all(torch.equal(a, b) for a, b in zip(old[:-1], new[:-1], strict=True))
    assert not torch.equal(old[-1], new[-1])
    assert all(p.requires_grad for p in stolen.model.parameters())


def test_fine_tune_all_changes_every_layer(world: tuple) -> None:
    marked, train, _, _ = world
    attack = RemovalAttack(kind=RemovalKind.FINE_TUNE_ALL, data_fraction=0.1, epochs=2)
    stolen = remove_watermark(marked, attack, train)
    assert not any(
        torch.equal(a, b)
        for a, b in zip(_weights(marked.model), _weights(stolen.model), strict=True)
    )


def test_distillation_trains_a_fresh_model_from_labels(world: tuple) -> None:
    marked, train, test, _ = world
    attack = RemovalAttack(kind=RemovalKind.DISTILL, data_fraction=1 / 3, epochs=20)
    student = remove_watermark(marked, attack, train)
    assert student.model is not marked.model
    agreement = np.mean(student.predict(test) == marked.predict(test))
    assert agreement > 0.9


def test_suite_scores_detection_and_accuracy(world: tuple) -> None:
    marked, train, test, null = world
    attacks = (
        RemovalAttack(kind=RemovalKind.PRUNE, sparsity=0.1),
        RemovalAttack(kind=RemovalKind.PRUNE, sparsity=0.99),
    )
    light, heavy = run_removal_suite(
        marked, KEY, null=null, attacker_data=train, test_frame=test, attacks=attacks, fpr=FPR
    )
    assert light.detected
    assert not light.succeeded
    assert light.p_value == pytest.approx(1 / 5)
    assert light.model_p_value < 1e-3
    assert heavy.succeeded == ((not heavy.detected) and heavy.accuracy_drop <= 0.05)
    assert set(light.as_dict()) >= {"attack", "p_value", "accuracy", "succeeded"}


def test_standard_suite_covers_the_issue() -> None:
    names = [a.name for a in removal_suite()]
    assert len(names) == len(set(names)) == 13
    assert "magnitude pruning 90%" in names
    assert "fine-tune all layers (33% data)" in names


@pytest.mark.parametrize(
    "kwargs", [{"data_fraction": 0.0}, {"sparsity": 1.0}, {"epochs": 0}, {"learning_rate": 0.0}]
)
def test_bad_attack_configs(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RemovalAttack(kind=RemovalKind.PRUNE, **kwargs)  # type: ignore[arg-type]


def test_too_little_attacker_data(world: tuple) -> None:
    marked, train, _, _ = world
    attack = RemovalAttack(kind=RemovalKind.FINE_TUNE_LAST, data_fraction=0.001)
    with pytest.raises((DataError, ValueError)):
        remove_watermark(marked, attack, train.iloc[:200])
