"""Public pretraining before federated DP-SGD: the demo's federated step, honest public data.

Run: ``.venv/bin/python benchmarks/pretraining.py [--seeds 0 1 2] [--drift 1 2 4]
[--start none ai4i2020 generated] [--noise 2.0] [--append]``

Each cell runs the demo's own federated step (``edgeshield.demo.STEPS[1]``: 6 plants, 48,000
rows, SecAgg+ in buckets of 2 with a median, one sign-flipping plant, record-level DP-SGD and
WAFFLE at the aggregator) on a fleet drawn with the demo's :class:`FleetConfig` whose physical
spreads (ambient offset, tool-replacement policy, product-mix concentration) are multiplied by
``drift`` (``1`` is the demo's fleet), from one of three starts: a random model (``none``), a
model the vendor pretrained on the real UCI AI4I 2020 file shipped with the package
(``ai4i2020``: real machines, which differ from the generated plants), or on rows generated
from the published physics with the generator's defaults (``generated``: the same family as
the plants, so it flatters the method). Under DP plants send nothing but the model and the
threshold comes from the public source's calibration rows (or the generated reference set for
``none``), so the epsilon printed covers everything a plant sends; it is the same for every
plant (public Poisson rate). For ``drift 1`` every seed also gets the price of each protection
on the same test rows: central training on the pooled training rows (no DP, no attack) and the
federated step without DP. ``f1_ai4i`` is the F1 on the real file's calibration rows (for the
``ai4i2020`` start they picked the threshold, so it is optimistic there). Writes
``benchmarks/results/pretraining.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeshield.demo import STEPS, DemoConfig, DemoContext
from edgeshield.usecase import (
    FleetConfig,
    PlantDatabase,
    PublicPretraining,
    PublicSource,
    TrainConfig,
    make_fleet,
    public_data,
    sqlite_url,
    train_classifier,
)

RESULTS = Path(__file__).resolve().parent / "results"
_KEY = ("start", "drift", "dp_noise")


def _fleet(config: DemoConfig, drift: float) -> Any:
    base = FleetConfig(plants=config.plants, total_rows=config.rows)
    return make_fleet(
        dataclasses.replace(
            base,
            ambient_spread_k=base.ambient_spread_k * drift,
            maintenance_spread_min=base.maintenance_spread_min * drift,
            mix_concentration=base.mix_concentration / drift,
        ),
        seed=config.seed,
    )


def _cell(start: str, drift: float, noise: float, seed: int) -> dict[str, Any]:
    config = dataclasses.replace(
        DemoConfig(),
        dp_noise=noise or None,
        pretrain=None if start == "none" else PublicSource(start),
        seed=seed,
        compare_fedavg=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        ctx = DemoContext(config=config, run_dir=Path(tmp), progress=lambda _s, _d: None)
        fleet = _fleet(config, drift)
        db_url = sqlite_url(Path(tmp) / "plants.db")
        with PlantDatabase(db_url) as db:
            db.write_fleet(fleet.profiles, fleet.frames)
        ctx.artifacts.update(fleet=fleet, db_url=db_url)
        began = time.perf_counter()
        record = STEPS[1](ctx)
        seconds = time.perf_counter() - began
        classifier = ctx.get("classifier")
        calibration = public_data(PublicPretraining(), seed=seed).calibration
        row: dict[str, Any] = {
            "start": start,
            "drift": drift,
            "dp_noise": noise or None,
            "seed": seed,
            "f1": record.figures["test"]["f1"],
            "pr_auc": record.figures["test"]["pr_auc"],
            "f1_ai4i": classifier.evaluate(calibration).f1,
            "epsilon": record.figures["record_epsilon"],
            "trigger_accuracy": record.figures["trigger_accuracy"],
            "seconds": seconds,
        }
        if start == "ai4i2020" and drift == 1 and noise:
            test = ctx.get("test")
            central = train_classifier(
                _train_rows(fleet, config), TrainConfig(epochs=20), seed=seed
            ).evaluate(test)
            row["central_f1"], row["central_pr_auc"] = central.f1, central.pr_auc
    return row


def _train_rows(fleet: Any, config: DemoConfig) -> Any:
    """The plants' training rows, split as the federated run splits them (pooled)."""
    import pandas as pd

    from edgeshield.federated import FederatedConfig
    from edgeshield.usecase import stratified_split

    fraction = FederatedConfig().test_fraction
    parts = [
        stratified_split(fleet.frames[p], test_fraction=fraction, seed=config.seed)[0]
        for p in fleet.plant_ids[: config.plants]
    ]
    return pd.concat(parts, ignore_index=True)


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cells = sorted({tuple(r[k] for k in _KEY) for r in rows}, key=lambda c: (c[0], c[1], c[2] or 0))
    out = []
    for cell in cells:
        mine = [r for r in rows if tuple(r[k] for k in _KEY) == cell]
        f1s = [float(r["f1"]) for r in mine]
        item: dict[str, Any] = {
            **dict(zip(_KEY, cell, strict=True)),
            "runs": len(mine),
            "f1_mean": statistics.fmean(f1s),
            "f1_sd": statistics.stdev(f1s) if len(f1s) > 1 else 0.0,
            "pr_auc_mean": statistics.fmean(float(r["pr_auc"]) for r in mine),
            "f1_ai4i_mean": statistics.fmean(float(r["f1_ai4i"]) for r in mine),
            "epsilon": mine[0]["epsilon"],
            "trigger_accuracy_mean": statistics.fmean(float(r["trigger_accuracy"]) for r in mine),
            "seconds_mean": statistics.fmean(float(r["seconds"]) for r in mine),
        }
        central = [float(r["central_f1"]) for r in mine if "central_f1" in r]
        if central:
            item["central_f1_mean"] = statistics.fmean(central)
            item["central_pr_auc_mean"] = statistics.fmean(
                float(r["central_pr_auc"]) for r in mine if "central_pr_auc" in r
            )
        out.append(item)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--drift", type=float, nargs="+", default=[1.0])
    parser.add_argument("--start", nargs="+", default=["none", "ai4i2020", "generated"])
    parser.add_argument("--noise", type=float, nargs="+", default=[DemoConfig().dp_noise or 0.0])
    parser.add_argument("--append", action="store_true", help="add to the runs already in the JSON")
    args = parser.parse_args()
    out = RESULTS / "pretraining.json"
    earlier = json.loads(out.read_text()) if args.append and out.exists() else {}
    rows: list[dict[str, Any]] = list(earlier.get("runs", []))
    commands: list[str] = list(earlier.get("commands", []))
    for drift in args.drift:
        for noise in args.noise:
            for start in args.start:
                for seed in args.seeds:
                    key = (start, drift, noise or None, seed)
                    if any((*(r[k] for k in _KEY), r["seed"]) == key for r in rows):
                        continue
                    row = _cell(start, drift, noise, seed)
                    rows.append(row)
                    eps = "inf" if row["epsilon"] is None else f"{row['epsilon']:.2f}"
                    extra = f" central {row['central_f1']:.3f}" if "central_f1" in row else ""
                    print(
                        f"start {start:9s} drift {drift:3.1f} noise {noise:3.1f} seed {seed}: "
                        f"F1 {row['f1']:.3f} PR-AUC {row['pr_auc']:.3f} "
                        f"F1(AI4I) {row['f1_ai4i']:.3f} eps {eps} triggers "
                        f"{row['trigger_accuracy']:.0%}{extra} {row['seconds']:.0f} s",
                        flush=True,
                    )
    summary = _summary(rows)
    print(
        f"{'start':9s} {'drift':>5s} {'noise':>5s} {'n':>2s} {'F1':>13s} {'PR-AUC':>6s} {'eps':>5s}"
    )
    for item in summary:
        eps = "inf" if item["epsilon"] is None else f"{item['epsilon']:.2f}"
        print(
            f"{item['start']:9s} {item['drift']:5.1f} {float(item['dp_noise'] or 0):5.1f} "
            f"{item['runs']:2d} {item['f1_mean']:.3f} ± {item['f1_sd']:.3f} "
            f"{item['pr_auc_mean']:6.3f} {eps:>5s}"
        )
    commands.append(
        "python benchmarks/pretraining.py --seeds "
        + " ".join(map(str, args.seeds))
        + " --drift "
        + " ".join(f"{d:g}" for d in args.drift)
        + " --start "
        + " ".join(args.start)
        + " --noise "
        + " ".join(f"{n:g}" for n in args.noise)
        + (" --append" if args.append else "")
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"benchmark": "pretraining", "commands": commands, "summary": summary, "runs": rows},
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
