"""Persisted state: a restart (or a second worker) loses no quota, detector or audit state."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from guard_kit import Kit, make_service

from edgeshield.errors import StorageError
from edgeshield.guard import (
    GuardConfig,
    GuardStore,
    OutputTier,
    PradaConfig,
    create_app,
    records_from_frame,
)


def _post(client: TestClient, key: str, records: list[dict[str, object]]) -> int:
    return client.post(
        "/v1/predict", json={"records": records}, headers={"X-API-Key": key}
    ).status_code


def test_restart_keeps_quota_detector_and_audit(kit: Kit, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    config = GuardConfig(prada=PradaConfig(min_distances=20))
    records = records_from_frame(kit.frames["plant-3"].iloc[:120])
    first, keys = make_service(kit, url, quota=150, config=config)
    client = TestClient(create_app(service=first))
    for i in range(0, 100, 20):
        assert _post(client, keys["alice"], records[i : i + 20]) == 200
    before = first.store.client_state("alice")
    prada_before = first._prada["alice"]
    first.store.close()

    second, _ = make_service(kit, url, quota=150, config=config, keys=keys)
    client = TestClient(create_app(service=second))
    state = second.store.client_state("alice")
    assert state == before
    assert state is not None
    assert state.queries == 100
    with second.store.transaction() as conn:
        rebuilt = second.store.load_prada(conn, "alice", dim=5, window=1000)
    assert list(rebuilt.distances) == list(prada_before.distances)
    assert {g: v.size for g, v in rebuilt.growing.items()} == {
        g: v.size for g, v in prada_before.growing.items()
    }
    assert _post(client, keys["alice"], records[100:120]) == 200
    assert second._prada["alice"].observed == 120
    # The licence quota (150) survives the restart: 120 used, 40 more are refused.
    assert _post(client, keys["alice"], records[:40]) == 429
    log = second.store.audit_log("alice")
    assert [r.event for r in log] == ["query"] * 6 + ["denied"]
    assert sum(r.records for r in log if r.event == "query") == 120


def test_two_workers_share_one_state(kit: Kit, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a, keys = make_service(kit, url, quota=1000)
    b, _ = make_service(kit, url, quota=1000, keys=keys)
    ca, cb = TestClient(create_app(service=a)), TestClient(create_app(service=b))
    records = records_from_frame(kit.frames["plant-3"].iloc[:200])
    for i in range(0, 200, 10):
        assert _post(ca if i % 20 else cb, keys["alice"], records[i : i + 10]) == 200
    state = a.store.client_state("alice")
    assert state is not None
    assert state.queries == 200
    assert state.observed == 200
    assert sum(r.records for r in b.store.audit_log() if r.event == "query") == 200
    # Each worker saw the other's queries when it resynchronized its detector state.
    assert a._prada["alice"].observed + b._prada["alice"].observed >= 200


def test_audit_log_is_append_only(kit: Kit, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    service, keys = make_service(kit, url, tiers={"alice": OutputTier.LABEL_ONLY})
    client = TestClient(create_app(service=service))
    assert _post(client, keys["alice"], records_from_frame(kit.frames["plant-3"].iloc[:5])) == 200
    engine = sa.create_engine(url)
    for statement in ("UPDATE guard_audit SET records = 0", "DELETE FROM guard_audit"):
        with pytest.raises(sa.exc.IntegrityError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    engine.dispose()
    assert [r.records for r in service.store.audit_log()] == [5]


def test_audit_records_no_raw_data(kit: Kit, tmp_path: Path) -> None:
    service, keys = make_service(kit, f"sqlite:///{tmp_path / 'a.db'}")
    client = TestClient(create_app(service=service))
    assert _post(client, keys["alice"], records_from_frame(kit.frames["plant-3"].iloc[:3])) == 200
    (record,) = service.store.audit_log()
    assert (record.event, record.records, record.total, record.detail) == ("query", 3, 3, "")


def test_unusable_database_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open guard state database"):
        GuardStore(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    with pytest.raises(StorageError):
        GuardStore("nosuchdialect://x")


def test_in_memory_database_is_shared_across_request_threads(kit: Kit) -> None:
    service, keys = make_service(kit, "sqlite://")
    client = TestClient(create_app(service=service))
    records = records_from_frame(kit.frames["plant-3"].iloc[:10])
    for _ in range(3):
        assert _post(client, keys["alice"], records) == 200
    state = service.store.client_state("alice")
    assert state is not None
    assert state.queries == 30


def test_broken_state_database_is_503_not_500(
    kit: Kit, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service, keys = make_service(kit, f"sqlite:///{tmp_path / 'broken.db'}")
    client = TestClient(create_app(service=service))
    with service.store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE guard_clients")
    response = client.post(
        "/v1/predict",
        json={"records": records_from_frame(kit.frames["plant-3"].iloc[:2])},
        headers={"X-API-Key": keys["alice"]},
    )
    assert response.status_code == 503
    assert "state database unavailable" in response.json()["detail"]
    # the client learns nothing more; the operator's log says what broke
    logged = [r for r in caplog.records if r.name == "edgeshield.guard.api.app"]
    assert [r.levelname for r in logged] == ["ERROR"]
    assert "guard state database unavailable (503)" in logged[0].getMessage()


def test_a_new_state_file_is_owner_only_and_errors_hide_passwords(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The state holds sensor readings (watermark evidence, PRADA points): 0600 from the start."""
    import os
    import stat

    from edgeshield.errors import StorageError
    from edgeshield.guard import GuardStore

    old = os.umask(0o022)
    try:
        GuardStore(f"sqlite:///{tmp_path / 'new.db'}").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600
    shared = tmp_path / "shared.db"
    shared.touch(mode=0o644)
    shared.chmod(0o644)
    GuardStore(f"sqlite:///{shared}").close()  # the operator's choice stands, with a warning
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert any("readable by others" in r.getMessage() for r in caplog.records)
    with pytest.raises(StorageError) as info:
        GuardStore("postgresql+psycopg://reader:s3cret@127.0.0.1:1/guard")
    assert "s3cret" not in str(info.value)
