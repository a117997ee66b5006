"""Extraction attacks through the guard's HTTP API (FastAPI TestClient, a real httpx client)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guard"))
from guard_kit import Kit, build_kit, make_service

from edgeshield.errors import ConfigError, GuardError
from edgeshield.guard import AlarmAction, GuardConfig, OutputTier, create_app
from edgeshield.redteam import (
    AttackKind,
    ExtractionConfig,
    GuardClient,
    ServiceRefusedError,
    fidelity,
    run_extraction,
)
from edgeshield.usecase import GeneratorConfig, generate

TIERS = {"label": OutputTier.LABEL_ONLY, "full": OutputTier.FULL, "rs": OutputTier.REVERSE_SIGMOID}


@pytest.fixture(scope="module")
def kit() -> Kit:
    return build_kit()


@pytest.fixture(scope="module")
def eval_set(kit: Kit):  # type: ignore[no-untyped-def]
    frame = generate(GeneratorConfig(rows=2000), seed=99)
    return frame, kit.classifier.predict(frame)


@pytest.fixture
def served(kit: Kit, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], object]]:
    service, keys = make_service(kit, f"sqlite:///{tmp_path / 'r.db'}", tiers=TIERS)
    with TestClient(create_app(service=service)) as client:
        yield client, keys, service


def test_fidelity_is_class_balanced() -> None:
    victim = np.r_[np.zeros(96), np.ones(4)].astype(np.int64)
    always_healthy = np.zeros(100, dtype=np.int64)
    f = fidelity(always_healthy, victim, victim)
    assert f.agreement == pytest.approx(0.96)
    assert f.failure_agreement == 0.0
    assert f.macro_agreement == pytest.approx(0.5)
    assert f.surrogate_f1 == 0.0


@pytest.mark.parametrize(
    ("kind", "tier"),
    [
        (AttackKind.KNOCKOFF, "label"),
        (AttackKind.JACOBIAN, "label"),
        (AttackKind.EQUATION_SOLVING, "full"),
    ],
)
def test_attack_learns_something_and_jacobian_is_detected(
    served: tuple[TestClient, dict[str, str], object],
    kit: Kit,
    eval_set,
    kind: AttackKind,
    tier: str,  # type: ignore[no-untyped-def]
) -> None:
    client, keys, service = served
    frame, victim = eval_set
    report = run_extraction(
        GuardClient(client, keys[tier]),
        ExtractionConfig(kind=kind, budgets=(100, 300), epochs=150),
        attacker_pool=kit.frames["plant-3"],
        eval_frame=frame,
        victim_eval_labels=victim,
    )
    assert [p.queries for p in report.points] == [100, 300]
    last = report.points[-1].fidelity
    assert last.failure_agreement > 0.2
    assert last.macro_agreement > 0.55
    assert report.probabilities_seen is (tier == "full")
    state = service.store.client_state(tier)  # type: ignore[attr-defined]
    assert state.queries == 300
    if kind is AttackKind.JACOBIAN:
        assert state.alarm_at is not None
        assert state.alarm_at <= 300
    if kind is AttackKind.KNOCKOFF:
        assert state.alarm_at is None  # natural queries evade PRADA (Atli et al. 2020)


def test_equation_solving_needs_probabilities(
    served: tuple[TestClient, dict[str, str], object],
    kit: Kit,
    eval_set,  # type: ignore[no-untyped-def]
) -> None:
    client, keys, _ = served
    frame, victim = eval_set
    with pytest.raises(GuardError, match="needs probabilities"):
        run_extraction(
            GuardClient(client, keys["label"]),
            ExtractionConfig(kind=AttackKind.EQUATION_SOLVING, budgets=(50,), seed_size=10),
            attacker_pool=kit.frames["plant-3"],
            eval_frame=frame,
            victim_eval_labels=victim,
        )


def test_blocked_attacker_stops_with_refusal(kit: Kit, tmp_path: Path, eval_set) -> None:  # type: ignore[no-untyped-def]
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path / 'b.db'}", config=GuardConfig(alarm_action=AlarmAction.BLOCK)
    )
    frame, victim = eval_set
    with TestClient(create_app(service=service)) as client:
        report = run_extraction(
            GuardClient(client, keys["alice"]),
            ExtractionConfig(kind=AttackKind.JACOBIAN, budgets=(100, 300, 1000), epochs=100),
            attacker_pool=kit.frames["plant-3"],
            eval_frame=frame,
            victim_eval_labels=victim,
        )
    assert report.refused_at is not None
    assert report.refused_at <= 300
    assert "blocked" in report.refusal
    assert report.points[-1].queries == report.refused_at


def test_client_waits_out_rate_limits_then_gives_up(kit: Kit, tmp_path: Path) -> None:
    now = [0.0]
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path / 't.db'}", rate=10.0, burst=20.0, clock=lambda: now[0]
    )
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with TestClient(create_app(service=service)) as client:
        attacker = GuardClient(client, keys["alice"], batch=20, max_wait_s=5.0, sleep=sleep)
        answers = attacker.query(kit.frames["plant-3"].iloc[:60])
        assert answers.labels.shape == (60,)
        assert answers.p_failure is not None
        assert waits == [2.0, 2.0]
        assert attacker.throttled == 2
        with pytest.raises(ServiceRefusedError, match="gave up") as info:
            attacker.query(kit.frames["plant-3"].iloc[:100])
        assert info.value.status_code == 429
        assert info.value.queries == 60


@pytest.mark.parametrize("kwargs", [{"budgets": ()}, {"budgets": (300, 100)}, {"budgets": (5,)}])
def test_config_rejects_bad_budgets(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ExtractionConfig(kind=AttackKind.KNOCKOFF, **kwargs)  # type: ignore[arg-type]


def test_only_the_jacobian_attack_needs_its_seed_within_the_first_budget() -> None:
    """A 20-query Knockoff run is valid; a Jacobian run cannot start from 50 seeds in 20."""
    assert ExtractionConfig(kind=AttackKind.KNOCKOFF, budgets=(20,)).budgets == (20,)
    with pytest.raises(ConfigError, match="seed_size"):
        ExtractionConfig(kind=AttackKind.JACOBIAN, budgets=(20,))
    with pytest.raises(ConfigError, match="seed_size"):
        ExtractionConfig(kind=AttackKind.KNOCKOFF, budgets=(20,), seed_size=0)


def test_an_unreachable_service_is_a_guard_error_naming_it() -> None:
    """A client at a port nobody listens on gets a GuardError naming the address (the CLI's
    one line: ``tests/cli/test_cli_outputs.py``)."""
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url) as http, pytest.raises(GuardError, match=f"reach .*{url}"):
        GuardClient(http, "key").query(generate(GeneratorConfig(rows=5), seed=0))
