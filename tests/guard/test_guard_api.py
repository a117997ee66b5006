"""The HTTP API: every tier answers, every bad input is a clear 4xx, never a 500."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from guard_kit import NOW, Kit, fixed_clock, make_service

from edgeshield.guard import (
    AlarmAction,
    GuardConfig,
    OutputTier,
    PradaConfig,
    create_app,
    records_from_frame,
)

TIERS = {
    "full": OutputTier.FULL,
    "label": OutputTier.LABEL_ONLY,
    "topk": OutputTier.TOP_K,
    "rounded": OutputTier.ROUNDED,
    "rs": OutputTier.REVERSE_SIGMOID,
}


@pytest.fixture
def api(kit: Kit, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path / 'g.db'}", tiers=TIERS, config=GuardConfig(max_batch=64)
    )
    with TestClient(create_app(service=service, max_body_bytes=200_000)) as client:
        yield client, keys


def _records(kit: Kit, n: int = 5, start: int = 0) -> list[dict[str, object]]:
    return records_from_frame(kit.frames["plant-3"].iloc[start : start + n])


def _post(client: TestClient, key: str | None, body: object) -> tuple[int, dict[str, object]]:
    headers = {} if key is None else {"X-API-Key": key}
    response = client.post("/v1/predict", json=body, headers=headers)
    return response.status_code, response.json()


def test_each_tier_returns_what_it_promises(
    api: tuple[TestClient, dict[str, str]], kit: Kit
) -> None:
    client, keys = api
    records = _records(kit, 20)
    frame = kit.frames["plant-3"].iloc[:20]
    truth = kit.classifier.predict(frame)
    p = kit.classifier.predict_proba(frame)
    answers = {}
    for name in TIERS:
        status, body = _post(client, keys[name], {"records": records})
        assert status == 200, body
        assert body["tier"] == TIERS[name].value
        answers[name] = body["predictions"]
    # Same labels everywhere (watermarked rows, if any, are flipped identically for all).
    labels = {name: [a["label"] for a in answers[name]] for name in TIERS}
    assert all(v == labels["full"] for v in labels.values())
    assert sum(a != b for a, b in zip(labels["full"], truth, strict=True)) <= 1
    assert all(a.get("probabilities") is None for a in answers["label"])
    assert all(a["confidence"] is not None for a in answers["topk"])
    full = [a["probabilities"][1] for a in answers["full"]]
    rounded = [a["probabilities"][1] for a in answers["rounded"]]
    assert all(round(f, 1) == r for f, r in zip(full, rounded, strict=True))
    unmarked = [i for i in range(20) if labels["full"][i] == truth[i]]
    assert all(math.isclose(full[i], p[i], rel_tol=1e-6) for i in unmarked)
    rs = [a["probabilities"][1] for a in answers["rs"]]
    assert any(abs(a - b) > 0.01 for a, b in zip(rs, full, strict=True))


def _record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "type": "L",
        "air_temperature_k": 300.0,
        "process_temperature_k": 310.0,
        "rotational_speed_rpm": 1500.0,
        "torque_nm": 40.0,
        "tool_wear_min": 100.0,
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


@pytest.mark.parametrize(
    ("name", "body", "status", "needle"),
    [
        ("missing field", {"records": [_record(torque_nm=None)]}, 422, "torque_nm"),
        ("extra field", {"records": [_record(humidity=3.0)]}, 422, "humidity"),
        ("out of range", {"records": [_record(air_temperature_k=900.0)]}, 422, "less than"),
        ("negative", {"records": [_record(tool_wear_min=-1.0)]}, 422, "greater than"),
        ("bad type", {"records": [_record(type="X")]}, 422, "type"),
        ("string value", {"records": [_record(torque_nm="heavy")]}, 422, "torque_nm"),
        ("empty batch", {"records": []}, 422, "records"),
        ("no records key", {"rows": []}, 422, "records"),
        ("not an object", [1, 2, 3], 422, "invalid request"),
        ("batch over service limit", {"records": [_record()] * 65}, 413, "limit of 64"),
        ("batch over schema limit", {"records": [_record()] * 1025}, 422, "at most 1024"),
    ],
)
def test_bad_bodies_get_clear_4xx(
    api: tuple[TestClient, dict[str, str]], name: str, body: object, status: int, needle: str
) -> None:
    client, keys = api
    got, answer = _post(client, keys["full"], body)
    assert got == status, (name, answer)
    assert needle in json.dumps(answer)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_values_are_422(api: tuple[TestClient, dict[str, str]], token: str) -> None:
    client, keys = api
    text = json.dumps({"records": [_record()]}).replace("300.0", token)
    response = client.post(
        "/v1/predict",
        content=text,
        headers={"X-API-Key": keys["full"], "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "finite" in response.json()["detail"]


def test_malformed_json_is_422(api: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = api
    response = client.post(
        "/v1/predict",
        content=b'{"records": [',
        headers={"X-API-Key": keys["full"], "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        # a filter reading the first "type" and the model the last would see different rows
        b'{"records": [{"type": "X", "type": "L"}]}',
        b'{"records": [], "records": []}',
        b'{"records": [{"torque_nm": ' + b"1" * 5000 + b"}]}",  # over Python's digit limit
        b'{"records": ["\xff\xfe"]}',  # not UTF-8
    ],
)
def test_repeated_keys_long_integers_and_bad_bytes_are_422(
    api: tuple[TestClient, dict[str, str]], body: bytes
) -> None:
    client, keys = api
    response = client.post(
        "/v1/predict",
        content=body,
        headers={"X-API-Key": keys["full"], "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "invalid request: 0: JSON decode error"


def test_oversized_body_is_413(api: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = api
    response = client.post(
        "/v1/predict",
        content=b" " * 300_000,
        headers={"X-API-Key": keys["full"], "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "exceeds the limit of 200000 bytes" in response.json()["detail"]


@pytest.mark.parametrize(("key", "needle"), [(None, "missing API key"), ("esk_nope", "invalid")])
def test_missing_or_wrong_key_is_401(
    api: tuple[TestClient, dict[str, str]], kit: Kit, key: str | None, needle: str
) -> None:
    client, _ = api
    response = client.post(
        "/v1/predict",
        json={"records": _records(kit)},
        headers={} if key is None else {"X-API-Key": key},
    )
    assert response.status_code == 401
    assert needle in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "ApiKey"


def test_licence_quota_is_429_and_shared(kit: Kit, tmp_path: Path) -> None:
    service, keys = make_service(kit, f"sqlite:///{tmp_path / 'q.db'}", tiers=TIERS, quota=12)
    client = TestClient(create_app(service=service))
    assert _post(client, keys["full"], {"records": _records(kit, 10)})[0] == 200
    status, body = _post(client, keys["label"], {"records": _records(kit, 3)})
    assert status == 429
    # the client learns that the licence ran out, not its size nor the other clients' use
    assert body["detail"] == "licence query quota exhausted; contact the operator"
    assert _post(client, keys["label"], {"records": _records(kit, 2)})[0] == 200
    details = [row.detail for row in service.store.audit_log() if row.event == "denied"]
    assert details == ["429: licence query quota exhausted (10 of 12 used)"]


def test_client_quota_is_429(kit: Kit, tmp_path: Path) -> None:
    from guard_kit import SECRET

    from edgeshield.guard import ClientRegistry, GuardService, GuardStore, open_classifier

    registry = ClientRegistry()
    key = registry.add("small", tier=OutputTier.LABEL_ONLY, quota=5)
    model = open_classifier(
        kit.bundle,
        device_key=kit.device,
        owner_public_key=kit.owner.public_key(),
        licence=kit.licence(),
        clock=fixed_clock(),
    )
    service = GuardService(
        model,
        clients=registry,
        store=GuardStore(f"sqlite:///{tmp_path / 'c.db'}"),
        watermark_secret=SECRET,
        licence_clock=fixed_clock(),
    )
    client = TestClient(create_app(service=service))
    assert _post(client, key, {"records": _records(kit, 5)})[0] == 200
    status, body = _post(client, key, {"records": _records(kit, 1)})
    assert status == 429
    assert "client query quota exhausted (5 of 5 used)" in str(body["detail"])


def test_rate_limit_is_429_with_retry_after(kit: Kit, tmp_path: Path) -> None:
    now = [1000.0]
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path / 'r.db'}", rate=2.0, burst=10.0, clock=lambda: now[0]
    )
    client = TestClient(create_app(service=service))
    assert _post(client, keys["alice"], {"records": _records(kit, 10)})[0] == 200
    response = client.post(
        "/v1/predict", json={"records": _records(kit, 4)}, headers={"X-API-Key": keys["alice"]}
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert "rate limit" in response.json()["detail"]
    now[0] += 2.0
    assert _post(client, keys["alice"], {"records": _records(kit, 4)})[0] == 200
    status, body = _post(client, keys["alice"], {"records": _records(kit, 11)})
    assert status == 429
    assert "burst of 10" in str(body["detail"])


def test_the_slowest_bucket_gets_a_bounded_retry_after(kit: Kit, tmp_path: Path) -> None:
    """A 1e-308 rate once made Retry-After infinite: a 500 on every later request."""
    service, keys = make_service(kit, f"sqlite:///{tmp_path / 's.db'}", rate=1e-6, burst=5.0)
    client = TestClient(create_app(service=service))
    assert _post(client, keys["alice"], {"records": _records(kit, 5)})[0] == 200
    for _ in range(2):
        response = client.post(
            "/v1/predict", json={"records": _records(kit, 5)}, headers={"X-API-Key": keys["alice"]}
        )
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "86400"  # a day, not 5e6 s


def test_a_spent_client_is_refused_without_running_the_model(
    kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A red team's quota-exhausted key made the guard run the model on 256 records per 429."""
    now = [1000.0]
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path / 'x.db'}", quota=16, rate=2.0, burst=10.0, clock=lambda: now[0]
    )
    model = service.model.classifier.model
    calls: list[int] = []
    proba = model.predict_proba

    def counted(x: object) -> object:
        calls.append(1)
        return proba(x)  # type: ignore[arg-type]

    monkeypatch.setattr(model, "predict_proba", counted)
    client = TestClient(create_app(service=service))
    key = keys["alice"]

    def ask(n: int) -> int:
        return _post(client, key, {"records": _records(kit, n)})[0]

    assert ask(10) == 200
    assert ask(4) == 429  # the bucket holds no tokens: decided after the model ran once
    runs = len(calls)
    response = client.post(
        "/v1/predict", json={"records": _records(kit, 4)}, headers={"X-API-Key": key}
    )
    assert (response.status_code, response.headers["Retry-After"]) == (429, "2")
    assert ask(8) == 429  # no smaller: refused again
    assert len(calls) == runs  # without the model
    assert ask(1) == 429  # smaller: decided afresh (the model runs), still no token
    assert len(calls) == runs + 1
    now[0] += 2.0  # the wait the client was told: it passes
    assert ask(4) == 200
    now[0] += 10.0
    assert ask(3) == 429  # the licence (16) would be exceeded: remembered for a while
    runs = len(calls)
    for _ in range(3):
        assert ask(3) == 429
    assert len(calls) == runs
    denied = [row for row in service.store.audit_log() if row.event == "denied"]
    assert len(denied) == 8  # every refusal is audited, remembered or not
    assert {row.detail for row in denied[-4:]} == {
        "429: licence query quota exhausted (14 of 16 used)"
    }


