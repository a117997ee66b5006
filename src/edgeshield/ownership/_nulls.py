"""Independently trained null models: the population the ownership test is calibrated on.

Why: "how often does a model that was not derived from ours reproduce our trigger labels?"
can only be answered by training such models. The population varies what an honest competitor
could vary: the seed, the plant whose data trains it, the network width, and the model family
(logistic regression, gradient boosting, random forest from scikit-learn).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import ConfigError, DataError
from edgeshield.ownership._stats import PredictFn
from edgeshield.usecase import (
    DatasetSchema,
    TrainConfig,
    best_f1_threshold,
    default_schema,
    feature_matrix,
    labels,
)
from edgeshield.usecase import train_classifier as _train_mlp

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin

__all__ = ["NullModelKind", "SklearnFailureModel", "train_null_model", "train_null_models"]


class NullModelKind(enum.Enum):
    """Model families in the null population."""

    MLP = "mlp"
    MLP_WIDE = "mlp-wide"
    MLP_NARROW = "mlp-narrow"
    LOGISTIC = "logistic"
    GRADIENT_BOOSTING = "gradient-boosting"
    RANDOM_FOREST = "random-forest"


_HIDDEN = {
    NullModelKind.MLP: (32,),
    NullModelKind.MLP_WIDE: (64, 64),
    NullModelKind.MLP_NARROW: (16,),
}


@dataclass
class SklearnFailureModel:
    """A scikit-learn failure classifier with an F1-tuned threshold, label-only like ours."""

    estimator: ClassifierMixin
    threshold: float
    schema: DatasetSchema = field(default_factory=default_schema)
    """The dataset schema whose rows and features it reads (AI4I 2020 unless given)."""

    def predict_proba(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Positive-class probability per row (in the schema's layout)."""
        proba = self.estimator.predict_proba(feature_matrix(frame, self.schema))
        return np.asarray(proba[:, 1], dtype=np.float64)

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
        """Failure decision (0/1) per row."""
        return (self.predict_proba(frame) >= self.threshold).astype(np.int64)


def _estimator(kind: NullModelKind, seed: int) -> ClassifierMixin:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind is NullModelKind.LOGISTIC:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if kind is NullModelKind.GRADIENT_BOOSTING:
        return HistGradientBoostingClassifier(max_iter=150, random_state=seed)
    return RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=seed, n_jobs=1)


def train_null_model(
    kind: NullModelKind,
    frame: pd.DataFrame,
    *,
    epochs: int = 30,
    seed: int = 0,
    schema: DatasetSchema | None = None,
) -> PredictFn:
    """Train one independent classifier of ``kind`` on ``frame``; return its predict.

    ``schema`` is the rows' dataset schema (AI4I 2020 unless given).

    Raises
    ------
    DataError
        The rows hold too few positives to train on.
    """
    schema = schema or default_schema()
    y = labels(frame, schema)
    if y.sum() < 4 or y.sum() == y.size:
        raise DataError("null model training needs at least 4 failures and some non-failures")
    if kind in _HIDDEN:
        config = TrainConfig(hidden=_HIDDEN[kind], epochs=epochs)
        return _train_mlp(frame, config, seed=seed, schema=schema).predict
    from sklearn.model_selection import train_test_split  # lazy: few commands need sklearn

    fit_rows, val_rows = train_test_split(frame, test_size=0.2, stratify=y, random_state=seed)
    estimator = _estimator(kind, seed)
    estimator.fit(feature_matrix(fit_rows, schema), labels(fit_rows, schema))
    model = SklearnFailureModel(estimator=estimator, threshold=0.5, schema=schema)
    model.threshold = best_f1_threshold(labels(val_rows, schema), model.predict_proba(val_rows))
    return model.predict


def train_null_models(
    sources: Mapping[str, pd.DataFrame],
    count: int,
    *,
    kinds: tuple[NullModelKind, ...] = tuple(NullModelKind),
    epochs: int = 30,
    seed: int = 0,
    on_model: Callable[[int, str], None] | None = None,
    schema: DatasetSchema | None = None,
) -> dict[str, PredictFn]:
    """Train ``count`` null models, cycling through model kinds, data sources and seeds.

    Why: variety is the point; model ``i`` is of kind ``kinds[i % len(kinds)]``, trained on
    source ``i % len(sources)`` with seed ``seed + i``. Names say all three. ``on_model`` is
    called with the number done and the name after each model (progress for long runs).
    ``schema`` is the sources' dataset schema (AI4I 2020 unless given).

    Raises
    ------
    ConfigError
        ``count`` is below 2, or no sources or kinds are given.
    """
    if count < 2 or not sources or not kinds:
        raise ConfigError("need at least 2 null models, one data source and one kind")
    names = list(sources)
    models: dict[str, PredictFn] = {}
    for i in range(count):
        kind = kinds[i % len(kinds)]
        source = names[(i // len(kinds) + i) % len(names)]
        name = f"{kind.value}/{source}/seed{seed + i}"
        models[name] = train_null_model(
            kind, sources[source], epochs=epochs, seed=seed + i, schema=schema
        )
        if on_model is not None:
            on_model(i + 1, name)
    return models
