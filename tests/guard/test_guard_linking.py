"""Keys asking near-duplicate rows are linked; independent plants are not."""

from __future__ import annotations

import json

import pytest
from guard_kit import Kit, make_service

from edgeshield.cli import run
from edgeshield.errors import ConfigError, RequestDeniedError
from edgeshield.guard import (
    AlarmAction,
    GuardConfig,
    GuardService,
    OutputTier,
    SensorRecord,
    linked_clients,
    records_from_frame,
)
from edgeshield.usecase import GeneratorConfig, generate

NAMES = ("key-a", "key-b", "plant-1", "plant-2")


def _served(kit: Kit, db_url: str, config: GuardConfig) -> tuple[GuardService, dict[str, str]]:
    """A thief asking the same 400 rows through two keys (+0.1 K on the second), two plants."""
    tiers = dict.fromkeys(NAMES, OutputTier.LABEL_ONLY)
    service, keys = make_service(kit, db_url, tiers=tiers, config=config)
    rows = generate(GeneratorConfig(rows=400), seed=31)
    shifted = rows.assign(**{"Air temperature [K]": rows["Air temperature [K]"] + 0.1})
    frames = {
        "key-a": rows,
        "key-b": shifted,
        "plant-1": generate(GeneratorConfig(rows=400), seed=32),
        "plant-2": generate(GeneratorConfig(rows=400), seed=33),
    }
    for name, frame in frames.items():
        records = [SensorRecord.model_validate(r) for r in records_from_frame(frame)]
        for i in range(0, len(records), 100):
            service.predict(keys[name], records[i : i + 100])
    return service, keys


def test_two_keys_of_one_thief_are_linked_and_honest_plants_are_not(
    kit: Kit, tmp_path: object
) -> None:
    service, _ = _served(kit, f"sqlite:///{tmp_path}/s.db", GuardConfig())
    links = linked_clients(service.store)
    assert [(x.first, x.second) for x in links] == [("key-a", "key-b")]
    assert links[0].share > 0.9
    loose = linked_clients(service.store, min_shared=1, min_share=0.01)
    assert (
        max(x.share for x in loose if x.first.startswith("plant") or x.second.startswith("plant"))
        < 0.2
    )
    with pytest.raises(ConfigError):
        linked_clients(service.store, distance=0)


def test_the_operator_flags_linked_keys_and_the_running_guard_blocks_them(
    kit: Kit, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """`guard links --flag` against the state a running service writes: the next request of
    either thief key is refused, the plants are untouched, and `guard alarms` says why."""
    url = f"sqlite:///{tmp_path}/s.db"
    service, keys = _served(kit, url, GuardConfig(alarm_action=AlarmAction.BLOCK))
    capsys.readouterr()
    assert run(["guard", "links", "--db-url", url]) == 0
    out = capsys.readouterr().out
    assert "key-a <-> key-b" in out
    assert "plant" not in out
    assert all(service.store.client_state(n).alarm_at is None for n in NAMES)  # review only
    assert run(["guard", "links", "--db-url", url, "--json"]) == 0
    (link,) = json.loads(capsys.readouterr().out)["links"]
    assert {link["first"], link["second"]} == {"key-a", "key-b"}
    assert link["shared"] >= 20
    assert run(["guard", "links", "--db-url", url, "--flag"]) == 0
    assert "alarm raised on: key-a, key-b" in capsys.readouterr().out
    record = [
        SensorRecord.model_validate(r)
        for r in records_from_frame(generate(GeneratorConfig(rows=1), seed=5))
    ]
    for name in ("key-a", "key-b"):
        with pytest.raises(RequestDeniedError) as info:
            service.predict(keys[name], record)
        assert info.value.status_code == 403
    for name in ("plant-1", "plant-2"):
        service.predict(keys[name], record)
    assert run(["guard", "alarms", "--db-url", url]) == 0
    assert "linked keys: asks the rows of key-b" in capsys.readouterr().out
    assert run(["guard", "links", "--db-url", url, "--flag"]) == 0
    assert "none (all already alarmed)" in capsys.readouterr().out
