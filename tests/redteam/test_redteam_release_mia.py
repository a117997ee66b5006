"""Membership inference on what plants send besides the model: leaks without DP, chance with."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from edgeshield.errors import ConfigError
from edgeshield.federated import FederatedConfig, evaluate_release, fit_release, server_encoder
from edgeshield.redteam import (
    ReleaseGameConfig,
    release_membership_game,
    release_membership_score,
)
from edgeshield.usecase import FailureMLP, GeneratorConfig, fit_mlp, generate, labels

GAME = ReleaseGameConfig(trials=400, validation_rows=400, seed=2)


@pytest.fixture(scope="module")
def pool() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    """A plant's rows scored by a global model the attacker also holds."""
    encoder = server_encoder(FederatedConfig(reference_rows=500))
    public = generate(GeneratorConfig(rows=1500), seed=11)
    model = FailureMLP(encoder.width, (16,), seed=0)
    fit_mlp(
        model,
        encoder.transform(public),
        labels(public),
        epochs=3,
        batch_size=64,
        learning_rate=1e-2,
        pos_weight=5.0,
    )
    plant = generate(GeneratorConfig(rows=2500, ambient_offset_k=1.0), seed=12)
    return model.predict_proba(encoder.transform(plant)), labels(plant)


def test_counts_and_metrics_leak_membership_without_dp(pool: tuple) -> None:
    """The attacker who decodes the unnoised counts beats chance clearly (the leak is real)."""
    score = release_membership_game(*pool, private=False, config=GAME)
    assert score.auc > 0.6


def test_dp_release_sits_at_chance(pool: tuple) -> None:
    """Under DP the plant's release carries nothing about its rows: AUC and TPR at chance."""
    score = release_membership_game(*pool, private=True, config=GAME)
    assert score.auc <= 0.55
    assert score.tpr_at_1pct_fpr <= 0.02


def test_dp_release_is_the_same_whatever_the_rows(pool: tuple) -> None:
    """Honest plant: two different validation sets give byte-identical private payloads."""
    scores, y = pool
    first = evaluate_release("p", y[:300], scores[:300], threshold=0.5, private=True)
    second = evaluate_release("p", y[300:900], scores[300:900], threshold=0.3, private=True)
    assert first == second
    assert fit_release("p", rows=10, steps=3, private=True) == fit_release(
        "p", rows=999, steps=77, private=True
    )
    assert release_membership_score(first[2], 0.7) == 0.0


def test_game_rejects_a_pool_without_failures() -> None:
    with pytest.raises(ConfigError):
        release_membership_game(
            np.full(500, 0.1), np.zeros(500, dtype=np.float32), private=False, config=GAME
        )