def test_expired_licence_is_403(kit: Kit, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service, keys = make_service(kit, f"sqlite:///{tmp_path / 'e.db'}")
    service._licence_clock = fixed_clock(NOW + timedelta(days=31))
    client = TestClient(create_app(service=service))
    for _ in range(3):
        status, body = _post(client, keys["alice"], {"records": _records(kit)})
        assert status == 403
        # when and why the licence ended is the operator's (the log), not the client's
        assert body["detail"] == "licence no longer valid; contact the operator"
    logged = [r for r in caplog.records if r.name == "edgeshield.guard._service"]
    assert len(logged) == 1  # once per reason, not once per refused request
    assert logged[0].levelname == "WARNING"
    assert "licence no longer valid" in logged[0].getMessage()
    assert "expired" in logged[0].getMessage()


def _jacobian_like(kit: Kit, n: int) -> list[dict[str, object]]:
    """Small steps around a few seeds: what Jacobian augmentation sends.

    The steps (1.5 Nm, 20 rpm: about 0.15 and 0.11 standardized units) lie above PRADA's
    repeat distance; steps below it look like a steady machine's jitter and add no distance.
    """
    seeds = _records(kit, 5)
    out = []
    for i in range(n):
        record = dict(seeds[i % 5])
        record["torque_nm"] = float(record["torque_nm"]) + 1.5 * ((i // 5) % 3)  # type: ignore[arg-type]
        record["rotational_speed_rpm"] = float(record["rotational_speed_rpm"]) + 20.0 * (i // 15)  # type: ignore[arg-type]
        out.append(record)
    return out


def test_alarm_blocks_with_403_when_configured(kit: Kit, tmp_path: Path) -> None:
    config = GuardConfig(alarm_action=AlarmAction.BLOCK, prada=PradaConfig(min_distances=20))
    service, keys = make_service(kit, f"sqlite:///{tmp_path / 'b.db'}", config=config)
    client = TestClient(create_app(service=service))
    records = _jacobian_like(kit, 200)
    statuses = [
        _post(client, keys["alice"], {"records": records[i : i + 20]}) for i in range(0, 200, 20)
    ]
    codes = [s for s, _ in statuses]
    assert 403 in codes
    first = codes.index(403)
    assert all(c == 200 for c in codes[:first])
    assert all(c == 403 for c in codes[first:])
    detail = str(statuses[first][1]["detail"])
    assert "blocked" in detail
    assert "alarm" not in detail  # whether it was flagged is for the operator, not the client
    events = [r.event for r in service.store.audit_log("alice")]
    assert "alarm" in events
    assert events[-1] == "denied"


def test_alarm_throttles_when_configured(
    kit: Kit, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    config = GuardConfig(
        alarm_action=AlarmAction.THROTTLE, throttle_factor=0.1, prada=PradaConfig(min_distances=20)
    )
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path / 't.db'}", config=config, rate=1000.0, burst=1000.0,
        clock=lambda: now[0],
    )  # fmt: skip
    client = TestClient(create_app(service=service))
    records = _jacobian_like(kit, 200)
    for i in range(0, 200, 20):
        assert _post(client, keys["alice"], {"records": records[i : i + 20]})[0] == 200
        state = service.store.client_state("alice")
        assert state is not None
        if state.alarm_at is not None:
            break
    assert state.alarm_at is not None
    alarms = [r for r in caplog.records if "extraction alarm" in r.getMessage()]
    assert [(r.name, r.levelname) for r in alarms] == [("edgeshield.guard._service", "WARNING")]
    assert "client alice" in alarms[0].getMessage()
    # Burst is now 100 (1000 x 0.1): a batch of 150 exceeds it; one of 50 still passes.
    now[0] += 10.0
    status, body = _post(client, keys["alice"], {"records": records[:150]})
    assert status == 429
    assert "burst of 100" in str(body["detail"])
    assert _post(client, keys["alice"], {"records": records[:50]})[0] == 200
