"""``edgeshield fl`` commands that need no Flower runtime: certificates, node keys, the app."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from cryptography import x509

from edgeshield.cli import run
from edgeshield.federated import config_from_dict


def test_certs_node_keys_and_app(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fl", "certs", "--out", str(tmp_path), "--host", "10.0.0.5"]) == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert run(["fl", "node-keys", "--out", str(tmp_path), "--name", "plant-1"]) == 0
    assert (tmp_path / "plant-1.pub").read_text().startswith("ecdsa-sha2-nistp256 ")
    app = tmp_path / "app"
    assert (
        run(["fl", "app", "--out", str(app), "--run-dir", str(tmp_path / "run"), "--plants", "3"])
        == 0
    )
    project = tomllib.loads((app / "pyproject.toml").read_text())
    assert (
        project["tool"]["flwr"]["app"]["components"]["serverapp"] == "edgeshield_fl_app:serverapp"
    )
    config = config_from_dict(json.loads(project["tool"]["flwr"]["app"]["config"]["config-json"]))
    assert config.plants == 3
    assert config.secure


def test_bad_options_exit_with_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["fl", "run", "--out", str(tmp_path), "--aggregator", "krum", "--plants", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1
    assert err[0].startswith("error: krum on top of SecAgg+ would silently be FedAvg")


def test_the_deployment_config_round_trips_and_rejects_garbage(tmp_path: Path) -> None:
    from edgeshield.errors import ConfigError
    from edgeshield.federated import (
        Aggregator,
        FederatedConfig,
        MaliciousPlant,
        RecordDP,
        write_flower_app,
    )
    from edgeshield.redteam import SignFlip

    config = FederatedConfig(
        plants=6, aggregator=Aggregator.MEDIAN, bucket_size=2, record_dp=RecordDP()
    )
    assert config_from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="not a federated configuration"):
        config_from_dict({"plants": 3})
    bad = FederatedConfig(plants=3, malicious=(MaliciousPlant(plant=0, behaviour=SignFlip()),))
    with pytest.raises(ConfigError, match="simulation-only"):
        write_flower_app(tmp_path, bad, tmp_path / "run")
