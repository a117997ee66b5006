"""Save and load the failure classifier: safetensors weights and a JSON card, never pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from edgeshield._files import read_small_file
from edgeshield.errors import ConfigError, ModelError, StorageError
from edgeshield.usecase._classifier import FailureClassifier
from edgeshield.usecase._features import FeatureEncoder
from edgeshield.usecase._model import FailureMLP, TrainConfig
from edgeshield.usecase._schema_load import schema_from_dict

__all__ = [
    "CARD_FILE",
    "WEIGHTS_FILE",
    "classifier_from_parts",
    "load_classifier",
    "save_classifier",
]

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model_card.json"
MAX_CARD_BYTES = 16 << 20
"""The most a model card may hold (the largest shipped one is a few hundred KB)."""


def save_classifier(classifier: FailureClassifier, directory: str | Path) -> Path:
    """Write ``model.safetensors`` and ``model_card.json`` into ``directory``; return it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in classifier.model.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
        (directory / CARD_FILE).write_text(json.dumps(classifier.card(), indent=2, sort_keys=True))
    except OSError as exc:
        raise StorageError(f"cannot write model to {directory}: {exc}") from exc
    return directory


def _whole(value: object) -> int:
    """A card's size: a JSON integer (``50.5`` became 50, ``true`` became 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {value!r}")
    return value


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A card naming a key twice (the last one won: a second ``threshold``) is refused."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        raise ValueError(f"repeated key(s) {', '.join(repeated)}")
    return dict(pairs)


def classifier_from_parts(
    state: dict[str, torch.Tensor], card: dict[str, Any]
) -> FailureClassifier:
    """Rebuild a classifier from its weights and model card (used by the vault and the guard).

    Raises
    ------
    ModelError
        The card is malformed or the weights do not match its architecture.
    """
    try:
        arch = card["architecture"]
        hidden = tuple(_whole(h) for h in arch["hidden"])
        in_features = _whole(arch["in_features"])
        tc = card["train_config"]
        config = TrainConfig(
            hidden=tuple(int(h) for h in tc["hidden"]),
            bins=int(tc["bins"]),
            epochs=int(tc["epochs"]),
            batch_size=int(tc["batch_size"]),
            learning_rate=float(tc["learning_rate"]),
            weight_decay=float(tc["weight_decay"]),
            balance=bool(tc["balance"]),
            validation_fraction=float(tc["validation_fraction"]),
        )
        threshold = card["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise TypeError(f"threshold must be a number, got {threshold!r}")  # "0.5", true
        threshold = float(threshold)
        seed = int(card["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model card is malformed: {exc!r}") from exc
    if not 0.0 <= threshold <= 1.0:  # NaN and 1e999 fail too
        raise ModelError(f"model card's threshold must lie in [0, 1], got {threshold}")
    # Sizes the network only from what the weights hold: a card naming 2e9 hidden units made
    # the model allocate hundreds of GB before the shapes were compared.
    dims = {int(d) for tensor in state.values() for d in tensor.shape}
    if not hidden or any(d not in dims for d in (*hidden, in_features)):
        raise ModelError("weights do not match the architecture in the model card")
    schema = None
    if "dataset_schema" in card:
        try:
            schema = schema_from_dict(card["dataset_schema"])
        except ConfigError as exc:
            raise ModelError(f"model card's dataset schema is invalid: {exc}") from exc
        if schema.digest != card.get("dataset_schema_sha256"):
            raise ModelError("model card's dataset schema does not match its digest")
    encoder = FeatureEncoder.from_dict(card.get("encoder", {}), schema)
    if encoder.width != in_features:
        raise ModelError("model card encoder does not match the model's input width")
    model = FailureMLP(in_features, hidden)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        raise ModelError("weights do not match the architecture in the model card")
    model.load_state_dict(state)
    model.eval()
    classifier = FailureClassifier(
        model=model,
        encoder=encoder,
        threshold=threshold,
        config=config,
        seed=seed,
        data_sha256=str(card.get("data_sha256", "")),
        metrics=dict(card.get("metrics", {})),
    )
    named = card.get("model_digest")
    if named is not None and named != classifier.model_digest:
        raise ModelError(
            f"the model card names model digest {str(named)[:16]}…, the weights are "
            f"{classifier.model_digest[:16]}…"
        )
    return classifier


def load_classifier(directory: str | Path) -> FailureClassifier:
    """Load a classifier written by :func:`save_classifier`.

    Raises
    ------
    StorageError
        A file is missing or unreadable.
    ModelError
        The files are not a valid EdgeShield failure classifier.
    """
    directory = Path(directory)
    weights, card_path = directory / WEIGHTS_FILE, directory / CARD_FILE
    for path in (weights, card_path):
        if not path.is_file():
            raise StorageError(f"no such file: {path}")
    try:
        card = json.loads(
            read_small_file(card_path, limit=MAX_CARD_BYTES), object_pairs_hook=_no_repeated_keys
        )
    except OSError as exc:
        raise StorageError(f"cannot read {card_path}: {exc.strerror or exc}") from exc
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, a 5,000-digit number
        raise ModelError(f"{card_path} is not valid JSON: {str(exc)[:200]}") from exc
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{weights} is not a valid safetensors file: {exc}") from exc
    if not isinstance(card, dict):
        raise ModelError(f"{card_path} is not a model card")
    return classifier_from_parts(state, card)
