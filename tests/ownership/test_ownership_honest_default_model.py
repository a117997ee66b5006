"""Issue 18's scenario: a never-watermarked model trained on the public AI4I file with the old
default seed must not be declared OWNED, for any of ten fresh owner keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.ownership import (
    SensorEnvelope,
    WatermarkKey,
    calibrate_null,
    train_null_models,
)
from edgeshield.usecase import read_uci_csv


@pytest.mark.slow
def test_issue_scenario_returns_not_owned(
    real_data_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, model = str(real_data_path), tmp_path / "real-model"
    # the issue's model: `train --csv ai4i2020.csv --epochs 100` when the default seed was 0
    assert run(["train", "--csv", csv, "--out", str(model), "--epochs", "100", "--seed", "0"]) == 0
    data = read_uci_csv(real_data_path)
    envelope = SensorEnvelope.fit(data)
    env_path = tmp_path / "real-envelope.json"
    env_path.write_text(json.dumps(envelope.to_dict()))
    key_path = tmp_path / "owner.wmkey"
    WatermarkKey.from_bytes(hashlib.sha256(b"issue-18/0").digest()).save(key_path)
    capsys.readouterr()
    calibrate = ["ownership", "calibrate", "--key", str(key_path), "--envelope", str(env_path)]
    out = ["--out", str(tmp_path / "real-null20.json"), "--models", "20", "--csv", csv]
    assert run([*calibrate, *out]) == 1
    assert "needs at least 999 null models" in capsys.readouterr().err

    # 15 epochs, as the demo trains its null models
    nulls = train_null_models({"csv": data}, 20, epochs=15, seed=100)
    for i in range(10):
        key = WatermarkKey.from_bytes(hashlib.sha256(f"issue-18/{i}".encode()).digest())
        key.save(key_path)
        null_path = tmp_path / f"null{i}.json"
        calibrate_null(key, nulls, envelope=envelope, n=50, fpr=0.05).save(null_path)
        verify = ["ownership", "verify", "--suspect", str(model), "--key", str(key_path)]
        assert run([*verify, "--null", str(null_path)]) == 3
        printed = capsys.readouterr().out
        assert "NOT OWNED" in printed
        assert "calibration size N = 20" in printed
