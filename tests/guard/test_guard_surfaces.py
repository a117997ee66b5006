"""Client surfaces apart from operator surfaces, and bodies read safely (in process).

The thief's side (issue 15): a client reading every surface it can reach learns nothing about
which answers the API watermark altered or whether it was flagged; the operator's token, not a
client key, opens metrics, health details and the API description.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from guard_kit import OPERATOR_TOKEN, Kit, make_service

from edgeshield.errors import ConfigError, RequestDeniedError
from edgeshield.guard import (
    ClientRegistry,
    GuardConfig,
    OutputTier,
    create_app,
    records_from_frame,
)
from edgeshield.guard.api._body import MAX_JSON_DEPTH, json_depth, loads_bounded

OPERATOR_PATHS = ("/v1/metrics", "/v1/health/details", "/openapi.json", "/docs")


@pytest.fixture
def served(kit: Kit, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    service, keys = make_service(
        kit,
        f"sqlite:///{tmp_path / 's.db'}",
        tiers={"thief": OutputTier.LABEL_ONLY, "probe": OutputTier.FULL},
        config=GuardConfig(watermark_rate=0.005),
    )
    return TestClient(create_app(service=service, operator_token=OPERATOR_TOKEN)), keys


@pytest.mark.parametrize("path", OPERATOR_PATHS)
def test_operator_surfaces_refuse_clients_and_strangers(
    served: tuple[TestClient, dict[str, str]], path: str
) -> None:
    client, keys = served
    attempts = [
        {},
        {"X-API-Key": keys["thief"]},
        {"Authorization": f"Bearer {keys['probe']}"},
        {"Authorization": f"Bearer {OPERATOR_TOKEN}x"},
        {"Authorization": OPERATOR_TOKEN},
    ]
    for headers in attempts:
        response = client.get(path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert "edgeshield" not in response.text
    operator = client.get(path, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert operator.status_code == 200


def test_operator_surfaces_are_closed_without_a_token(kit: Kit, tmp_path: Path) -> None:
    service, _keys = make_service(kit, f"sqlite:///{tmp_path / 'c.db'}")
    client = TestClient(create_app(service=service))
    for path in OPERATOR_PATHS:
        assert client.get(path, headers={"Authorization": "Bearer anything"}).status_code == 403
    with pytest.raises(ConfigError, match="at least 32"):
        create_app(service=service, operator_token="short")


def test_public_health_says_only_ok(served: tuple[TestClient, dict[str, str]], kit: Kit) -> None:
    client, _keys = served
    assert client.get("/v1/health").json() == {"status": "ok"}
    details = client.get(
        "/v1/health/details", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    ).json()
    assert details["model_digest"] == kit.digest


def test_metrics_are_aggregates_without_watermark_or_client_series(
    served: tuple[TestClient, dict[str, str]], kit: Kit
) -> None:
    client, keys = served
    records = records_from_frame(kit.frames["plant-3"].iloc[:600])
    for i in range(0, 600, 200):
        response = client.post(
            "/v1/predict",
            json={"records": records[i : i + 200]},
            headers={"X-API-Key": keys["probe"]},
        )
        assert response.status_code == 200
    text = client.get("/v1/metrics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).text
    assert "edgeshield_guard_records_total 600.0" in text
    assert "watermark" not in text
    assert "client=" not in text
    assert "probe" not in text


def _observation(client: TestClient, key: str, response_headers: dict[str, str]) -> str:
    """Everything the thief can read besides the label itself, as one comparable string."""
    seen: list[object] = [sorted((k, v) for k, v in response_headers.items() if k != "date")]
    for path in ("/v1/health", *OPERATOR_PATHS):
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
            answer = client.get(path, headers=headers)
            seen.append((path, answer.status_code, answer.text))
    return json.dumps(seen)


def test_thief_reading_every_client_surface_cannot_tell_flipped_answers(
    served: tuple[TestClient, dict[str, str]], kit: Kit
) -> None:
    """Replays the metrics attack: observations after flipped and unflipped answers are equal.

    The probe (the owner's own full-tier client) finds rows the API watermark flips; the thief
    then asks them one by one, mixed with unflipped rows, and records every surface after each.
    Identical observations mean no distinguisher does better than chance (timing aside).
    """
    client, keys = served
    frame = kit.frames["plant-3"].iloc[:3000]
    pool = records_from_frame(frame)
    own = kit.classifier.predict(frame)
    served_labels: list[int] = []
    for i in range(0, len(pool), 250):
        answer = client.post(
            "/v1/predict", json={"records": pool[i : i + 250]}, headers={"X-API-Key": keys["probe"]}
        )
        served_labels += [p["label"] for p in answer.json()["predictions"]]
    flipped = np.flatnonzero(np.asarray(served_labels) != own)
    assert len(flipped) >= 3, "the watermark flipped too few rows for the replay"
    plain = np.setdiff1d(np.arange(len(pool)), flipped)[: 4 * len(flipped)]
    order = np.random.default_rng(0).permutation(np.concatenate([flipped[:10], plain[:40]]))
    # the thief first asks the rest of the pool: a key's flip budget honours no cell before it
    # has a few hundred answers (the probe found the flips with its own budget)
    rest = np.setdiff1d(np.arange(len(pool)), order)
    for i in range(0, len(rest), 250):
        warmup = [pool[j] for j in rest[i : i + 250]]
        answer = client.post(
            "/v1/predict", json={"records": warmup}, headers={"X-API-Key": keys["thief"]}
        )
        assert answer.status_code == 200
    observations: dict[bool, set[str]] = {True: set(), False: set()}
    thief_flips = 0
    for row in order:
        answer = client.post(
            "/v1/predict", json={"records": [pool[row]]}, headers={"X-API-Key": keys["thief"]}
        )
        assert answer.status_code == 200
        body = answer.json()
        is_flipped = body["predictions"][0]["label"] != int(own[row])
        thief_flips += is_flipped
        body["predictions"] = "<label>"
        headers = dict(answer.headers.items())
        headers["body"] = json.dumps(body)
        observations[is_flipped].add(_observation(client, keys["thief"], headers))
    assert thief_flips >= 1  # the thief did receive marked answers
    # One observation for every answer, flipped or not: the thief's best guess is the prior.
    assert observations[True] == observations[False]
    assert len(observations[False]) == 1


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"[]", 1),
        (b'{"records": [{"type": "L"}]}', 3),
        (b'{"a": "[[[[[[[[[[[[[[[[[[[[["}', 1),
        (b'["\\"[[[[", [["\\\\"]]]', 3),
        (b'"unterminated [[[[', 0),
        (b"]][[[[", 2**63 - 1),
        (b"[" * 100_000, 100_000),
    ],
)
def test_json_depth_without_recursion(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def test_loads_bounded_refuses_deep_bodies_before_parsing() -> None:
    assert loads_bounded(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(RequestDeniedError) as info:
        loads_bounded(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert info.value.status_code == 400


def test_the_key_is_checked_before_the_body_is_read(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = served
    deep = b"[" * 200_000
    headers = {"content-type": "application/json"}
    assert client.post("/v1/predict", content=deep, headers=headers).status_code == 401
    bad = {**headers, "X-API-Key": "esk_wrong"}
    assert client.post("/v1/predict", content=deep, headers=bad).status_code == 401
    ok = {**headers, "X-API-Key": keys["thief"]}
    answer = client.post("/v1/predict", content=deep, headers=ok)
    assert answer.status_code == 400
    assert "nests deeper" in answer.json()["detail"]


@pytest.mark.parametrize("value", ['"60"', "true", "false", '"nan"', "null", "[60]"])
def test_numbers_must_be_numbers(served: tuple[TestClient, dict[str, str]], value: str) -> None:
    client, keys = served
    record = {
        "type": "L",
        "air_temperature_k": 300.0,
        "process_temperature_k": 310.0,
        "rotational_speed_rpm": 1500.0,
        "torque_nm": 40.0,
        "tool_wear_min": 10,
    }
    text = json.dumps({"records": [record]}).replace("40.0", value)
    answer = client.post(
        "/v1/predict",
        content=text.encode(),
        headers={"X-API-Key": keys["thief"], "content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    ("rate", "burst"),
    [
        (float("nan"), 10.0),
        (float("inf"), 10.0),
        (0.0, 10.0),
        (1e-308, 10.0),  # once accepted: its Retry-After overflowed into a 500
        (1.0, float("nan")),
        (1.0, 1e308),
        (1.0, 0.5),
    ],
)
def test_rates_must_be_finite_and_positive(rate: float, burst: float) -> None:
    with pytest.raises(ConfigError):
        ClientRegistry().add("c", rate_per_s=rate, burst=burst)


def test_client_file_with_strings_as_numbers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    registry = ClientRegistry()
    registry.add("c")
    registry.save(path)
    data = json.loads(path.read_text())
    data["clients"][0]["rate_per_s"] = "50"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="rate_per_s must be a number"):
        ClientRegistry.load(path)
    data["clients"][0]["rate_per_s"] = float("nan")
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="rate_per_s must lie in"):
        ClientRegistry.load(path)


def test_revoke_and_rotate_take_effect_without_restart(kit: Kit, tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    registry = ClientRegistry()
    old_a = registry.add("a", tier=OutputTier.LABEL_ONLY)
    old_b = registry.add("b", tier=OutputTier.LABEL_ONLY)
    registry.save(path)
    service, _ = make_service(kit, f"sqlite:///{tmp_path / 'r.db'}")
    service.clients = ClientRegistry.load(path)
    client = TestClient(create_app(service=service))
    body = {"records": records_from_frame(kit.frames["plant-3"].iloc[:2])}

    def status(key: str) -> int:
        return client.post("/v1/predict", json=body, headers={"X-API-Key": key}).status_code

    assert status(old_a) == status(old_b) == 200
    edit = ClientRegistry.load(path)  # what `guard revoke-client` / `rotate-key` do
    edit.remove("a")
    new_b = edit.rotate("b")
    edit.save(path)
    assert status(old_a) == 401  # revoked
    assert status(old_b) == 401  # rotated away
    assert status(new_b) == 200


def test_remaining_quota_gauge_survives_a_restart(kit: Kit, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    first, keys = make_service(kit, url, quota=1000)
    client = TestClient(create_app(service=first))
    body = {"records": records_from_frame(kit.frames["plant-3"].iloc[:40])}
    assert (
        client.post("/v1/predict", json=body, headers={"X-API-Key": keys["alice"]}).status_code
        == 200
    )
    first.store.close()
    second, _ = make_service(kit, url, quota=1000, keys=keys)
    text = second.metrics.render().decode()
    assert "edgeshield_guard_licence_queries_remaining 960.0" in text
    second.store.close()
