"""PRADA on the demo's and the guard benchmark's models: benign false alarms and Jacobian detection.

Run: ``.venv/bin/python benchmarks/guard_prada.py [--seeds 0 1 2 3 4 5] [--traces 10]
[--attacks 3] [--victim-traces 50]`` (about a minute per demo model and two for the benchmark's
victim, on 2 cores).

Why: ``make demo`` failed 1 run in 4 on its benign client (PRADA ``W`` 0.9481 < 0.95 after 300
queries) because the demo trains with fresh DP noise, so its predicted classes, and with them
PRADA's growing sets, change from run to run; and ``benchmarks/guard.py`` flagged one of its
generated benign traces after 1,700 of 10,000 queries. This trains demo models with the demo's
own first two steps (``edgeshield.demo.STEPS``: the default
:class:`~edgeshield.demo.DemoConfig`, DP noise drawn from the seed so that each model is
reproducible, no FedAvg comparison; and the two reduced demos of ``tests/demo``, whose Jacobian
attacker a weaker test let through), then replays in process, through ``prada_observe`` with the
service's vectors and groups, the demo's benign client (generated rows in batches of 50,
``--traces`` traces per model, the demo's own ``seed + 501`` first) and the demo's Jacobian
attacker (the demo's budgets, batches of 25, ``--attacks`` attack seeds, answers straight from
the model: the attacker's queries, not its surrogate, are what PRADA sees). It also trains
``benchmarks/guard.py``'s victim and replays that benchmark's generated benign traces (10,000
rows in batches of 100, seeds 500 on: ``--victim-traces``; seed 504 is the one it flagged), its
five Jacobian attackers and three equation-solving (uniform random) attackers. Each trace goes
through three detectors: the pooled test of the paper (``centre_groups=False``, ``alpha=1``,
no fence), the group-centred test without the far-out fence (the service's default before the
fence) and the service's default. Prints a table; writes ``benchmarks/results/guard_prada.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from edgeshield.demo import STEPS, DemoConfig, DemoContext
from edgeshield.federated import Engine
from edgeshield.guard import PradaConfig, PradaState, SensorRecord, prada_inputs, prada_observe
from edgeshield.guard._schema import records_frame, records_from_frame
from edgeshield.redteam import AttackKind, ExtractionConfig, run_extraction
from edgeshield.redteam._client import ApiAnswers
from edgeshield.usecase import (
    FailureClassifier,
    FleetConfig,
    GeneratorConfig,
    TrainConfig,
    feature_matrix,
    generate,
    make_fleet,
    train_classifier,
)

RESULTS = Path(__file__).resolve().parent / "results" / "guard_prada.json"
DETECTORS = {
    "pooled": PradaConfig(centre_groups=False, alpha=1.0, fence=None),
    "centred": PradaConfig(fence=None),
    "fenced": PradaConfig(),
}
REDUCED = {
    "reduced demo, DP 0.3 (test_demo_chain)": {"attack_budget": 300, "dp_noise": 0.3},
    "reduced demo, no DP (test_demo_rpc)": {"attack_budget": 600, "dp_noise": None},
}
"""The two reduced demos of tests/demo (their plants, rows and rounds; seed 0)."""
Trace = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]


def _inputs(classifier: FailureClassifier, frame: pd.DataFrame) -> tuple[Trace, Any]:
    """What the service feeds PRADA for these rows (through the API's record schema)."""
    records = [SensorRecord.model_validate(r) for r in records_from_frame(frame)]
    encoded = classifier.encoder.transform_matrix(feature_matrix(records_frame(records)))
    p = classifier.model.predict_proba(encoded)
    labels = (p >= classifier.threshold).astype(np.int64)
    return prada_inputs(encoded, labels), p


class _Oracle:
    """The attacker's view of the full tier, in process; records every query."""

    def __init__(self, classifier: FailureClassifier) -> None:
        self.classifier = classifier
        self.frames: list[pd.DataFrame] = []
        self.throttled = 0

    def query(self, frame: pd.DataFrame) -> ApiAnswers:
        self.frames.append(frame.reset_index(drop=True))
        _, p = _inputs(self.classifier, frame)
        labels = (p >= self.classifier.threshold).astype(np.int64)
        return ApiAnswers(labels=labels, p_failure=p)


def _replay(trace: Trace, batch: int, config: PradaConfig) -> dict[str, Any]:
    vectors, groups = trace
    state = PradaState(dim=vectors.shape[1], window=config.window)
    ws = []
    for i in range(0, len(vectors), batch):
        update = prada_observe(state, vectors[i : i + batch], groups[i : i + batch], config)
        if update.w is not None:
            ws.append(update.w)
    return {"alarm_at": state.alarm_at, "min_w": min(ws) if ws else None}


def _model(config: DemoConfig) -> tuple[FailureClassifier, pd.DataFrame]:
    """The demo's model for ``config`` and its attacker pool."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx = DemoContext(config=config, run_dir=Path(tmp), progress=lambda *_: None)
        with ctx.resources:
            for step in STEPS[:2]:
                step(ctx)
        fleet, classifier = ctx.state.fleet, ctx.state.classifier
        assert fleet is not None
        assert classifier is not None
        return classifier, fleet.frames[fleet.plant_ids[-1]]


def _attack_trace(
    classifier: FailureClassifier,
    kind: AttackKind,
    budgets: tuple[int, ...],
    seed: int,
    pool: pd.DataFrame,
    eval_frame: pd.DataFrame,
) -> Trace:
    """The queries of one extraction attack, answered by the model in process."""
    oracle = _Oracle(classifier)
    run_extraction(
        oracle,  # type: ignore[arg-type]
        ExtractionConfig(kind=kind, budgets=budgets, seed=seed),
        attacker_pool=pool,
        eval_frame=eval_frame,
        victim_eval_labels=classifier.predict(eval_frame),
    )
    trace, _ = _inputs(classifier, pd.concat(oracle.frames, ignore_index=True))
    return trace


def _demo(name: str, config: DemoConfig, traces: int, attacks: int) -> dict[str, Any]:
    """One demo model: its benign client's traces and its Jacobian attacker, per detector."""
    t0 = time.time()
    classifier, pool = _model(config)
    eval_frame = generate(GeneratorConfig(rows=3000), seed=config.seed + 502)
    benign = {}
    for t in range(traces):
        rows = generate(
            GeneratorConfig(rows=config.benign_queries), seed=config.seed + 501 + 1000 * t
        )
        trace, _ = _inputs(classifier, rows)
        benign[t] = {n: _replay(trace, 50, c) for n, c in DETECTORS.items()}
    budgets = (*(b for b in (100, 300) if b < config.attack_budget), config.attack_budget)
    jacobian = {}
    for a in range(attacks):
        trace = _attack_trace(
            classifier, AttackKind.JACOBIAN, budgets, config.seed + 7 * a, pool, eval_frame
        )
        jacobian[a] = {n: _replay(trace, 25, c) for n, c in DETECTORS.items()}
    print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    return {"model": name, "seed": config.seed, "benign": benign, "jacobian": jacobian}


def _victim(traces: int) -> dict[str, Any]:
    """benchmarks/guard.py's victim and clients: 10,000-row benign traces, attackers."""
    t0 = time.time()
    fleet = make_fleet(FleetConfig(plants=5, total_rows=10_000), seed=0)
    train = pd.concat([fleet.frames[p] for p in fleet.plant_ids[:4]], ignore_index=True)
    classifier = train_classifier(train, TrainConfig(epochs=30), seed=0)
    pool = fleet.frames[fleet.plant_ids[4]]
    eval_frame = generate(GeneratorConfig(rows=10_000), seed=99)
    benign = {}
    for i in range(traces):
        trace, _ = _inputs(classifier, generate(GeneratorConfig(rows=10_000), seed=500 + i))
        benign[500 + i] = {n: _replay(trace, 100, c) for n, c in DETECTORS.items()}
    jacobian, equation = {}, {}
    for s in range(5):
        trace = _attack_trace(
            classifier, AttackKind.JACOBIAN, (100, 300, 1000), s, pool, eval_frame
        )
        jacobian[s] = {n: _replay(trace, 100, c) for n, c in DETECTORS.items()}
    for s in range(3):
        trace = _attack_trace(
            classifier, AttackKind.EQUATION_SOLVING, (100, 300, 1000, 3000), s, pool, eval_frame
        )
        equation[s] = {n: _replay(trace, 100, c) for n, c in DETECTORS.items()}
    print(f"benchmarks/guard.py's victim: {time.time() - t0:.0f} s", flush=True)
    return {
        "model": "benchmarks/guard.py victim",
        "benign": benign,
        "jacobian": jacobian,
        "equation_solving": equation,
    }


def _summary(models: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """One detector over some models: benign alarms, lowest benign W, Jacobian delays."""
    benign = [b[name] for m in models for b in m["benign"].values()]
    attacks = [a[name] for m in models for a in m["jacobian"].values()]
    alarms = [a["alarm_at"] for a in attacks]
    caught = [x for x in alarms if x is not None]
    out = {
        "benign_alarmed": sum(b["alarm_at"] is not None for b in benign),
        "benign_alarms_at": [b["alarm_at"] for b in benign if b["alarm_at"] is not None],
        "benign_traces": len(benign),
        "lowest_benign_w": min(b["min_w"] for b in benign if b["min_w"] is not None),
        "jacobian_alarm_at": alarms,
        "jacobian_missed": len(alarms) - len(caught),
        "jacobian_attacks": len(alarms),
        "jacobian_alarm_at_max": max(caught) if caught else None,
        "jacobian_alarm_at_median": float(np.median(caught)) if caught else None,
        "highest_attacker_min_w": max(a["min_w"] for a in attacks if a["min_w"] is not None),
    }
    equation = [e[name]["alarm_at"] for m in models for e in m.get("equation_solving", {}).values()]
    if equation:
        out["equation_solving_alarm_at"] = equation
    return out


def _print(title: str, summary: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(
        f"{'detector':<9} {'benign alarmed':>15} {'lowest benign W':>16} {'Jacobian alarm at':>18}"
    )
    for name, s in summary.items():
        print(
            f"{name:<9} {s['benign_alarmed']:>7} / {s['benign_traces']:<5} "
            f"{s['lowest_benign_w']:>16.4f} {'median ' + str(s['jacobian_alarm_at_median']):>12}, "
            f"max {s['jacobian_alarm_at_max']}, missed {s['jacobian_missed']} / "
            f"{s['jacobian_attacks']}"
            + (
                f"; equation solving {s['equation_solving_alarm_at']}"
                if "equation_solving_alarm_at" in s
                else ""
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--traces", type=int, default=10, help="benign traces per demo model")
    parser.add_argument("--attacks", type=int, default=3, help="Jacobian attack seeds per model")
    parser.add_argument(
        "--victim-traces", type=int, default=50, help="benchmarks/guard.py benign traces"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    demos: list[dict[str, Any]] = []
    for seed in args.seeds:
        config = DemoConfig(seed=seed, compare_fedavg=False, reproducible_dp=True)
        demos.append(_demo(f"demo seed {seed}", config, args.traces, args.attacks))
    reduced: list[dict[str, Any]] = []
    for name, changes in REDUCED.items():
        config = DemoConfig(
            plants=6,
            rows=2400,
            rounds=2,
            local_epochs=1,
            null_models=10,
            thief_queries=5000,
            benign_queries=200,
            compare_fedavg=False,
            reproducible_dp=True,
            engine=Engine.IN_PROCESS,
            seed=0,
            **changes,  # type: ignore[arg-type]
        )
        reduced.append(_demo(name, config, args.traces, args.attacks))
    victim = _victim(args.victim_traces)
    summary = {
        "demo": {n: _summary(demos, n) for n in DETECTORS},
        "reduced_demo": {n: _summary(reduced, n) for n in DETECTORS},
        "victim": {n: _summary([victim], n) for n in DETECTORS},
    }
    _print(f"demo models, seeds {args.seeds}", summary["demo"])
    _print("reduced demos (tests/demo), seed 0", summary["reduced_demo"])
    _print("benchmarks/guard.py's victim, 10,000-query traces", summary["victim"])
    for name in DETECTORS:
        at = [m["jacobian"][0][name]["alarm_at"] for m in reduced]
        print(f"reduced demos' own attacker (seed 0), {name}: alarm at {at}")
    detectors = {n: dataclasses.asdict(c) for n, c in DETECTORS.items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "args": vars(args),
                "detectors": detectors,
                "summary": summary,
                "models": [*demos, *reduced, victim],
                "seconds": time.time() - started,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
