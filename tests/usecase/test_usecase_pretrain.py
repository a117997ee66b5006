"""Public pretraining: the shipped UCI file (digest-checked), generated rows, and the card."""

from __future__ import annotations

import numpy as np
import pytest

from edgeshield.errors import ConfigError
from edgeshield.federated import FederatedConfig, config_from_dict, server_encoder
from edgeshield.usecase import (
    FailureMLP,
    PublicPretraining,
    PublicSource,
    labels,
    pretrain,
    public_data,
)
from edgeshield.usecase._pretrain import AI4I_SHA256


def test_shipped_ai4i_file_is_the_published_one() -> None:
    data = public_data(PublicPretraining(), seed=0)
    card = data.card()
    assert card["sha256"] == AI4I_SHA256
    assert card["rows"] == 10_000
    assert card["size_bytes"] == 522_045
    assert int(labels(data.train).sum() + labels(data.calibration).sum()) == 339
    assert len(data.calibration) == 3000


def test_generated_source_pretrains_a_model_that_ranks_failures() -> None:
    config = PublicPretraining(
        source=PublicSource.GENERATED, rows=2000, epochs=20, learning_rate=1e-2
    )
    data = public_data(config, seed=1)
    assert data.card()["source"] == "generated"
    assert data.rows == 2000
    encoder = server_encoder(FederatedConfig(reference_rows=500))
    model = FailureMLP(encoder.width, (16,), seed=0)
    losses = pretrain(model, encoder, data, config, seed=0)
    assert len(losses) == 20
    assert losses[-1] < losses[0]
    scores = model.predict_proba(encoder.transform(data.calibration))
    y = labels(data.calibration).astype(bool)
    assert np.mean(scores[y]) > 2 * np.mean(scores[~y])


@pytest.mark.parametrize(
    "kwargs",
    [{"epochs": 0}, {"learning_rate": 0.0}, {"calibration_fraction": 0.9}, {"rows": 10}],
)
def test_bad_pretraining_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        PublicPretraining(**kwargs)  # type: ignore[arg-type]


def test_pretraining_round_trips_through_the_deployment_config() -> None:
    config = FederatedConfig(pretraining=PublicPretraining(source=PublicSource.GENERATED))
    assert config_from_dict(config.to_dict()) == config
    assert config_from_dict(FederatedConfig(pretraining=None).to_dict()).pretraining is None
