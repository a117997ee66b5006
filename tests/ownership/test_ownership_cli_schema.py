"""``edgeshield ownership`` on a model of another schema (breast cancer), end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.ownership import WatermarkKey


def test_embed_calibrate_verify_a_breast_cancer_model(
    tmp_path: Path, breast_cancer_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, model, marked = tmp_path / "wm.key", tmp_path / "model", tmp_path / "marked"
    envelope, null = tmp_path / "env.json", tmp_path / "null.json"
    csv = ["--csv", str(breast_cancer_csv), "--seed", "0"]
    train = ["train", "--out", str(model), "--schema", "breast_cancer", "--epochs", "30"]
    assert run([*train, *csv]) == 0
    WatermarkKey.from_bytes(hashlib.sha256(b"cli schema key").digest()).save(key)
    common = ["--key", str(key)]
    embed = ["ownership", "embed", "--model", str(model), *common, "--out", str(marked)]
    assert run([*embed, "--envelope", str(envelope), "--triggers", "20"]) == 1
    assert "schema 'breast_cancer' needs --csv" in capsys.readouterr().err
    assert run([*embed, "--envelope", str(envelope), "--triggers", "20", *csv]) == 0
    out = capsys.readouterr().out
    assert "declares no failure physics" in out
    stored = json.loads(envelope.read_text())
    assert stored["kind"] == "table"
    assert stored["schema"] == "breast_cancer"
    calibrate = ["ownership", "calibrate", *common, "--envelope", str(envelope)]
    sizes = ["--models", "4", "--fpr", "0.2", "--epochs", "10", "--triggers", "20"]
    assert run([*calibrate, "--out", str(null), *sizes, "--schema", "ai4i2020", *csv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "fitted for schema 'breast_cancer'" in err
    assert run([*calibrate, "--out", str(null), *sizes, *csv]) == 0
    capsys.readouterr()
    verify = ["ownership", "verify", "--suspect", str(marked), *common, "--null", str(null)]
    code = run([*verify, "--fpr", "0.2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "OWNED" in out
    assert run([*verify, "--fpr", "0.2", "--controls", "5"]) == 1
    assert "declares no failure physics" in capsys.readouterr().err
