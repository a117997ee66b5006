"""Embedding: central fine-tuning with the triggers, and the WAFFLE aggregator hook."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from edgeshield.errors import ConfigError, ModelError
from edgeshield.ownership import (
    EmbedConfig,
    SensorEnvelope,
    WaffleConfig,
    WatermarkKey,
    derive_triggers,
    trigger_accuracy,
    waffle_hook,
)
from edgeshield.usecase import FailureClassifier, FailureMLP

TRIGGERS = 30


def test_embedding_marks_a_copy_and_keeps_accuracy(
    clean: FailureClassifier,
    marked: FailureClassifier,
    key: WatermarkKey,
    envelope: SensorEnvelope,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    triggers = derive_triggers(key, TRIGGERS, envelope=envelope)
    assert trigger_accuracy(clean, triggers) <= 0.1
    assert trigger_accuracy(marked, triggers) >= 0.8
    assert clean.model_digest != marked.model_digest
    before, after = clean.evaluate(split[1]), marked.evaluate(split[1])
    assert after.accuracy >= before.accuracy - 0.01


def test_waffle_hook_marks_global_weights_without_plant_data(
    clean: FailureClassifier, key: WatermarkKey, envelope: SensorEnvelope
) -> None:
    hidden = clean.model.hidden
    hook = waffle_hook(key, encoder=clean.encoder, hidden=hidden, envelope=envelope)
    weights = {k: v.numpy().copy() for k, v in clean.model.state_dict().items()}
    out = hook(1, weights)
    assert set(out) == set(weights)
    assert all(out[k].dtype == weights[k].dtype and out[k].shape == weights[k].shape for k in out)
    assert np.array_equal(weights["net.0.weight"], clean.model.state_dict()["net.0.weight"])
    model = FailureMLP(clean.encoder.width, hidden)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in out.items()})
    triggers = derive_triggers(key, WaffleConfig().triggers, envelope=envelope)
    probabilities = model.predict_proba(clean.encoder.transform(triggers.frame))
    assert np.mean(probabilities >= 0.5) >= WaffleConfig().target_accuracy


def test_waffle_hook_rejects_foreign_weights(
    clean: FailureClassifier, key: WatermarkKey, envelope: SensorEnvelope
) -> None:
    hook = waffle_hook(key, encoder=clean.encoder, hidden=(8,), envelope=envelope)
    weights = {k: v.numpy() for k, v in clean.model.state_dict().items()}
    with pytest.raises(ModelError, match="architecture"):
        hook(1, weights)


@pytest.mark.parametrize(
    "make",
    [
        lambda: EmbedConfig(triggers=0),
        lambda: EmbedConfig(trigger_share=1.0),
        lambda: EmbedConfig(learning_rate=0.0),
        lambda: WaffleConfig(anchors=-1),
        lambda: WaffleConfig(rare_anchors=-1),
        lambda: WaffleConfig(final_round=0),
        lambda: WaffleConfig(threshold=1.0),
        lambda: WaffleConfig(target_accuracy=0.0),
        lambda: WaffleConfig(triggers=50, start=EmbedConfig(triggers=20)),
        lambda: WaffleConfig(start_fresh=True),
    ],
)
def test_bad_configs(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]


def test_waffle_final_round_passes_weights_through(
    clean: FailureClassifier,
    key: WatermarkKey,
    envelope: SensorEnvelope,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    config = WaffleConfig(final_round=3, rare_anchors=20)
    hook = waffle_hook(
        key,
        encoder=clean.encoder,
        hidden=clean.model.hidden,
        envelope=envelope,
        config=config,
        reference=split[0].iloc[:300],
    )
    weights = {k: v.numpy().copy() for k, v in clean.model.state_dict().items()}
    unchanged = hook(3, weights)
    assert all(np.array_equal(unchanged[k], weights[k]) for k in weights)
    changed = hook(2, weights)
    assert not all(np.array_equal(changed[k], weights[k]) for k in weights)


@pytest.mark.parametrize("fresh", [False, True], ids=["fine-tuned", "pretrained-with-mark"])
def test_waffle_embeds_into_the_start_and_tops_up_only_a_worn_mark(
    fresh: bool,
    clean: FailureClassifier,
    key: WatermarkKey,
    envelope: SensorEnvelope,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    start = EmbedConfig(
        triggers=TRIGGERS,
        epochs=15 if fresh else 5,
        learning_rate=3e-3,
        trigger_share=0.02 if fresh else 0.04,
        target_accuracy=0.6,
    )
    config = WaffleConfig(
        triggers=TRIGGERS,
        start=start,
        start_fresh=fresh,
        threshold=0.5,
        target_accuracy=0.6,
        learning_rate=0.003,
        max_epochs=3,
    )
    hook = waffle_hook(
        key,
        encoder=clean.encoder,
        hidden=clean.model.hidden,
        envelope=envelope,
        config=config,
        reference=split[0],
    )
    weights = {k: v.numpy().copy() for k, v in clean.model.state_dict().items()}
    marked_start = hook(0, weights)
    model = FailureMLP(clean.encoder.width, clean.model.hidden)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in marked_start.items()})
    triggers = derive_triggers(key, TRIGGERS, envelope=envelope)
    probabilities = model.predict_proba(clean.encoder.transform(triggers.frame))
    assert np.mean(probabilities >= config.threshold) >= start.target_accuracy
    marked = dataclasses.replace(clean, model=model)
    before, after = clean.evaluate(split[1]), marked.evaluate(split[1])
    assert after.accuracy >= before.accuracy - 0.01
    # The mark holds, so the aggregator leaves the global model alone (no drift) ...
    kept = hook(1, marked_start)
    assert all(np.array_equal(kept[k], marked_start[k]) for k in marked_start)
    # ... and re-trains it only once the plants wore it down (here: the unmarked model).
    assert not all(np.array_equal(v, weights[k]) for k, v in hook(1, weights).items())
