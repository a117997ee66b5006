"""Why the demo trains six plants: bucketed SecAgg+ against a sign-flipping plant, 5 vs 6 plants.

Run: ``.venv/bin/python benchmarks/demo_buckets.py [--repeats 3]``

With buckets of two, five plants form only two buckets (the remainder joins one), and the
median of two bucket means is their mean; six plants form three. Trains the demo's federated
configuration (8 rounds x 3 epochs, SecAgg+ in buckets of 2, median, one sign-flipping plant,
in-process Flower grid; no watermark hook, so only the aggregation is measured) ``--repeats``
times for each fleet size and counts runs whose model collapsed (predicts "failure" for most
test rows). Federated runs are not bit-for-bit repeatable, so the repeats differ. Writes
``benchmarks/results/demo_buckets.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from edgeshield.federated import (
    Aggregator,
    Engine,
    FederatedConfig,
    MaliciousPlant,
    run_federated,
)
from edgeshield.redteam import SignFlip
from edgeshield.usecase import FleetConfig, make_fleet, stratified_split

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for plants in (5, 6):
        fleet = make_fleet(FleetConfig(plants=plants, total_rows=2000 * plants), seed=0)
        config = FederatedConfig(
            plants=plants,
            rounds=8,
            local_epochs=3,
            aggregator=Aggregator.MEDIAN,
            bucket_size=2,
            malicious=(MaliciousPlant(plant=0, behaviour=SignFlip()),),
        )
        test = pd.concat(
            [
                stratified_split(f, test_fraction=config.test_fraction, seed=config.seed)[1]
                for f in fleet.frames.values()
            ],
            ignore_index=True,
        )
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                result = run_federated(config, fleet, tmp, engine=Engine.IN_PROCESS)
            share = float(np.mean(result.classifier.predict(test)))
            row = {
                "plants": plants,
                "buckets": plants // 2,
                "repeat": repeat,
                "f1": result.classifier.evaluate(test).f1,
                "predicted_failure_share": share,
                "collapsed": share > 0.5,
            }
            rows.append(row)
            print(
                f"{plants} plants ({row['buckets']} buckets) run {repeat}: F1 {row['f1']:.3f}, "
                f"predicts failure on {share:.1%} of test rows"
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
                "command": f"python benchmarks/demo_buckets.py --repeats {args.repeats}",
                "runs": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
