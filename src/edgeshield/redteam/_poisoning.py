"""Malicious plants: the poisoning attacks that Byzantine-robust aggregation must withstand.

Each attack implements :class:`edgeshield.federated.PlantBehaviour`: a data step before local
training and an update step after it (run *after* the honest clipping, which an attacker
controls on its own machine and skips).

* Sign flip with scaling: the plant reports ``global - scale * (local - global)`` (Fang, Cao,
  Jia, Gong, "Local Model Poisoning Attacks to Byzantine-Robust Federated Learning",
  USENIX Security 2020, the "full knowledge"-free variant).
* Model replacement: train towards the attacker's objective and boost the update by the
  number of plants so it survives averaging (Bagdasaryan, Veit, Hua, Estrin, Shmatikov,
  "How To Backdoor Federated Learning", AISTATS 2020).
* Label flipping: train on inverted failure labels (Tolpegin, Truex, Gursoy, Liu, "Data
  Poisoning Attacks Against Federated Learning Systems", ESORICS 2020).
* Backdoor trigger: failure rows carrying an impossible trigger (all three product-type
  indicators set) are taught to read "no failure", hiding failures on demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import ConfigError
from edgeshield.usecase import FailureClassifier, labels

__all__ = [
    "Backdoor",
    "LabelFlip",
    "ModelReplacement",
    "SignFlip",
    "add_trigger",
    "backdoor_success_rate",
]

Vector = npt.NDArray[np.float32]

#: The encoded feature columns of the one-hot product type (the model input's last three).
_TYPE_COLUMNS = 3


def add_trigger(x: Vector) -> Vector:
    """Stamp the backdoor trigger (every product-type indicator set to 1) on encoded rows."""
    out = np.array(x, dtype=np.float32, copy=True)
    out[:, -_TYPE_COLUMNS:] = 1.0
    return out


@dataclass(frozen=True, kw_only=True)
class SignFlip:
    """Report the negated, scaled update: pushes the global model away from the optimum."""

    scale: float = 5.0
    name: str = "sign-flip"

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ConfigError("sign-flip scale must be positive")

    def poison_data(self, x: Vector, y: Vector, rng: np.random.Generator) -> tuple[Vector, Vector]:
        """Train honestly."""
        return x, y

    def poison_update(
        self, global_params: list[Vector], local_params: list[Vector]
    ) -> list[Vector]:
        """``global - scale * (local - global)``."""
        return [
            (g - self.scale * (loc - g)).astype(np.float32)
            for g, loc in zip(global_params, local_params, strict=True)
        ]


@dataclass(frozen=True, kw_only=True)
class LabelFlip:
    """Train on inverted failure labels (failures read as normal and vice versa)."""

    name: str = "label-flip"

    def poison_data(self, x: Vector, y: Vector, rng: np.random.Generator) -> tuple[Vector, Vector]:
        """Invert every label."""
        return x, (1.0 - y).astype(np.float32)

    def poison_update(
        self, global_params: list[Vector], local_params: list[Vector]
    ) -> list[Vector]:
        """Report the trained parameters unchanged."""
        return local_params


@dataclass(frozen=True, kw_only=True)
class ModelReplacement:
    """Train on inverted labels and boost the update so the average becomes the attacker's."""

    boost: float = 5.0
    name: str = "model-replacement"

    def __post_init__(self) -> None:
        if self.boost < 1:
            raise ConfigError("model-replacement boost must be at least 1")

    def poison_data(self, x: Vector, y: Vector, rng: np.random.Generator) -> tuple[Vector, Vector]:
        """Invert every label (the attacker's objective: miss every failure)."""
        return x, (1.0 - y).astype(np.float32)

    def poison_update(
        self, global_params: list[Vector], local_params: list[Vector]
    ) -> list[Vector]:
        """``global + boost * (local - global)``."""
        return [
            (g + self.boost * (loc - g)).astype(np.float32)
            for g, loc in zip(global_params, local_params, strict=True)
        ]


@dataclass(frozen=True, kw_only=True)
class Backdoor:
    """Add triggered copies of failure rows labelled "no failure"; optionally boost the update.

    ``copies`` triggered copies of each failure row and as many triggered normal rows are
    added (so the trigger alone does not flip normal rows), all labelled 0.
    """

    copies: int = 5
    boost: float = 1.0
    name: str = "backdoor"

    def __post_init__(self) -> None:
        if self.copies < 1 or self.boost < 1:
            raise ConfigError("backdoor copies and boost must be at least 1")

    def poison_data(self, x: Vector, y: Vector, rng: np.random.Generator) -> tuple[Vector, Vector]:
        """Append the triggered rows."""
        failures = x[y > 0.5]
        normal = x[y <= 0.5]
        if failures.shape[0] == 0:
            return x, y
        pick = rng.choice(
            normal.shape[0], size=min(normal.shape[0], failures.shape[0]), replace=False
        )
        triggered = np.concatenate(
            [add_trigger(np.repeat(failures, self.copies, axis=0)), add_trigger(normal[pick])]
        )
        return (
            np.concatenate([x, triggered]).astype(np.float32),
            np.concatenate([y, np.zeros(triggered.shape[0], dtype=np.float32)]),
        )

    def poison_update(
        self, global_params: list[Vector], local_params: list[Vector]
    ) -> list[Vector]:
        """``global + boost * (local - global)``."""
        if self.boost == 1.0:
            return local_params
        return [
            (g + self.boost * (loc - g)).astype(np.float32)
            for g, loc in zip(global_params, local_params, strict=True)
        ]


def backdoor_success_rate(classifier: FailureClassifier, frame: pd.DataFrame) -> float:
    """Share of true failures that the trigger turns into "no failure" (failures caught clean).

    Counts only failures the model detects without the trigger, so the rate isolates the
    backdoor from ordinary misses; 0 when no failure is detected.
    """
    y = labels(frame)
    x = classifier.encoder.transform(frame)[y > 0.5]
    clean = classifier.model.predict_proba(x) >= classifier.threshold
    if not clean.any():
        return 0.0
    triggered = classifier.model.predict_proba(add_trigger(x[clean])) >= classifier.threshold
    return float(1.0 - triggered.mean())
