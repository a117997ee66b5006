"""The trained failure classifier: model, encoder, decision threshold and model card together."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import DataError
from edgeshield.usecase._features import FeatureEncoder, labels
from edgeshield.usecase._metrics import FailureMetrics, best_f1_threshold, failure_metrics
from edgeshield.usecase._model import FailureMLP, TrainConfig, fit_mlp, positive_weight
from edgeshield.usecase._schema import DatasetSchema
from edgeshield.usecase._schema_load import default_schema

__all__ = ["FailureClassifier", "data_digest", "train_classifier"]


def data_digest(frame: pd.DataFrame, schema: DatasetSchema | None = None) -> str:
    """SHA-256 of the rows' canonical CSV form: names the exact training data in a model card.

    The canonical form holds the schema's columns (AI4I 2020 unless given) that the frame has,
    in schema order.
    """
    schema = schema or default_schema()
    headers = [c.header for c in schema.columns if c.header in frame.columns]
    canonical = frame.loc[:, headers].to_csv(index=False).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


@dataclass
class FailureClassifier:
    """A failure classifier ready for prediction, with everything its model card records."""

    model: FailureMLP
    encoder: FeatureEncoder
    threshold: float
    config: TrainConfig
    seed: int
    data_sha256: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Failure probability per row of a frame in UCI layout."""
        return self.model.predict_proba(self.encoder.transform(frame))

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
        """Failure decision (0/1) per row at the tuned threshold."""
        return (self.predict_proba(frame) >= self.threshold).astype(np.int64)

    def evaluate(self, frame: pd.DataFrame) -> FailureMetrics:
        """Failure metrics on labelled rows at the tuned threshold."""
        return failure_metrics(
            labels(frame, self.schema), self.predict_proba(frame), threshold=self.threshold
        )

    @property
    def schema(self) -> DatasetSchema:
        """The dataset schema the classifier reads rows by (its encoder's)."""
        return self.encoder.schema

    @property
    def model_digest(self) -> str:
        """The model digest (64 hex digits): what a bundle, licence and commitment name it by.

        It is :func:`edgeshield.vault.model_digest` of the weights, so a model directory and
        the bundle sealed from it show the same digest.
        """
        from edgeshield.vault import model_digest

        return model_digest(self.model.state_dict())

    def card(self) -> dict[str, Any]:
        """The JSON model card: schema, features, encoder, threshold, metrics, config, data hash.

        The card embeds its dataset schema and the schema's digest, so whoever loads the model
        reads rows the way it was trained on them, and the model digest of the weights.
        """
        return {
            "format": "edgeshield.failure-classifier/1",
            "model_digest": self.model_digest,
            "architecture": {
                "kind": "mlp",
                "in_features": self.model.in_features,
                "hidden": list(self.model.hidden),
            },
            "dataset_schema": self.schema.as_dict(),
            "dataset_schema_sha256": self.schema.digest,
            "features": list(self.schema.feature_names),
            "encoder": self.encoder.to_dict(),
            "threshold": self.threshold,
            "train_config": {
                "hidden": list(self.config.hidden),
                "bins": self.config.bins,
                "epochs": self.config.epochs,
                "batch_size": self.config.batch_size,
                "learning_rate": self.config.learning_rate,
                "weight_decay": self.config.weight_decay,
                "balance": self.config.balance,
                "validation_fraction": self.config.validation_fraction,
            },
            "seed": self.seed,
            "data_sha256": self.data_sha256,
            "metrics": self.metrics,
        }


def train_classifier(
    train: pd.DataFrame,
    config: TrainConfig | None = None,
    *,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
    schema: DatasetSchema | None = None,
) -> FailureClassifier:
    """Train the classifier on rows in ``schema``'s layout, deterministically under ``seed``.

    The schema defaults to AI4I 2020 (the failure classifier); any schema's positive label
    takes the place of "failure". A stratified share of the rows
    (``config.validation_fraction``) is held out to choose the decision threshold that
    maximizes positive-class F1; the rest trains the network.
    """
    config = config or TrainConfig()
    schema = schema or default_schema()
    y_all = labels(train, schema)
    if y_all.size < 10 or not (0 < y_all.sum() < y_all.size):
        raise DataError("training data needs at least 10 rows with both failures and non-failures")
    if config.validation_fraction > 0 and y_all.sum() >= 4:
        from sklearn.model_selection import train_test_split  # lazy: few commands need sklearn

        fit_rows, val_rows = train_test_split(
            train, test_size=config.validation_fraction, stratify=y_all, random_state=seed
        )
    else:
        fit_rows, val_rows = train, train
    encoder = FeatureEncoder.fit(fit_rows, bins=config.bins, schema=schema)
    x, y = encoder.transform(fit_rows), labels(fit_rows, schema)
    model = FailureMLP(x.shape[1], config.hidden, seed=seed)
    fit_mlp(
        model,
        x,
        y,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        pos_weight=positive_weight(y) if config.balance else 1.0,
        seed=seed,
        on_epoch=on_epoch,
    )
    threshold = best_f1_threshold(
        labels(val_rows, schema), model.predict_proba(encoder.transform(val_rows))
    )
    return FailureClassifier(
        model=model,
        encoder=encoder,
        threshold=threshold,
        config=config,
        seed=seed,
        data_sha256=data_digest(train, schema),
    )
