"""PRADA on steady machines and dashboards: exact repeats add no distance (issue 15)."""

from __future__ import annotations

import pandas as pd
from guard_kit import Kit, make_service

from edgeshield.guard import GuardConfig, OutputTier, SensorRecord, records_from_frame
from edgeshield.usecase import GeneratorConfig, dashboard_polls, generate, steady_trace


def _records(frame: pd.DataFrame) -> list[SensorRecord]:
    return [SensorRecord.model_validate(r) for r in records_from_frame(frame)]


def test_one_request_of_identical_rows_raises_no_alarm(kit: Kit, tmp_path: object) -> None:
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path}/s.db", tiers={"dashboard": OutputTier.LABEL_ONLY}
    )
    row = generate(GeneratorConfig(rows=1), seed=4)
    for _ in range(3):
        service.predict(keys["dashboard"], _records(pd.concat([row] * 256, ignore_index=True)))
    state = service.store.client_state("dashboard")
    assert state is not None
    assert state.queries == 768
    assert state.alarm_at is None


def test_steady_machine_at_sensor_resolution_raises_no_alarm(kit: Kit, tmp_path: object) -> None:
    service, keys = make_service(
        kit,
        f"sqlite:///{tmp_path}/s.db",
        tiers={f"machine-{s}": OutputTier.LABEL_ONLY for s in range(3)},
        config=GuardConfig(),
    )
    for s in range(3):
        trace = _records(steady_trace(600, seed=40 + s))
        for i in range(0, len(trace), 10):
            service.predict(keys[f"machine-{s}"], trace[i : i + 10])
        state = service.store.client_state(f"machine-{s}")
        assert state is not None
        assert state.queries == 600
        assert state.alarm_at is None, f"machine-{s} flagged after {state.alarm_at}"


def test_dashboards_and_long_running_steady_machines_raise_no_alarm(
    kit: Kit, tmp_path: object
) -> None:
    """The benchmark's finding: 5 of 5 steady machines flagged after about 2,000 queries (tool
    wear drifting), and dashboards of 20 machines after 140 queries, before near-repeats of a
    client's recent queries (not only of its growing set) stopped adding distances."""
    service, keys = make_service(
        kit,
        f"sqlite:///{tmp_path}/s.db",
        tiers={"dashboard": OutputTier.LABEL_ONLY, "machine": OutputTier.LABEL_ONLY},
        config=GuardConfig(),
    )
    polls = _records(dashboard_polls(60, 20, seed=8))
    for i in range(0, len(polls), 20):
        service.predict(keys["dashboard"], polls[i : i + 20])
    trace = _records(steady_trace(3000, seed=70))
    for i in range(0, len(trace), 10):
        service.predict(keys["machine"], trace[i : i + 10])
    for name, queries in (("dashboard", 1200), ("machine", 3000)):
        state = service.store.client_state(name)
        assert state is not None
        assert state.queries == queries
        assert state.alarm_at is None, f"{name} flagged after {state.alarm_at}"
