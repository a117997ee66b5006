"""Exact quotas on PostgreSQL: ``guard serve --workers 4``, 50 simultaneous requests per phase.

Issue 15 measured quota 10 -> 25 and 29 answered, burst 10 -> 31, and 503s from concurrent
inserts of a new client row. Each phase below fires 50 one-record requests at once at a fresh
client (so its row is created under contention) and expects exactly the limit answered, the
counters and the audit log agreeing, and no 5xx.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from guard_kit import OPERATOR_TOKEN, GuardProcess, Kit, write_deployment

from edgeshield.guard import GuardStore, OutputTier, records_from_frame

pytestmark = pytest.mark.slow

CONCURRENT = 50
LIMIT = 10


def _burst(url: str, key: str, record: dict[str, object]) -> Counter[int]:
    """``CONCURRENT`` requests released together; their status codes."""
    start = threading.Barrier(CONCURRENT)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            start.wait()
            code = http.post(
                "/v1/predict", json={"records": [record]}, headers={"X-API-Key": key}
            ).status_code
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=one) for _ in range(CONCURRENT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    return Counter(statuses)


def test_quotas_are_exact_with_four_workers(kit: Kit, tmp_path: Path, postgres_url: str) -> None:
    deployment = write_deployment(
        kit,
        tmp_path,
        tiers={c: OutputTier.LABEL_ONLY for c in ("quota", "burst", "rest")},
        quota=3 * LIMIT,  # the licence: the third phase meets it after 2 x LIMIT
        limits={"quota": {"quota": LIMIT}, "burst": {"rate_per_s": 0.001, "burst": LIMIT}},
        db_url=postgres_url,
    )
    server = GuardProcess(deployment, extra_args=["--workers", "4"]).start()
    try:
        pids: set[int] = set()
        operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        for _ in range(2000):  # wait until all four workers answer (readiness, not timing)
            with httpx.Client(base_url=server.url, timeout=60) as http:
                pids.add(http.get("/v1/health/details", headers=operator).json()["pid"])
            if len(pids) == 4:
                break
        assert len(pids) == 4, server.output()
        record = records_from_frame(kit.frames["plant-3"].iloc[:1])[0]
        for client in ("quota", "burst", "rest"):
            statuses = _burst(server.url, deployment.keys[client], record)
            assert statuses == Counter({200: LIMIT, 429: CONCURRENT - LIMIT}), (client, statuses)
    finally:
        server.stop()
    store = GuardStore(postgres_url)
    for client in ("quota", "burst", "rest"):
        state = store.client_state(client)
        assert state is not None
        assert state.queries == LIMIT
        log = store.audit_log(client)
        assert sum(r.records for r in log if r.event == "query") == LIMIT
        assert sum(1 for r in log if r.event == "denied") == CONCURRENT - LIMIT
    with store.transaction() as conn:
        used = conn.execute(sa.text("SELECT queries FROM guard_licence_usage")).scalars().all()
    assert used == [3 * LIMIT]
    store.close()
