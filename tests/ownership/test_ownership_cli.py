"""``edgeshield ownership``: keygen, embed, calibrate, commit and verify with a report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.ownership import WatermarkKey

DATA = ["--plants", "2", "--rows", "1500", "--seed", "0"]


@pytest.mark.slow
def test_keygen_embed_calibrate_commit_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, model, marked = tmp_path / "wm.key", tmp_path / "model", tmp_path / "marked"
    envelope, null, log = tmp_path / "env.json", tmp_path / "null.json", tmp_path / "log.jsonl"
    # --seed: without it `train` draws a fresh seed, and some draws leave a model this small
    # fleet cannot mark to the target (the order-dependent failure seen in full-suite runs)
    train = ["train", "--out", str(model), "--plants", "2", "--rows", "1500", "--epochs", "8"]
    assert run([*train, "--seed", "0"]) == 0
    assert run(["ownership", "keygen", "--out", str(key)]) == 0
    assert run(["ownership", "keygen", "--out", str(key)]) == 1
    assert "exists" in capsys.readouterr().err
    # a fixed key from here on, so that the marking below does not depend on keygen's draw
    key.unlink()
    WatermarkKey.from_bytes(hashlib.sha256(b"cli test key").digest()).save(key)
    common = ["--key", str(key)]
    embed = ["ownership", "embed", "--model", str(model), *common, "--out", str(marked)]
    assert run([*embed, "--envelope", str(envelope), "--triggers", "20", *DATA]) == 0
    out = capsys.readouterr().out
    assert "trigger accuracy" in out
    assert "fine-tuning on 1,125 training rows of a generated 2-plant fleet (seed 0)" in out
    card = json.loads((marked / "model_card.json").read_text())
    assert card["metrics"]["test"]["rows"] == 375  # measured after embedding, not left empty
    weights = (marked / "model.safetensors").read_bytes()
    assert run([*embed, "--envelope", str(envelope), "--triggers", "20", *DATA]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert (marked / "model.safetensors").read_bytes() == weights
    calibrate = ["ownership", "calibrate", *common, "--envelope", str(envelope)]
    sizes = ["--models", "3", "--fpr", "0.25", "--epochs", "15", "--triggers", "20"]
    assert run([*calibrate, "--out", str(null), *sizes, *DATA]) == 0
    assert json.loads(null.read_text())["names"]
    owner = ["--owner", "acme", "--log", str(log)]
    assert run(["ownership", "commit", "--model", str(marked), *common, *owner]) == 0
    report = tmp_path / "report"
    verify = ["ownership", "verify", "--suspect", str(marked), *common, "--null", str(null)]
    code = run([*verify, "--fpr", "0.25", "--report", str(report), *owner])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "OWNED" in out
    assert "calibration size N = 3" in out
    evidence = json.loads((report / "evidence.json").read_text())
    assert evidence["commitment_matches"] is True
    assert evidence["result"]["owned"] is True
    assert (report / "evidence.html").is_file()
    assert run(["ownership", "verify", "--suspect", str(model), *common, "--null", str(null)]) == 3
    out = capsys.readouterr().out
    assert "NOT OWNED" in out
    assert "FPR 0.001 needs N >= 999" in out
    # --json: one object on stdout and nothing else, the same exit status
    assert run([*verify, "--fpr", "0.25", "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verdict"] == "OWNED"
    assert verdict["result"]["null_models"] == 3
    assert verdict["evidence"] is None
    assert (
        run(
            ["ownership", "verify", "--suspect", str(model), *common, "--null", str(null), "--json"]
        )
        == 3
    )
    assert json.loads(capsys.readouterr().out)["verdict"] == "NOT OWNED"


def test_verify_with_a_missing_key_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, null = str(tmp_path / "no.key"), str(tmp_path / "null.json")
    code = run(["ownership", "verify", "--suspect", str(tmp_path), "--key", key, "--null", null])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert len(err.strip().splitlines()) == 1


def test_calibrate_refuses_fewer_null_models_than_the_fpr_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["ownership", "calibrate", "--key", str(tmp_path / "k"), "--envelope"]
    args += [str(tmp_path / "e.json"), "--out", str(tmp_path / "null.json"), "--models", "20"]
    assert run(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert len(err.strip().splitlines()) == 1
    assert "needs at least 999 null models" in err
    assert run([*args, "--fpr", "0.01"]) == 1
    assert "needs at least 99 null models" in capsys.readouterr().err
    assert not (tmp_path / "null.json").exists()


def test_train_without_seed_draws_a_fresh_seed_and_records_it(tmp_path: Path) -> None:
    cards = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert (
            run(["train", "--out", str(out), "--plants", "1", "--rows", "400", "--epochs", "1"])
            == 0
        )
        cards.append(json.loads((out / "model_card.json").read_text()))
    assert cards[0]["seed"] != cards[1]["seed"]
    again = tmp_path / "again"
    seed = str(cards[0]["seed"])
    assert (
        run(
            [
                "train",
                "--out",
                str(again),
                "--plants",
                "1",
                "--rows",
                "400",
                "--epochs",
                "1",
                "--seed",
                seed,
            ]
        )
        == 0
    )
    assert json.loads((again / "model_card.json").read_text()) == cards[0]


def test_embed_below_the_trigger_target_fails_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, key = tmp_path / "model", tmp_path / "wm.key"
    assert run(["train", "--out", str(model), *DATA, "--epochs", "2"]) == 0
    assert run(["ownership", "keygen", "--out", str(key)]) == 0
    monkeypatch.setattr("edgeshield.cli._ownership.trigger_accuracy", lambda *_a, **_k: 0.5)
    out, envelope = tmp_path / "marked", tmp_path / "env.json"
    argv = ["ownership", "embed", "--model", str(model), "--key", str(key), "--out", str(out)]
    capsys.readouterr()
    assert run([*argv, "--envelope", str(envelope), "--triggers", "10", *DATA]) == 1
    err = capsys.readouterr().err
    assert "trigger accuracy 50% stays below the target 80%" in err
    assert not out.exists()
    assert not envelope.exists()
