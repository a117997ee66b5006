"""Synthetic step records of a whole demo run, for the report, verdict and dashboard tests.

The figures have the shape the steps write (``result.json``), with round numbers chosen so
that a test can name the expected sentence; no training runs.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgeshield.demo import DemoConfig, DemoResult, StepRecord


def point(budget: int, queries: int, macro: float, failures: float) -> dict[str, Any]:
    """One point of an extraction curve."""
    return {
        "budget": budget,
        "queries": queries,
        "macro_agreement": macro,
        "failure_agreement": failures,
    }


def _ownership(matches: int, p_value: float, *, owned: bool) -> dict[str, Any]:
    return {
        "queries": 50,
        "matches": matches,
        "p_value": p_value,
        "fpr": 1e-3,
        "owned": owned,
        "null_counts": [3, 5, 4, 6, 2, 5, 4, 3, 5, 4],
        "critical_matches": 14,
    }


def _rounds(f1s: list[float]) -> list[dict[str, Any]]:
    return [
        {
            "round": i,
            "test_f1": f1,
            "plants": {f"plant-{p}": {"f1": f1 - 0.05 * p, "rows": 100} for p in range(1, 4)},
        }
        for i, f1 in enumerate(f1s, 1)
    ]


STEP_FIGURES: dict[str, dict[str, Any]] = {
    "plants": {"rows": 2400, "failures": {"plant-1": 30, "plant-2": 40}},
    "federated": {
        "rounds": _rounds([0.30, 0.41, 0.48]),
        "record_epsilon": 3.1,
        "test": {"f1": 0.48, "pr_auc": 0.5},
        "fedavg": {"test": {"f1": 0.20}, "rounds": _rounds([0.2, 0.2, 0.2]), "seconds": 40.0},
        "seconds": 52.0,
        "trigger_accuracy": 0.98,
        "poisoning": "1 sign-flip plant(s) in federated training",
        "privacy": {"record_dp": False},
    },
    "ledger": {
        "audit": "0xA",
        "registry": "0xB",
        "commitment": "0x" + "ab" * 32,
        "chain": "embedded py-evm",
        "chain_embedded": True,
    },
    "release": {"bundle_bytes": 22_000, "model_digest": "ab" * 32},
    "serve": {
        "refusal": "LicenceError: the licence is for another device",
        "benign_rows": 400,
        "benign_served_differs": 2,
        "benign_f1_served": 0.47,
        "benign_f1_model": 0.48,
        "attacker_alarm_at": 75,
        "attacker_throttled": 0,
        "attacker_refused_at": 50,
        "attacker_watermarked": 1,
        "attacker_points": [point(100, 50, 0.580, 0.30)],
        "undefended_points": [point(100, 100, 0.530, 0.25), point(600, 600, 0.551, 0.28)],
        "undefended_throttled": 0,
        "undefended_refused_at": None,
        "thief_queries": 2000,
        "thief_alarm_at": None,
    },
    "prove": {
        "null_models": 10,
        "released": _ownership(48, 1e-12, owned=True),
        "stolen_fine_tuned": _ownership(40, 1e-9, owned=True),
        "surrogate_triggers": _ownership(6, 0.4, owned=False),
        "api_watermark": {"p_value": 2e-6, "matches": 9, "queries": 12},
        "evidence": "/runs/x/evidence/evidence.md",
        "evidence_html": "evidence/evidence.html",
        "chain": "embedded py-evm",
        "chain_embedded": True,
    },
    "suspend": {"status": 403, "detail": "403: licence suspended"},
}
"""The issue-20 run: the guarded extraction copy (0.580) beat the undefended one (0.551)."""

GAS = {"ledger": 3_000_000, "release": 1_500_000, "prove": 60_000, "suspend": 30_000}
EVENTS = [
    {"contract": "FederatedRoundAudit", "event": "AddPlant", "block": b, "tx": f"0x{b:02x}"}
    for b in range(2, 5)
] + [
    {"contract": "FederatedRoundAudit", "event": "CommitRound", "block": 5, "tx": "0x05"},
    {"contract": "FederatedRoundAudit", "event": "Attest", "block": 6, "tx": "0x06"},
    {"contract": "FederatedRoundAudit", "event": "CloseRound", "block": 7, "tx": "0x07"},
    {"contract": "ModelRegistry", "event": "Register", "block": 8, "tx": "0x08"},
    {"contract": "ModelRegistry", "event": "Commit", "block": 9, "tx": "0x09"},
    {"contract": "ModelLicence", "event": "Accept", "block": 10, "tx": "0x0a"},
    {"contract": "ModelRegistry", "event": "Reveal", "block": 11, "tx": "0x0b"},
    {"contract": "ModelLicence", "event": "Suspend", "block": 12, "tx": "0x0c"},
]


def make_steps(**figures: dict[str, Any]) -> list[StepRecord]:
    """All seven steps; ``figures`` replaces the named steps' figures (a missing key: kept)."""
    merged = {**copy.deepcopy(STEP_FIGURES), **figures}
    return [
        StepRecord(
            key=key,
            title=key.title(),
            outcome=f"{key} held",
            seconds=2.0 + i,
            figures=value,
            gas=GAS.get(key, 0),
        )
        for i, (key, value) in enumerate(merged.items())
    ]


def step_map(steps: list[StepRecord]) -> dict[str, dict[str, Any]]:
    """Steps in the shape :func:`edgeshield.demo._verdict.verdict` reads."""
    return {s.key: {"figures": s.figures, "seconds": s.seconds, "gas": s.gas} for s in steps}


def write_result(
    run_dir: Path, steps: list[StepRecord], *, failed: str | None = None
) -> DemoResult:
    """A run directory with ``result.json`` (as ``run_demo`` writes it) and its result."""
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text(
        json.dumps(
            {
                "steps": [asdict(s) for s in steps],
                "chain_events": EVENTS,
                "seconds": 30.0,
                "failed": failed,
            }
        )
    )
    return DemoResult(
        config=DemoConfig(),
        run_dir=run_dir,
        steps=steps,
        seconds=30.0,
        chain_events=list(EVENTS),
        failed=failed,
    )
