"""PRADA on the demo's own models: benign false alarms and Jacobian detection, pooled vs centred.

Run: ``.venv/bin/python benchmarks/guard_prada.py [--seeds 0 1 2 3 4 5] [--traces 10]
[--attacks 3]`` (about a minute per model on 2 cores).

Why: ``make demo`` failed 1 run in 4 on its benign client (PRADA ``W`` 0.9481 < 0.95 after 300
queries) because the demo trains with fresh DP noise, so its predicted classes, and with them
PRADA's growing sets, change from run to run. This trains demo models with the demo's own first
two steps (``edgeshield.demo.STEPS``: the default :class:`~edgeshield.demo.DemoConfig`, DP
noise drawn from the seed so that each model is reproducible, no FedAvg comparison), then
replays in process, through ``prada_observe`` with the service's vectors and groups, the demo's
benign client (400 generated rows in batches of 50, ``--traces`` traces per model, the demo's
own ``seed + 501`` first) and the demo's Jacobian attacker (budgets 100, 300, 600, batches of
25, ``--attacks`` attack seeds, answers straight from the model: the attacker's queries, not
its surrogate, are what PRADA sees). Each trace goes through two detectors: the pooled test of
the paper (``centre_groups=False``, ``alpha=1``; the detector before issue 15's item 8) and the
service's default. Prints a table; writes ``benchmarks/results/guard_prada.json``.
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
from edgeshield.guard import PradaConfig, PradaState, SensorRecord, prada_inputs, prada_observe
from edgeshield.guard._schema import records_frame, records_from_frame
from edgeshield.redteam import AttackKind, ExtractionConfig, run_extraction
from edgeshield.redteam._client import ApiAnswers
from edgeshield.usecase import FailureClassifier, GeneratorConfig, feature_matrix, generate

RESULTS = Path(__file__).resolve().parent / "results" / "guard_prada.json"
DETECTORS = {
    "pooled": PradaConfig(centre_groups=False, alpha=1.0),
    "centred": PradaConfig(),
}
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


def _model(seed: int) -> tuple[FailureClassifier, pd.DataFrame]:
    """The demo's model for ``seed`` (its DP noise drawn from the seed) and attacker pool."""
    config = DemoConfig(seed=seed, compare_fedavg=False, reproducible_dp=True)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = DemoContext(config=config, run_dir=Path(tmp), progress=lambda *_: None)
        with ctx.resources:
            for step in STEPS[:2]:
                step(ctx)
        fleet, classifier = ctx.state.fleet, ctx.state.classifier
        assert fleet is not None
        assert classifier is not None
        return classifier, fleet.frames[fleet.plant_ids[-1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--traces", type=int, default=10, help="benign traces per model")
    parser.add_argument("--attacks", type=int, default=3, help="Jacobian attack seeds per model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    models: list[dict[str, Any]] = []
    for seed in args.seeds:
        t0 = time.time()
        classifier, pool = _model(seed)
        eval_frame = generate(GeneratorConfig(rows=3000), seed=seed + 502)
        victim = classifier.predict(eval_frame)
        benign = {}
        for t in range(args.traces):
            rows = generate(GeneratorConfig(rows=400), seed=seed + 501 + 1000 * t)
            trace, _ = _inputs(classifier, rows)
            benign[t] = {n: _replay(trace, 50, c) for n, c in DETECTORS.items()}
        attacks = {}
        for a in range(args.attacks):
            oracle = _Oracle(classifier)
            run_extraction(
                oracle,  # type: ignore[arg-type]
                ExtractionConfig(
                    kind=AttackKind.JACOBIAN, budgets=(100, 300, 600), seed=seed + 7 * a
                ),
                attacker_pool=pool,
                eval_frame=eval_frame,
                victim_eval_labels=victim,
            )
            trace, _ = _inputs(classifier, pd.concat(oracle.frames, ignore_index=True))
            attacks[a] = {n: _replay(trace, 25, c) for n, c in DETECTORS.items()}
        models.append({"seed": seed, "benign": benign, "jacobian": attacks})
        print(f"model seed {seed}: {time.time() - t0:.0f} s", flush=True)
    summary = {}
    print(
        f"\n{'detector':<9} {'benign alarmed':>15} {'lowest benign W':>16} "
        f"{'Jacobian alarm at':>18}"
    )
    for name in DETECTORS:
        benign = [b[name] for m in models for b in m["benign"].values()]
        attacks = [a[name] for m in models for a in m["jacobian"].values()]
        alarms = [a["alarm_at"] for a in attacks]
        caught = [x for x in alarms if x is not None]
        summary[name] = {
            "benign_alarmed": sum(b["alarm_at"] is not None for b in benign),
            "benign_traces": len(benign),
            "lowest_benign_w": min(b["min_w"] for b in benign if b["min_w"] is not None),
            "jacobian_missed": len(alarms) - len(caught),
            "jacobian_attacks": len(alarms),
            "jacobian_alarm_at_max": max(caught) if caught else None,
            "jacobian_alarm_at_median": float(np.median(caught)) if caught else None,
            "highest_attacker_min_w": max(a["min_w"] for a in attacks if a["min_w"] is not None),
        }
        s = summary[name]
        print(
            f"{name:<9} {s['benign_alarmed']:>7} / {s['benign_traces']:<5} "
            f"{s['lowest_benign_w']:>16.4f} {'median ' + str(s['jacobian_alarm_at_median']):>12}, "
            f"max {s['jacobian_alarm_at_max']}, missed {s['jacobian_missed']} / "
            f"{s['jacobian_attacks']}"
        )
    detectors = {n: dataclasses.asdict(c) for n, c in DETECTORS.items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "args": vars(args),
                "detectors": detectors,
                "summary": summary,
                "models": models,
                "seconds": time.time() - started,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
