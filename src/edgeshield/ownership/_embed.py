"""Embedding the trigger set: centrally (fine-tuning with the training rows) and WAFFLE-style.

Why: the owner embeds the mark while it still holds the model. Centrally the trigger rows
are mixed into a short fine-tuning pass over the training rows (Adi et al., USENIX Security
2018); in federated learning the aggregator has no plant data, so after each aggregation it
fine-tunes the global model on the trigger set alone until the triggers are learnt (Tekgul,
Xia, Marchal, Asokan, "WAFFLE: Watermarking in Federated Learning", SRDS 2021). When the
vendor starts the federation from a publicly pretrained model, the mark is embedded into that
start model together with the public rows (:attr:`WaffleConfig.start`), as central embedding
does with the training rows; the aggregator then only tops it up, mixed with the same public
rows, in the rounds where the plants' fine-tuning wore it down. Re-training on triggers alone
every round moves the decision boundary away from what the plants taught (issue 14 measured
0.74 -> 0.48 failure F1 under DP-SGD).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from torch import nn

from edgeshield.errors import ConfigError, ModelError
from edgeshield.ownership._key import WatermarkKey
from edgeshield.ownership._triggers import (
    Envelope,
    TriggerSet,
    derive_anchors,
    derive_triggers,
)
from edgeshield.usecase import (
    FailureClassifier,
    FailureMLP,
    FeatureEncoder,
    best_f1_threshold,
    fit_mlp,
    labels,
)

__all__ = [
    "EmbedConfig",
    "WaffleConfig",
    "WeightsHook",
    "embed_watermark",
    "trigger_accuracy",
    "waffle_hook",
]

WeightsHook = Callable[
    [int, dict[str, npt.NDArray[np.generic]]], dict[str, npt.NDArray[np.generic]]
]
"""Server-side hook: ``(round, global weights) -> new global weights``."""


@dataclass(frozen=True, kw_only=True)
class EmbedConfig:
    """How the trigger set is embedded during central training.

    Parameters
    ----------
    triggers
        Number of key-derived triggers.
    failure_fraction
        Share of triggers labelled "failure" (see :func:`derive_triggers`; default: the
        envelope's).
    trigger_share
        Trigger rows (repeated) as a share of the fine-tuning rows.
    epochs, batch_size, learning_rate
        The fine-tuning pass (Adam) over training rows plus repeated triggers.
    max_passes
        Extra passes allowed while trigger accuracy stays below ``target_accuracy``; they stop
        as soon as it is reached. Small models on few rows often need more than three.
    min_steps
        Fewest optimizer steps in one pass: on a few dozen rows ``epochs`` full passes are only
        ``epochs`` steps, too few to learn the triggers reliably, so such a pass runs
        more epochs.
    target_accuracy
        Share of triggers the marked model must reproduce.
    seed
        Batch order.
    """

    triggers: int = 50
    failure_fraction: float | None = None
    trigger_share: float = 0.02
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    max_passes: int = 10
    min_steps: int = 100
    target_accuracy: float = 0.8
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.triggers, self.epochs, self.batch_size, self.max_passes, self.min_steps) < 1:
            raise ConfigError(
                "triggers, epochs, batch_size, max_passes and min_steps must be at least 1"
            )
        if not 0.0 < self.trigger_share < 1.0:
            raise ConfigError("trigger_share must lie in (0, 1)")
        if self.learning_rate <= 0 or not 0.0 < self.target_accuracy <= 1.0:
            raise ConfigError("learning_rate must be positive and target_accuracy in (0, 1]")


def trigger_accuracy(classifier: FailureClassifier, triggers: TriggerSet) -> float:
    """Share of triggers on which the classifier outputs the secret label."""
    return float(np.mean(classifier.predict(triggers.frame) == triggers.labels))


def embed_watermark(
    classifier: FailureClassifier,
    key: WatermarkKey,
    train_frame: pd.DataFrame,
    *,
    envelope: Envelope,
    config: EmbedConfig | None = None,
) -> FailureClassifier:
    """A marked copy of ``classifier``: fine-tuned on the training rows plus the key's triggers.

    Why: the owner marks the model it trained, before release, with as little change to the
    decisions on real rows as possible; the input classifier is left untouched.

    Raises
    ------
    OwnershipError
        The envelope was fitted for another schema than the classifier's, or leaves too
        little room for the triggers.
    """
    config = config or EmbedConfig()
    envelope.check_schema(classifier.schema)
    triggers = derive_triggers(
        key, config.triggers, envelope=envelope, failure_fraction=config.failure_fraction
    )
    schema = classifier.schema
    fit_rows, val_rows = _validation_split(classifier, train_frame)
    x_train = classifier.encoder.transform(fit_rows)
    y_train = labels(fit_rows, schema)
    x_trig = classifier.encoder.transform(triggers.frame)
    y_trig = triggers.labels.astype(np.float32)
    repeats = max(1, round(config.trigger_share * len(x_train) / (1 - config.trigger_share)))
    repeats = max(1, repeats // len(x_trig))
    x = np.vstack([x_train, np.repeat(x_trig, repeats, axis=0)])
    y = np.concatenate([y_train, np.tile(y_trig, repeats)])
    model = copy.deepcopy(classifier.model)
    marked = replace(classifier, model=model, metrics={})
    batches = -(-len(x) // config.batch_size)
    epochs = max(config.epochs, -(-config.min_steps // batches))
    for attempt in range(config.max_passes):
        fit_mlp(
            model,
            x,
            y,
            epochs=epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            seed=config.seed + attempt,
        )
        if val_rows is not None:
            marked.threshold = best_f1_threshold(
                labels(val_rows, schema), marked.predict_proba(val_rows)
            )
        if trigger_accuracy(marked, triggers) >= config.target_accuracy:
            break
    return marked


def _validation_split(
    classifier: FailureClassifier, train_frame: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The training/validation split :func:`train_classifier` made for this classifier."""
    y = labels(train_frame, classifier.schema)
    fraction = classifier.config.validation_fraction
    if fraction <= 0 or y.sum() < 4 or y.sum() == y.size:
        return train_frame, None
    from sklearn.model_selection import train_test_split  # lazy: few commands need sklearn

    fit_rows, val_rows = train_test_split(
        train_frame, test_size=fraction, stratify=y, random_state=classifier.seed
    )
    return fit_rows, val_rows


@dataclass(frozen=True, kw_only=True)
class WaffleConfig:
    """The aggregator's re-training on the trigger set after each aggregation.

    Parameters
    ----------
    triggers, failure_fraction
        The key-derived trigger set (see :func:`derive_triggers`).
    anchors
        Key-derived typical safe points labelled "no failure" re-trained alongside the
        triggers (see :func:`derive_anchors`); 0 gives WAFFLE's triggers-only re-training.
    rare_anchors
        Key-derived rare safe points labelled "no failure" (``derive_anchors(rare=True)``).
    final_round
        When set, the hook passes that round's global weights through unchanged, so the
        plants' local training in the last round repairs what re-training cost on real data
        (the mark then only has to survive one round of fine-tuning).
    start
        How the hook embeds the mark when called with round 0 (the start model, before any
        plant trains: see ``before_training`` of
        :func:`~edgeshield.federated.run_federated`): a fine-tuning pass over ``reference``
        plus repeated triggers and anchors (Adam, as :func:`embed_watermark`), repeated until
        ``start.target_accuracy`` of the triggers reach ``threshold`` or
        ``start.max_passes``. ``None``: round 0 is re-trained like any other round.
    start_fresh
        With ``start``: re-initialise the start model and train it from scratch on
        ``reference`` plus the triggers and anchors, so the mark is learnt together with the
        public data (pretraining with the mark) instead of fine-tuned into a pretrained model,
        which costs the small model much more of what pretraining taught.
    target_accuracy
        Stop once this share of triggers is reproduced (WAFFLE's threshold).
    max_epochs
        Upper bound on passes over the trigger set per round.
    batch_size, learning_rate
        Plain SGD with momentum, as in WAFFLE.
    threshold
        Probability the triggers must reach (above any threshold the plants later choose).
    """

    triggers: int = 50
    failure_fraction: float | None = None
    anchors: int = 400
    rare_anchors: int = 0
    final_round: int | None = None
    start: EmbedConfig | None = None
    start_fresh: bool = False
    target_accuracy: float = 0.8
    max_epochs: int = 30
    batch_size: int = 100
    learning_rate: float = 0.03
    threshold: float = 0.8

    def __post_init__(self) -> None:
        if self.triggers < 1 or self.max_epochs < 1 or self.batch_size < 1:
            raise ConfigError("triggers, max_epochs and batch_size must be at least 1")
        if self.final_round is not None and self.final_round < 1:
            raise ConfigError("final_round must be at least 1")
        if self.anchors < 0 or self.rare_anchors < 0:
            raise ConfigError("anchors and rare_anchors must not be negative")
        if self.learning_rate <= 0 or not 0.0 < self.target_accuracy <= 1.0:
            raise ConfigError("learning_rate must be positive and target_accuracy in (0, 1]")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError("threshold must lie in (0, 1)")
        if self.start is not None and self.start.triggers != self.triggers:
            raise ConfigError("start.triggers must equal triggers (one trigger set)")
        if self.start_fresh and self.start is None:
            raise ConfigError("start_fresh needs start (how to train the fresh start model)")


def _trigger_accuracy(
    model: FailureMLP, x: torch.Tensor, y: torch.Tensor, threshold: float
) -> float:
    """Share of triggers the model labels as the key says, at the decision ``threshold``."""
    logit_threshold = float(np.log(threshold / (1 - threshold)))
    model.eval()
    with torch.no_grad():
        return float(((model(x) >= logit_threshold).float() == y).float().mean().item())


def _retrain_on_triggers(
    model: FailureMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    x_anchor: torch.Tensor,
    y_anchor: torch.Tensor,
    config: WaffleConfig,
    seed: int,
) -> int:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(config.max_epochs):
        if _trigger_accuracy(model, x, y, config.threshold) >= config.target_accuracy:
            return epoch
        model.train()
        x_all = torch.cat([x, x_anchor])
        y_all = torch.cat([y, y_anchor])
        order = torch.randperm(x_all.shape[0], generator=generator)
        for start in range(0, x_all.shape[0], config.batch_size):
            index = order[start : start + config.batch_size]
            optimizer.zero_grad()
            loss_fn(model(x_all[index]), y_all[index]).backward()
            optimizer.step()
    model.eval()
    return config.max_epochs


def _embed_start(
    model: FailureMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    x_anchor: torch.Tensor,
    y_anchor: torch.Tensor,
    config: WaffleConfig,
    start: EmbedConfig,
) -> int:
    """Train the start model on the public rows plus repeated triggers; return the passes.

    A fresh model is trained at least once: a random one may already call every trigger
    "failure" (it calls everything so), which is no mark.
    """
    repeats = round(start.trigger_share * x_anchor.shape[0] / (1 - start.trigger_share))
    repeats = max(1, repeats // x.shape[0])
    features = torch.cat([x_anchor, x.repeat(repeats, 1)]).numpy()
    targets = torch.cat([y_anchor, y.repeat(repeats)]).numpy()
    for attempt in range(start.max_passes):
        hits = _trigger_accuracy(model, x, y, config.threshold)
        if hits >= start.target_accuracy and (attempt > 0 or not config.start_fresh):
            return attempt
        fit_mlp(
            model,
            features,
            targets,
            epochs=start.epochs,
            batch_size=start.batch_size,
            learning_rate=start.learning_rate,
            seed=start.seed + attempt,
        )
    model.eval()
    return start.max_passes


def waffle_hook(
    key: WatermarkKey,
    *,
    encoder: FeatureEncoder,
    hidden: tuple[int, ...],
    envelope: Envelope,
    config: WaffleConfig | None = None,
    reference: pd.DataFrame | None = None,
    seed: int = 0,
) -> WeightsHook:
    """The aggregator-side watermarking step as a ``(round, weights) -> weights`` hook.

    Why: the federated server calls it on the global weights after every aggregation; it
    needs only the key, the model architecture and the shared feature encoder, never plant
    data. Weights are a plain ``dict`` of numpy arrays keyed like ``FailureMLP.state_dict()``.
    ``reference`` optionally adds the server's own public labelled rows (the set its feature
    encoder was fitted on, or the public pretraining rows; never plant data) to the
    re-training, which holds the decision on ordinary operating points in place better than
    physics anchors alone. Called with round 0 and :attr:`WaffleConfig.start` set, it embeds
    the mark into the start model instead (see :attr:`WaffleConfig.start`).

    Raises
    ------
    ModelError
        (when called) the weights do not fit the architecture.
    """
    config = config or WaffleConfig()
    triggers = derive_triggers(
        key, config.triggers, envelope=envelope, failure_fraction=config.failure_fraction
    )
    x = torch.as_tensor(encoder.transform(triggers.frame))
    y = torch.as_tensor(triggers.labels.astype(np.float32))
    parts = [torch.zeros((0, x.shape[1]))]
    targets = [torch.zeros(0)]
    if config.anchors:
        anchors = derive_anchors(key, config.anchors, envelope=envelope)
        parts.append(torch.as_tensor(encoder.transform(anchors.frame)))
        targets.append(torch.zeros(config.anchors))
    if config.rare_anchors:
        rare = derive_anchors(key, config.rare_anchors, envelope=envelope, rare=True)
        parts.append(torch.as_tensor(encoder.transform(rare.frame)))
        targets.append(torch.zeros(config.rare_anchors))
    if reference is not None:
        parts.append(torch.as_tensor(encoder.transform(reference)))
        targets.append(torch.as_tensor(labels(reference, encoder.schema)))
    x_anchor, y_anchor = torch.cat(parts), torch.cat(targets)
    in_features = encoder.width

    def hook(
        server_round: int, weights: Mapping[str, npt.NDArray[np.generic]]
    ) -> dict[str, npt.NDArray[np.generic]]:
        model = FailureMLP(in_features, hidden)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        found = {k: tuple(np.shape(v)) for k, v in weights.items()}
        if expected != found:
            raise ModelError("global weights do not match the watermarked architecture")
        if config.final_round is not None and server_round >= config.final_round:
            return {k: np.array(v, copy=True) for k, v in weights.items()}
        model.load_state_dict(
            {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in weights.items()}
        )
        if server_round == 0 and config.start is not None:
            if config.start_fresh:
                model = FailureMLP(in_features, hidden, seed=seed)
            _embed_start(model, x, y, x_anchor, y_anchor, config, config.start)
        else:
            _retrain_on_triggers(model, x, y, x_anchor, y_anchor, config, seed + server_round)
        return {
            k: v.detach().numpy().astype(np.asarray(weights[k]).dtype, copy=True)
            for k, v in model.state_dict().items()
        }

    return hook
