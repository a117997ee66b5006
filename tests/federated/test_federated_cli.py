"""``edgeshield fl`` commands that need no Flower runtime: certificates, node keys, the app."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from cryptography import x509

from edgeshield.cli import run
from edgeshield.federated import PlantRoster, config_from_dict


def test_certs_node_keys_and_app(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fl", "certs", "--out", str(tmp_path), "--host", "10.0.0.5"]) == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert run(["fl", "node-keys", "--out", str(tmp_path), "--name", "plant-1"]) == 0
    assert (tmp_path / "plant-1.pub").read_text().startswith("ecdsa-sha2-nistp256 ")
    roster = tmp_path / "roster.json"
    PlantRoster().with_plant("plant-1", (tmp_path / "plant-1.pub").read_bytes()).save(roster)
    app = tmp_path / "app"
    args = ["fl", "app", "--out", str(app), "--run-dir", str(tmp_path / "run")]
    assert run([*args, "--roster", str(roster), "--plants", "2"]) == 1
    assert "error: the plant roster holds 1 plants, the run needs 2" in capsys.readouterr().err
    for i in (2, 3):
        run(["fl", "node-keys", "--out", str(tmp_path), "--name", f"plant-{i}"])
        plant = PlantRoster.load(roster).with_plant(
            f"plant-{i}", (tmp_path / f"plant-{i}.pub").read_bytes()
        )
        plant.save(roster)
    assert run([*args, "--roster", str(roster), "--plants", "3"]) == 0
    project = tomllib.loads((app / "pyproject.toml").read_text())
    assert (
        project["tool"]["flwr"]["app"]["components"]["serverapp"] == "edgeshield_fl_app:serverapp"
    )
    app_config = project["tool"]["flwr"]["app"]["config"]
    config = config_from_dict(json.loads(app_config["config-json"]))
    assert config.plants == 3
    assert config.secure
    carried = PlantRoster.from_dict(json.loads(app_config["roster-json"]))
    assert carried == PlantRoster.load(roster)

    # the deployment path takes the same DP-SGD recipe as `fl run`, sampling rate included
    dp_app = tmp_path / "dp-app"
    dp_args = ["fl", "app", "--out", str(dp_app), "--run-dir", str(tmp_path / "dp-run")]
    dp_args += ["--roster", str(roster), "--plants", "3", "--dp", "0.8", "--dp-clip", "0.5"]
    capsys.readouterr()
    assert run([*dp_args, "--dp-rate", "0.9"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: sample_rate must lie in (0, 0.5], got 0.9"]
    assert not dp_app.exists()
    assert run([*dp_args, "--dp-rate", "0.05"]) == 0
    dp_project = tomllib.loads((dp_app / "pyproject.toml").read_text())
    dp_config = config_from_dict(
        json.loads(dp_project["tool"]["flwr"]["app"]["config"]["config-json"])
    )
    assert dp_config.record_dp is not None
    assert (dp_config.record_dp.noise_multiplier, dp_config.record_dp.max_grad_norm) == (0.8, 0.5)
    assert dp_config.record_dp.sample_rate == 0.05

    # ... and the same server optimizer options
    opt_app = tmp_path / "opt-app"
    opt_args = ["fl", "app", "--out", str(opt_app), "--run-dir", str(tmp_path / "opt-run")]
    opt_args += ["--roster", str(roster), "--plants", "3", "--server-opt", "yogi"]
    capsys.readouterr()
    assert run([*opt_args, "--server-lr", "0"]) == 1
    assert capsys.readouterr().err.strip() == "error: server_lr must lie in (0, 10], got 0.0"
    assert run([*dp_args, "--proximal-mu", "0.1"]) == 1
    assert "proximal_mu (FedProx) applies to the plants' non-DP training only" in (
        capsys.readouterr().err
    )
    assert run([*opt_args, "--rounds", "3", "--release-average", "4"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: release_average must lie in [1, rounds=3], got 4"
    )
    assert not opt_app.exists()
    opt_args += ["--proximal-mu", "0.02", "--rounds", "3", "--release-average", "2"]
    assert run([*opt_args, "--server-lr", "0.03", "--server-tau", "0.01"]) == 0
    opt_project = tomllib.loads((opt_app / "pyproject.toml").read_text())
    opt_config = config_from_dict(
        json.loads(opt_project["tool"]["flwr"]["app"]["config"]["config-json"])
    )
    assert opt_config.server_optimizer.value == "yogi"
    assert (opt_config.server_lr, opt_config.server_tau) == (0.03, 0.01)
    assert opt_config.proximal_mu == 0.02
    assert opt_config.release_average == 2


def test_register_refuses_a_taken_plant_id_before_touching_the_superlink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rogue key claiming a registered plant's id: one error line, the roster unchanged."""
    run(["fl", "node-keys", "--out", str(tmp_path), "--name", "plant-1"])
    run(["fl", "node-keys", "--out", str(tmp_path), "--name", "rogue"])
    roster = tmp_path / "roster.json"
    PlantRoster().with_plant("plant-1", (tmp_path / "plant-1.pub").read_bytes()).save(roster)
    before = roster.read_bytes()
    capsys.readouterr()
    code = run(
        [
            *("fl", "register", str(tmp_path / "rogue.pub"), "--plant-id", "plant-1"),
            *("--roster", str(roster), "--superlink", "nowhere"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == ["error: plant plant-1 is already in the roster; a plant has one key"]
    assert roster.read_bytes() == before
    code = run(
        [
            *("fl", "app", "--out", str(tmp_path / "a"), "--run-dir", str(tmp_path / "r")),
            *("--roster", str(tmp_path / "none.json")),
        ]
    )
    assert code == 1
    assert "error: no plant roster at" in capsys.readouterr().err


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
        write_flower_app(tmp_path, bad, tmp_path / "run", roster=PlantRoster())


@pytest.mark.parametrize(
    ("argv", "files"),
    [
        (["fl", "certs"], ["ca.crt", "server.pem", "server.key"]),
        (["fl", "node-keys", "--name", "plant-1"], ["plant-1.key", "plant-1.pub"]),
    ],
)
def test_a_second_ca_or_node_key_needs_force(
    argv: list[str], files: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new CA or node key silently replacing the old one would cut every plant (or this one)
    off the federation: the second run refuses in one line and leaves the files as they were."""
    assert run([*argv, "--out", str(tmp_path)]) == 0
    before = {name: (tmp_path / name).read_bytes() for name in files}
    capsys.readouterr()
    assert run([*argv, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1
    assert "exists; pass --force" in err
    assert {name: (tmp_path / name).read_bytes() for name in files} == before
    assert run([*argv, "--out", str(tmp_path), "--force"]) == 0
    assert all((tmp_path / name).read_bytes() != before[name] for name in files)


def test_fl_run_replaces_a_run_directory_only_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    small = ["--plants", "3", "--rounds", "1", "--epochs", "1", "--rows", "1500"]
    args = ["fl", "run", "--out", str(out), *small, "--engine", "in-process", "--pretrain", "none"]
    assert run(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: run directory {out} exists; pass --force to replace it"]
    assert [p.name for p in out.iterdir()] == ["summary.json"]
    assert run([*args, "--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["rounds"]
    assert (out / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging left behind


def test_reproducible_dp_repeats_a_run_and_needs_dp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--reproducible-dp`` seeds DP-SGD's noise: the same seed gives the same model; without
    it two runs differ (fresh noise); without ``--dp`` the flag is refused, nothing written."""
    small = ["--plants", "3", "--rounds", "1", "--epochs", "1", "--rows", "1500"]
    base = ["fl", "run", *small, "--engine", "in-process", "--pretrain", "none", "--dp", "1.0"]
    digests = []
    for name, extra in [("a", ["--reproducible-dp"]), ("b", ["--reproducible-dp"]), ("c", [])]:
        assert run([*base, *extra, "--out", str(tmp_path / name)]) == 0
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        digests.append(summary["rounds"][-1]["digest"])
    assert digests[0] == digests[1] != digests[2]
    capsys.readouterr()
    no_dp = ["fl", "run", *small, "--engine", "in-process", "--reproducible-dp"]
    assert run([*no_dp, "--out", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --reproducible-dp goes with --dp (it seeds DP-SGD's noise)"]
    assert not (tmp_path / "d").exists()


def test_following_a_run_on_an_unreachable_superlink_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fl submit`` follows its run through one in-process Control API client (no ``flwr ls``
    process per poll); a SuperLink that stops answering is a FederatedError naming the run."""
    from edgeshield.cli._fl import _RunStatus
    from edgeshield.errors import FederatedError

    (tmp_path / "config.toml").write_text(
        '[superlink]\ndefault = "local"\n\n[superlink.local]\n'
        'address = "127.0.0.1:1"\ninsecure = true\n'
    )
    monkeypatch.setenv("FLWR_HOME", str(tmp_path))
    with _RunStatus(None) as follow, pytest.raises(FederatedError, match="status of run 7"):
        follow.status(7)
    monkeypatch.setenv("FLWR_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(FederatedError, match="cannot follow the run"), _RunStatus("missing"):
        pass
