"""``edgeshield guard``: seal, add-client, and serve refusing to start, through ``run``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from guard_kit import SECRET, Kit, write_deployment

from edgeshield.cli import run
from edgeshield.guard import ClientRegistry, OutputTier, hash_api_key
from edgeshield.usecase import save_classifier
from edgeshield.vault import DeviceKey


def test_add_client_stores_only_the_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clients = tmp_path / "clients.json"
    code = run(
        ["guard", "add-client", "--clients", str(clients), "--id", "plant-7", "--tier", "rounded"]
    )
    out = capsys.readouterr().out
    assert code == 0
    key = out.split("api key (shown once): ")[1].split()[0]
    text = clients.read_text()
    assert key not in text
    assert hash_api_key(key) in text
    spec = ClientRegistry.load(clients).authenticate(key)
    assert spec is not None
    assert spec.tier is OutputTier.ROUNDED
    assert run(["guard", "add-client", "--clients", str(clients), "--id", "plant-7"]) == 1
    assert "defined twice" in capsys.readouterr().err


def test_seal_puts_the_card_in_the_bundle(
    kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_classifier(kit.classifier, tmp_path / "model")
    kit.owner.save(tmp_path / "owner.pem")
    kit.device.public_key().save(tmp_path / "device.pub.pem")
    out = tmp_path / "m.bundle"
    keys = ["--owner-key", str(tmp_path / "owner.pem")]
    keys += ["--recipient", str(tmp_path / "device.pub.pem")]
    argv = ["guard", "seal", str(tmp_path / "model"), "--out", str(out), *keys]
    assert run(argv) == 0, capsys.readouterr().err
    from edgeshield.guard import card_from_metadata
    from edgeshield.vault import inspect_bundle

    assert card_from_metadata(inspect_bundle(out).metadata) == json.loads(
        (tmp_path / "model" / "model_card.json").read_text()
    )
    before = out.read_bytes()
    assert run(argv) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1
    assert "exists; pass --force" in err
    assert out.read_bytes() == before  # not replaced silently
    assert run([*argv, "--force"]) == 0
    assert out.read_bytes() != before


@pytest.mark.parametrize("case", ["wrong device", "weak secret", "no clients", "bad licence"])
def test_serve_refuses_to_start_with_one_clear_line(
    kit: Kit,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    deployment = write_deployment(kit, tmp_path, tiers={"a": OutputTier.LABEL_ONLY})
    monkeypatch.setenv("EDGESHIELD_GUARD_WATERMARK_SECRET", SECRET.decode())
    needle = {
        "wrong device": "not sealed for this device",
        "weak secret": "watermark_secret",
        "no clients": "no API clients",
        "bad licence": "guard cannot start",
    }[case]
    if case == "wrong device":
        DeviceKey.generate().save(tmp_path / "device.pem", overwrite=True)
    elif case == "weak secret":
        monkeypatch.setenv("EDGESHIELD_GUARD_WATERMARK_SECRET", "changethis")
    elif case == "no clients":
        (tmp_path / "clients.json").unlink()
    else:
        (tmp_path / "licence.txt").write_text("garbage")
    for name in (
        "BUNDLE",
        "DEVICE_KEY",
        "OWNER_PUBLIC_KEY",
        "LICENCE",
        "CLIENTS",
        "DATABASE_URL",
        "ALARM_ACTION",
    ):
        monkeypatch.delenv(f"EDGESHIELD_GUARD_{name}", raising=False)
    code = run(["guard", "serve", *deployment.args])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ")
    assert needle in err
    assert err.count("\n") == 1 or case == "weak secret"


def test_attack_rejects_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        [
            "guard",
            "attack",
            "--url",
            "http://127.0.0.1:1",
            "--kind",
            "magic",
            "--budget",
            "10",
        ]
    )
    assert code == 2
    assert "magic" in capsys.readouterr().err


def test_revoke_client_and_rotate_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clients = tmp_path / "clients.json"
    for name in ("a", "b"):
        assert run(["guard", "add-client", "--clients", str(clients), "--id", name]) == 0
    keys = [line.split()[-1] for line in capsys.readouterr().out.splitlines() if "api key" in line]
    assert run(["guard", "rotate-key", "--clients", str(clients), "--id", "b"]) == 0
    new_b = capsys.readouterr().out.split("api key (shown once): ")[1].split()[0]
    assert run(["guard", "revoke-client", "--clients", str(clients), "--id", "a"]) == 0
    registry = ClientRegistry.load(clients)
    assert registry.authenticate(keys[0]) is None
    assert registry.authenticate(keys[1]) is None
    spec = registry.authenticate(new_b)
    assert spec is not None
    assert spec.client_id == "b"
    assert run(["guard", "revoke-client", "--clients", str(clients), "--id", "zz"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "no client 'zz'" in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        *[
            ("--rate", rate, "rate_per_s must lie in")
            for rate in ("nan", "inf", "0", "-1", "1e-308")
        ],
        # beyond the guard's SQL counters (a 29-digit quota was accepted)
        *[
            ("--quota", quota, "quota must be an integer in [0, 9223372036854775807]")
            for quota in ("-1", "9223372036854775808", "1" + "0" * 29)
        ],
    ],
)
def test_add_client_refuses_rates_and_quotas_out_of_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    clients = tmp_path / "clients.json"
    args = ["guard", "add-client", "--clients", str(clients), "--id", "c", option, value]
    assert run(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: client c: ")
    assert message in err
    assert err.count("\n") == 1
    assert not clients.exists()


@pytest.mark.parametrize("port", ["0", "70000", "-1"])
def test_serve_refuses_a_port_outside_1_to_65535(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    """70000 was once accepted, announced as such, and served on 4464 (70000 mod 65536)."""
    paths = [str(tmp_path / name) for name in ("b", "d", "o", "l", "c")]
    args = ["guard", "serve", "--bundle", paths[0], "--device-key", paths[1]]
    args += ["--owner-public", paths[2], "--licence", paths[3], "--clients", paths[4]]
    assert run([*args, "--port", port]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Invalid value for '--port'"), err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"clients": {}}', '"clients" must be a list of objects'),
        ('{"clients": "x"}', '"clients" must be a list of objects'),
        ('{"clients": 3}', '"clients" must be a list of objects'),
        # Python's own words reached the operator: "'int' object is not subscriptable"
        ('{"clients": [3]}', '"clients" must be a list of objects'),
        ("[]", "the file must hold a JSON object"),
        ('{"clients": [{"client_id": "a"}]}', "missing 'key_sha256'"),
    ],
)
def test_a_client_file_of_the_wrong_shape_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, reason: str
) -> None:
    clients = tmp_path / "clients.json"
    clients.write_text(text)
    assert run(["guard", "add-client", "--clients", str(clients), "--id", "c"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: client file {clients} is malformed: {reason}\n"
    assert clients.read_text() == text


def test_a_revoked_id_is_not_given_to_a_new_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new key under a revoked id once inherited its quota use (429 on its first request)."""
    clients = tmp_path / "clients.json"
    base = ["--clients", str(clients), "--id"]
    assert run(["guard", "add-client", *base, "slow", "--quota", "6"]) == 0
    assert run(["guard", "revoke-client", *base, "slow"]) == 0
    before = clients.read_text()
    capsys.readouterr()
    assert run(["guard", "add-client", *base, "slow", "--quota", "6"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: client 'slow' was revoked"), err
    assert err.count("\n") == 1
    assert clients.read_text() == before
    assert run(["guard", "add-client", *base, "slow-2", "--quota", "6"]) == 0
    assert json.loads(clients.read_text())["revoked"] == ["slow"]


def test_a_client_file_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO as --clients hung add-client (and a GB-sized file was read whole)."""
    fifo = tmp_path / "clients.json"
    os.mkfifo(fifo)
    assert run(["guard", "add-client", "--clients", str(fifo), "--id", "c"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: cannot read client file {fifo}: not a regular file\n"
    assert fifo.is_fifo()


@pytest.mark.parametrize(("new", "message"), [(" alice", "white space"), ("ALICE", "only in case")])
def test_a_client_id_confusable_with_another_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], new: str, message: str
) -> None:
    clients = tmp_path / "clients.json"
    assert run(["guard", "add-client", "--clients", str(clients), "--id", "alice"]) == 0
    before = clients.read_text()
    capsys.readouterr()
    assert run(["guard", "add-client", "--clients", str(clients), "--id", new]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: client id"), err
    assert message in err
    assert clients.read_text() == before
