"""Why the demo trains six plants: bucketed SecAgg+ against a sign-flipping plant, 5 vs 6 plants.

Run: ``.venv/bin/python benchmarks/demo_buckets.py [--seeds 0 1 2]``

With buckets of two, five plants form only two buckets (the remainder joins one), and the
median of two bucket means is their mean; six plants form three. Trains the demo's federated
configuration (8 rounds x 3 epochs, SecAgg+ in buckets of 2, median, one sign-flipping plant,
in-process Flower grid; no watermark hook, so only the aggregation is measured) once per seed
(fleet and training) for each fleet size and counts runs whose model collapsed: it calls
"failure" on more than five times as many test rows as actually fail, which no maintenance team
could act on. Without DP one seed gives one model on the in-process grid, so repeats need
different seeds. Writes ``benchmarks/results/demo_buckets.json``.

Since issue 13 ``FederatedConfig`` refuses a median over fewer than three buckets, so the
five-plant configuration is reported as refused instead of trained (the JSON in results/ keeps
the measurement that motivated the refusal).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from edgeshield.errors import ConfigError
from edgeshield.federated import (
    Aggregator,
    Engine,
    FederatedConfig,
    MaliciousPlant,
    run_federated,
)
from edgeshield.redteam import SignFlip
from edgeshield.usecase import MACHINE_FAILURE, FleetConfig, make_fleet, stratified_split

RESULTS = Path(__file__).resolve().parent / "results"
#: A model "collapsed" when it calls failure on more than this many times the real failure rate.
COLLAPSE_FACTOR = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for plants in (5, 6):
        for seed in args.seeds:
            fleet = make_fleet(FleetConfig(plants=plants, total_rows=2000 * plants), seed=seed)
            try:
                config = FederatedConfig(
                    plants=plants,
                    rounds=8,
                    local_epochs=3,
                    aggregator=Aggregator.MEDIAN,
                    bucket_size=2,
                    malicious=(MaliciousPlant(plant=0, behaviour=SignFlip()),),
                    seed=seed,
                )
            except ConfigError as exc:
                print(f"{plants} plants seed {seed}: refused ({exc})")
                continue
            test = pd.concat(
                [
                    stratified_split(f, test_fraction=config.test_fraction, seed=config.seed)[1]
                    for f in fleet.frames.values()
                ],
                ignore_index=True,
            )
            with tempfile.TemporaryDirectory() as tmp:
                result = run_federated(config, fleet, tmp, engine=Engine.IN_PROCESS)
            share = float(np.mean(result.classifier.predict(test)))
            actual = float(np.mean(test[MACHINE_FAILURE]))
            row = {
                "plants": plants,
                "buckets": plants // 2,
                "seed": seed,
                "f1": result.classifier.evaluate(test).f1,
                "predicted_failure_share": share,
                "actual_failure_share": actual,
                "collapsed": share > COLLAPSE_FACTOR * actual,
            }
            rows.append(row)
            print(
                f"{plants} plants ({row['buckets']} buckets) seed {seed}: F1 {row['f1']:.3f}, "
                f"predicts failure on {share:.1%} of test rows ({actual:.1%} fail)"
            )
    for plants in (5, 6):
        mine = [r for r in rows if r["plants"] == plants]
        collapsed = sum(bool(r["collapsed"]) for r in mine)
        print(f"{plants} plants: {collapsed} of {len(mine)} runs collapsed")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "demo_buckets.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "demo_buckets",
                "command": "python benchmarks/demo_buckets.py --seeds "
                + " ".join(str(seed) for seed in args.seeds),
                "collapse_factor": COLLAPSE_FACTOR,
                "runs": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
