"""FederatedConfig validation: each bad combination is a ConfigError with a clear message."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeshield.cli import run
from edgeshield.errors import ConfigError
from edgeshield.federated import (
    Aggregator,
    ClientDP,
    FederatedConfig,
    MaliciousPlant,
    RecordDP,
    quiet_flower,
)
from edgeshield.redteam import SignFlip


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"plants": 1}, "at least 2 plants"),
        ({"rounds": 0}, "at least 1"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"lr_decay": 1.5}, "lr_decay"),
        ({"release_average": 0}, "release_average"),
        ({"rounds": 3, "release_average": 4}, "release_average"),
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
        plants=6,
        aggregator=Aggregator.MEDIAN,
        bucket_size=2,
    )
    assert config.secure
    assert config.clip_norm == 5.0
    data = config.to_dict()
    assert data["aggregator"] == "median"
    assert data["malicious"] == [{"plant": 0, "behaviour": "sign-flip"}]


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"plants": 5, "bucket_size": 2, "aggregator": Aggregator.MEDIAN}, "at least 3 inputs"),
        ({"plants": 4, "bucket_size": 2, "aggregator": Aggregator.TRIMMED_MEAN}, "at least 3"),
        ({"plants": 4, "bucket_size": 2, "aggregator": Aggregator.KRUM}, "krum needs n >= 2f"),
        ({"plants": 6, "secure": False, "aggregator": Aggregator.BULYAN}, "bulyan needs"),
    ],
)
def test_robust_rules_that_cannot_hold_are_refused_at_the_config(
    fields: dict[str, Any], match: str
) -> None:
    """The one place every entry point (run_federated, fl run, fl app, the ServerApp) passes."""
    with pytest.raises(ConfigError, match=match):
        FederatedConfig(**fields)


def test_the_two_bucket_median_of_the_issue_is_refused_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            "fl",
            "run",
            "--out",
            str(tmp_path / "r"),
            "--plants",
            "5",
            "--aggregator",
            "median",
            "--bucket-size",
            "2",
            "--malicious",
            "1",
            "--attack",
            "sign-flip",
            "--rounds",
            "1",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1
    assert "median needs at least 3 inputs" in err


def test_quiet_flower_puts_the_environment_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A library call must not change global state for its caller (issue 21)."""
    monkeypatch.setenv("RAY_DEDUP_LOGS", "1")
    monkeypatch.delenv("FLWR_TELEMETRY_ENABLED", raising=False)
    level = logging.getLogger("flwr").level
    with quiet_flower():
        assert os.environ["RAY_DEDUP_LOGS"] == "0"
        assert os.environ["FLWR_TELEMETRY_ENABLED"] == "0"
        assert logging.getLogger("flwr").level == logging.WARNING
    assert os.environ["RAY_DEDUP_LOGS"] == "1"
    assert "FLWR_TELEMETRY_ENABLED" not in os.environ
    assert logging.getLogger("flwr").level == level


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: RecordDP(noise_multiplier=float("nan")), "noise_multiplier"),
        (lambda: RecordDP(max_grad_norm=float("inf")), "max_grad_norm"),
        (lambda: FederatedConfig(learning_rate=float("nan")), "learning_rate"),
        (lambda: FederatedConfig(secagg_clipping_range=float("inf")), "secagg_clipping_range"),
    ],
)
def test_nan_and_infinite_settings_are_refused(make: Callable[[], object], name: str) -> None:
    """`fl run --dp=nan` once passed every `x <= 0` check and started training."""
    with pytest.raises(ConfigError, match=f"{name} must be finite"):
        make()
