"""The demo's federated step with and without record-level DP: F1, PR-AUC, epsilon, seconds.

Run: ``.venv/bin/python benchmarks/demo_dp.py [--noise 0 0.8 1.0 1.5] [--rounds 8 16]
[--seeds 0 1 2]``

Runs the demo's own first two steps (``edgeshield.demo.STEPS``: plant data into SQLite, then
federated training with SecAgg+ in buckets of 2, a median, one sign-flipping plant and WAFFLE
at the aggregator) from a :class:`~edgeshield.demo.DemoConfig` that differs from the default
only in ``dp_noise``, ``rounds`` and ``seed``, without the plain-FedAvg comparison run. Noise
``0`` means no DP. Epsilon is the RDP accountant's, for the worst plant, at the delta of
:class:`~edgeshield.federated.RecordDP` (1e-5). Client-level DP is not in the grid: the
federated package accounts it for FedAvg without bucketing only, and the demo aggregates with
a median across buckets. Writes ``benchmarks/results/demo_dp.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from edgeshield.demo import STEPS, DemoConfig, DemoContext
from edgeshield.federated import RecordDP

RESULTS = Path(__file__).resolve().parent / "results"


def _cell(noise: float, rounds: int, batch: int, seed: int) -> dict[str, object]:
    config = dataclasses.replace(
        DemoConfig(),
        dp_noise=noise or None,
        rounds=rounds,
        batch_size=batch,
        seed=seed,
        compare_fedavg=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        ctx = DemoContext(config=config, run_dir=Path(tmp), progress=lambda _s, _d: None)
        start = time.perf_counter()
        records = [step(ctx) for step in STEPS[:2]]
        seconds = time.perf_counter() - start
    figures = records[1].figures
    return {
        "dp_noise": noise or None,
        "rounds": rounds,
        "local_epochs": config.local_epochs,
        "batch_size": batch,
        "seed": seed,
        "f1": figures["test"]["f1"],
        "pr_auc": figures["test"]["pr_auc"],
        "epsilon": figures["record_epsilon"],
        "delta": RecordDP().delta if noise else None,
        "trigger_accuracy": figures["trigger_accuracy"],
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.8, 1.0, 1.5])
    parser.add_argument("--rounds", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--batch", type=int, nargs="+", default=[64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--append", action="store_true", help="add to the runs already in the JSON")
    args = parser.parse_args()
    out = RESULTS / "demo_dp.json"
    earlier = json.loads(out.read_text()) if args.append and out.exists() else {}
    commands: list[str] = earlier.get("commands", [earlier["command"]] if earlier else [])
    rows: list[dict[str, object]] = []
    for row in earlier.get("runs", []):
        rows.append({"batch_size": 64, **row})  # runs from before --batch used the default 64
    grid = [(r, b, n) for r in args.rounds for b in args.batch for n in args.noise]
    for rounds, batch, noise in grid:
        for seed in args.seeds:
            if any(
                (r["rounds"], r["batch_size"], r["dp_noise"], r["seed"])
                == (rounds, batch, noise or None, seed)
                for r in rows
            ):
                continue
            row = _cell(noise, rounds, batch, seed)
            rows.append(row)
            eps = "inf" if row["epsilon"] is None else f"{row['epsilon']:.2f}"
            print(
                f"rounds {rounds:2d} batch {batch:3d} noise {noise:4.2f} seed {seed}: "
                f"F1 {row['f1']:.3f} "
                f"PR-AUC {row['pr_auc']:.3f} eps {eps} triggers "
                f"{row['trigger_accuracy']:.0%} {row['seconds']:.1f} s",
                flush=True,
            )
    summary: list[dict[str, object]] = []
    print(
        f"{'rounds':>6s} {'batch':>5s} {'noise':>5s} {'epsilon':>8s} {'F1 mean':>8s} "
        f"{'F1 range':>13s} {'PR-AUC':>7s} {'s/run':>6s}"
    )
    cells = sorted(
        {(int(r["rounds"]), int(r["batch_size"]), float(r["dp_noise"] or 0)) for r in rows}  # type: ignore[call-overload, arg-type]
    )
    for rounds, batch, noise in cells:
        mine = [
            r
            for r in rows
            if (r["rounds"], r["batch_size"], r["dp_noise"]) == (rounds, batch, noise or None)
        ]
        f1s = [float(r["f1"]) for r in mine]  # type: ignore[arg-type]
        eps = [r["epsilon"] for r in mine]
        item = {
            "rounds": rounds,
            "batch_size": batch,
            "dp_noise": noise or None,
            "epsilon_max": None if None in eps else max(eps),  # type: ignore[type-var]
            "f1_mean": statistics.fmean(f1s),
            "f1_min": min(f1s),
            "f1_max": max(f1s),
            "pr_auc_mean": statistics.fmean(float(r["pr_auc"]) for r in mine),  # type: ignore[arg-type]
            "seconds_mean": statistics.fmean(float(r["seconds"]) for r in mine),  # type: ignore[arg-type]
        }
        summary.append(item)
        e = "inf" if item["epsilon_max"] is None else f"{item['epsilon_max']:.2f}"
        print(
            f"{rounds:6d} {batch:5d} {noise:5.2f} {e:>8s} {item['f1_mean']:8.3f} "
            f"{item['f1_min']:6.3f}-{item['f1_max']:.3f} {item['pr_auc_mean']:7.3f} "
            f"{item['seconds_mean']:6.1f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = (
        "python benchmarks/demo_dp.py --noise "
        + " ".join(str(n) for n in args.noise)
        + " --rounds "
        + " ".join(str(r) for r in args.rounds)
        + " --batch "
        + " ".join(str(b) for b in args.batch)
        + " --seeds "
        + " ".join(str(s) for s in args.seeds)
        + (" --append" if args.append else "")
    )
    commands.append(command)
    out.write_text(
        json.dumps(
            {"benchmark": "demo_dp", "commands": commands, "summary": summary, "runs": rows},
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
