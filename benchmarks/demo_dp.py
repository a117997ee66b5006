"""The demo's federated step with and without record-level DP: F1, PR-AUC, epsilon, seconds.

Run: ``.venv/bin/python benchmarks/demo_dp.py [--noise 0 0.8 1.0 1.5] [--rounds 8 16]
[--batch 64] [--rows 12000] [--epochs 3] [--seeds 0 1 2] [--append]``

Runs the demo's own first two steps (``edgeshield.demo.STEPS``: plant data into SQLite, then
federated training with SecAgg+ in buckets of 2, a median, one sign-flipping plant and WAFFLE
at the aggregator) from a :class:`~edgeshield.demo.DemoConfig` that differs from the default
only in ``dp_noise``, ``rounds``, ``batch_size``, ``rows``, ``local_epochs`` and ``seed``,
without the plain-FedAvg comparison run. Noise ``0`` means no DP. Epsilon is the RDP
accountant's, for the worst plant, at the delta of :class:`~edgeshield.federated.RecordDP`
(1e-5). Client-level DP is not in the grid: the federated package accounts it for FedAvg
without bucketing only, and the demo aggregates with a median across buckets.

Each run row says ``fresh_dp_noise``: runs recorded before commit b014466 drew the DP noise
from the seed and their SecAgg+ buckets changed with Flower's random node IDs; later runs use
fresh OS entropy for the noise (the default) and repeatable buckets, so a seed is one draw of
the noise, not a fixed model. Cells of the two kinds are kept apart. Writes
``benchmarks/results/demo_dp.json``.
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


#: The grid's dimensions, in the order of the summary's cells.
_KEY = ("rounds", "local_epochs", "rows", "batch_size", "dp_noise", "fresh_dp_noise")


def _cell(
    noise: float, rounds: int, epochs: int, rows: int, batch: int, seed: int
) -> dict[str, object]:
    config = dataclasses.replace(
        DemoConfig(),
        dp_noise=noise or None,
        rounds=rounds,
        local_epochs=epochs,
        rows=rows,
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
        "fresh_dp_noise": bool(noise) and not config.reproducible_dp,
        "rounds": rounds,
        "local_epochs": epochs,
        "rows": rows,
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
    parser.add_argument("--rows", type=int, nargs="+", default=[DemoConfig().rows])
    parser.add_argument("--epochs", type=int, nargs="+", default=[DemoConfig().local_epochs])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--append", action="store_true", help="add to the runs already in the JSON")
    args = parser.parse_args()
    out = RESULTS / "demo_dp.json"
    earlier = json.loads(out.read_text()) if args.append and out.exists() else {}
    commands: list[str] = earlier.get("commands") or (
        [earlier["command"]] if "command" in earlier else []
    )
    rows: list[dict[str, object]] = []
    for row in earlier.get("runs", []):
        # Runs from before --batch/--rows and commit b014466: batch 64, 12,000 rows, DP noise
        # drawn from the seed.
        rows.append(
            {
                "batch_size": 64,
                "rows": 12_000,
                "fresh_dp_noise": False,
                **row,
            }
        )
    grid = [
        (r, e, n_rows, b, n)
        for r in args.rounds
        for e in args.epochs
        for n_rows in args.rows
        for b in args.batch
        for n in args.noise
    ]
    for rounds, epochs, n_rows, batch, noise in grid:
        for seed in args.seeds:
            key = (rounds, epochs, n_rows, batch, noise or None, bool(noise))
            if any((*(r[k] for k in _KEY), r["seed"]) == (*key, seed) for r in rows):
                continue
            row = _cell(noise, rounds, epochs, n_rows, batch, seed)
            rows.append(row)
            eps = "inf" if row["epsilon"] is None else f"{row['epsilon']:.2f}"
            print(
                f"rounds {rounds:2d} epochs {epochs} rows {n_rows:6d} batch {batch:3d} "
                f"noise {noise:4.2f} seed {seed}: F1 {row['f1']:.3f} "
                f"PR-AUC {row['pr_auc']:.3f} eps {eps} triggers "
                f"{row['trigger_accuracy']:.0%} {row['seconds']:.1f} s",
                flush=True,
            )
    summary: list[dict[str, object]] = []
    print(
        f"{'rounds':>6s} {'ep':>2s} {'rows':>6s} {'batch':>5s} {'noise':>5s} {'fresh':>5s} "
        f"{'epsilon':>8s} {'F1 mean':>8s} {'F1 range':>13s} {'PR-AUC':>7s} {'s/run':>6s}"
    )
    cells = sorted({tuple(r[k] for k in _KEY) for r in rows}, key=lambda c: [x or 0 for x in c])
    for cell in cells:
        mine = [r for r in rows if tuple(r[k] for k in _KEY) == cell]
        f1s = [float(r["f1"]) for r in mine]  # type: ignore[arg-type]
        eps = [r["epsilon"] for r in mine]
        item = {
            **dict(zip(_KEY, cell, strict=True)),
            "runs": len(mine),
            "epsilon_max": None if None in eps else max(eps),  # type: ignore[type-var]
            "f1_mean": statistics.fmean(f1s),
            "f1_min": min(f1s),
            "f1_max": max(f1s),
            "pr_auc_mean": statistics.fmean(float(r["pr_auc"]) for r in mine),  # type: ignore[arg-type]
            "seconds_mean": statistics.fmean(float(r["seconds"]) for r in mine),  # type: ignore[arg-type]
        }
        summary.append(item)
        e = "inf" if item["epsilon_max"] is None else f"{item['epsilon_max']:.2f}"
        rounds, epochs, n_rows, batch, noise, fresh = cell
        print(
            f"{rounds:6d} {epochs:2d} {n_rows:6d} {batch:5d} {float(noise or 0):5.2f} "
            f"{'yes' if fresh else 'no':>5s} {e:>8s} {item['f1_mean']:8.3f} "
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
        + " --rows "
        + " ".join(str(n) for n in args.rows)
        + " --epochs "
        + " ".join(str(e) for e in args.epochs)
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
