"""Review and clear a PRADA alarm: a blocked client answers again after an audited clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from guard_kit import Kit, make_service

from edgeshield.cli import run
from edgeshield.errors import RequestDeniedError
from edgeshield.guard import (
    AlarmAction,
    GuardConfig,
    OutputTier,
    PradaConfig,
    SensorRecord,
    records_from_frame,
)
from edgeshield.usecase import GeneratorConfig, generate


def test_alarm_is_listed_cleared_and_audited(
    kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path}/state.db"
    # a detector so strict that any client alarms: the false alarm to review
    config = GuardConfig(
        alarm_action=AlarmAction.BLOCK,
        prada=PradaConfig(delta=0.999, alpha=1.0, min_distances=20, test_every=5),
    )
    service, keys = make_service(kit, db, tiers={"plant": OutputTier.LABEL_ONLY}, config=config)
    rows = [
        SensorRecord.model_validate(r)
        for r in records_from_frame(generate(GeneratorConfig(rows=200), seed=8))
    ]
    service.predict(keys["plant"], rows[:100])
    with pytest.raises(RequestDeniedError) as denied:
        service.predict(keys["plant"], rows[100:110])
    assert denied.value.status_code == 403
    service.store.close()

    assert run(["guard", "alarms", "--db", db]) == 0
    assert "plant: alarm after" in capsys.readouterr().out
    assert run(["guard", "alarms", "--db", db, "--json"]) == 0
    (alarm,) = json.loads(capsys.readouterr().out)["alarms"]
    assert alarm["client_id"] == "plant"
    assert 0 < alarm["alarm_at"] <= alarm["queries"]
    assert run(["guard", "clear-alarm", "--db", db, "--client", "plant", "--note", " "]) == 1
    assert capsys.readouterr().err.startswith("error:")
    assert run(["guard", "clear-alarm", "--db", db, "--client", "plant", "--note", "steady"]) == 0
    assert run(["guard", "clear-alarm", "--db", db, "--client", "plant", "--note", "x"]) == 1
    assert "no standing alarm" in capsys.readouterr().err
    assert run(["guard", "alarms", "--db", db]) == 0
    assert "no standing alarms" in capsys.readouterr().out
    assert run(["guard", "alarms", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"alarms": []}

    restarted, _ = make_service(
        kit, db, tiers={"plant": OutputTier.LABEL_ONLY}, config=config, keys=keys
    )
    assert len(restarted.predict(keys["plant"], rows[100:102]).predictions) == 2
    events = [r.event for r in restarted.store.audit_log("plant")]
    assert "cleared" in events


@pytest.mark.parametrize(
    "command",
    [
        ["guard", "alarms"],
        ["guard", "alarms", "--json"],
        ["guard", "clear-alarm", "--client", "plant", "--note", "steady"],
        ["guard", "links"],
    ],
)
def test_review_commands_on_a_state_no_service_wrote_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A mistyped --db once printed "no standing alarms" and left an empty database behind."""
    typo = tmp_path / "typo.db"
    empty = tmp_path / "empty.db"
    empty.touch()
    for path in (typo, empty):
        assert run([*command, "--db", f"sqlite:///{path}"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: no guard state at sqlite:///{path}"), err
        assert err.count("\n") == 1
    assert not typo.exists()
    assert empty.stat().st_size == 0
