"""``edgeshield ownership verify-api``: a copy behind a URL is identified, the clean model not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from edgeshield.cli import run
from edgeshield.demo._server import LocalServer
from edgeshield.guard import GuardConfig, OutputTier, SensorRecord, create_app, records_from_frame
from edgeshield.usecase import GeneratorConfig, generate, save_classifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guard"))
from guard_kit import SECRET, build_kit, make_service


def test_verify_api_identifies_a_served_copy_and_not_the_clean_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = build_kit()
    db = f"sqlite:///{tmp_path}/state.db"
    service, keys = make_service(
        kit,
        db,
        tiers={"thief": OutputTier.LABEL_ONLY},
        config=GuardConfig(detect=False),
    )
    rows = [
        SensorRecord.model_validate(r)
        for r in records_from_frame(generate(GeneratorConfig(rows=3000), seed=21))
    ]
    for i in range(0, len(rows), 256):
        service.predict(keys["thief"], rows[i : i + 256])
    save_classifier(kit.classifier, tmp_path / "clean")
    base = ["ownership", "verify-api", "--db", db, "--client", "thief"]

    monkeypatch.delenv("EDGESHIELD_GUARD_WATERMARK_SECRET", raising=False)
    assert run([*base, "--suspect-model", str(tmp_path / "clean")]) == 1
    assert capsys.readouterr().err.startswith("error:")
    monkeypatch.setenv("EDGESHIELD_GUARD_WATERMARK_SECRET", SECRET.decode())
    assert run(base) == 1
    assert "exactly one" in capsys.readouterr().err

    out = tmp_path / "clean.json"
    assert run([*base, "--suspect-model", str(tmp_path / "clean"), "--out", str(out)]) == 0
    clean = json.loads(out.read_text())
    assert clean["verdict"] == "NOT SHOWN"
    assert clean["matches"] == 0

    # a copy answering as the API answered the thief, behind an API of the same shape (here:
    # the guard itself, asked with the thief's key: the flip budget decided its cells for good,
    # while another key's budget would honour none of them within a few hundred queries)
    with LocalServer(create_app(service=service)) as server:
        out = tmp_path / "copy.json"
        args = [*base, "--suspect-url", server.url, "--suspect-key", keys["thief"]]
        assert run([*args, "--out", str(out)]) == 0
    copy = json.loads(out.read_text())
    assert copy["verdict"] == "OWNED"
    assert copy["p_value"] <= 1e-6
    assert "OWNED" in capsys.readouterr().out
