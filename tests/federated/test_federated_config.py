"""FederatedConfig validation: each bad combination is a ConfigError with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from edgeshield.errors import ConfigError
from edgeshield.federated import (
    Aggregator,
    ClientDP,
    FederatedConfig,
    MaliciousPlant,
    RecordDP,
)
from edgeshield.redteam import SignFlip


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"plants": 1}, "at least 2 plants"),
        ({"rounds": 0}, "at least 1"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"lr_decay": 1.5}, "lr_decay"),
        ({"server_momentum": 1.0}, "server_momentum"),
        ({"secagg_threshold": 0.0}, "fractions"),
        ({"aggregator": Aggregator.KRUM}, "silently be FedAvg"),
        ({"secure": True, "bucket_size": 1, "aggregator": Aggregator.MEDIAN}, "at least 2"),
        ({"bucket_size": 9}, "bucket_size"),
        ({"client_dp": ClientDP(), "secure": False, "aggregator": Aggregator.KRUM}, "FedAvg"),
        ({"dropout": 5}, "dropout"),
        ({"update_clip_norm": -1.0}, "update_clip_norm"),
        ({"trim_fraction": 0.5}, "trim_fraction"),
        ({"test_fraction": 0.9}, "test_fraction"),
    ],
)
def test_bad_configs_raise(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        FederatedConfig(**kwargs)


def test_malicious_plants_must_be_distinct_and_in_range() -> None:
    with pytest.raises(ConfigError, match="distinct"):
        FederatedConfig(plants=3, malicious=(MaliciousPlant(plant=3, behaviour=SignFlip()),))
    twice = (MaliciousPlant(plant=0, behaviour=SignFlip()),) * 2
    with pytest.raises(ConfigError, match="distinct"):
        FederatedConfig(plants=3, malicious=twice)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: RecordDP(noise_multiplier=0.0),
        lambda: ClientDP(clipping_norm=0.0),
        lambda: RecordDP(delta=1.0),
    ],
)
def test_bad_dp_settings_raise(factory: Any) -> None:
    with pytest.raises(ConfigError):
        factory()


def test_defaults_are_secure_and_the_config_serializes() -> None:
    config = FederatedConfig(
        malicious=(MaliciousPlant(plant=0, behaviour=SignFlip()),),
        aggregator=Aggregator.MEDIAN,
        bucket_size=2,
    )
    assert config.secure
    assert config.clip_norm == 5.0
    data = config.to_dict()
    assert data["aggregator"] == "median"
    assert data["malicious"] == [{"plant": 0, "behaviour": "sign-flip"}]
