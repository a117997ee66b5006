"""Positive-class F1 of central vs federated training on two dataset schemas (issue 19).

Run: ``.venv/bin/python benchmarks/schemas_f1.py [--seeds 3]``

For each data set and seed the rows are shuffled, 25 % are held out for testing and the rest
is split at random into 3 plants (``split_rows``, as ``data import --plants 3`` does):

* ``ai4i2020``: the shipped UCI AI4I 2020 file (10,000 rows); the server's encoder comes from
  its generated reference set (no public pretraining: it would train on the test rows);
* ``breast_cancer``: scikit-learn's Wisconsin diagnostic data (569 rows); 100 further rows
  are taken out first as the server's public reference set (``--reference``).

Methods, same rows: central training (``train_classifier`` on the plants' rows pooled),
FedAvg without SecAgg+, FedAvg with SecAgg+, and SecAgg+ with record-level DP-SGD (sigma 1,
Poisson rate 0.1). Federated runs use the in-process engine, 3 plants, 3 rounds of 5 local
epochs. Prints a table and writes ``benchmarks/results/schemas_f1.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgeshield.federated import Engine, FederatedConfig, RecordDP, run_federated
from edgeshield.usecase import (
    DatasetSchema,
    PlantDatabase,
    TrainConfig,
    load_schema,
    split_rows,
    sqlite_url,
    stratified_split,
    train_classifier,
    validate_frame,
)

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("central", "fedavg", "secagg", "secagg-dp")


def _datasets() -> dict[str, tuple[pd.DataFrame, DatasetSchema, int]]:
    """Name -> (rows, schema, public reference rows taken out first)."""
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer(as_frame=True).frame
    cancer["diagnosis"] = cancer.pop("target").map({0: "malignant", 1: "benign"})
    bc = load_schema("breast_cancer")
    ai4i = load_schema("ai4i2020")
    path = resources.files("edgeshield.usecase").joinpath("data/ai4i2020.csv")
    with resources.as_file(path) as csv:
        uci = validate_frame(pd.read_csv(csv), ai4i)
    return {
        "ai4i2020": (uci, ai4i, 0),
        "breast_cancer": (validate_frame(cancer, bc), bc, 100),
    }


def _one(
    name: str, frame: pd.DataFrame, schema: DatasetSchema, n_reference: int, seed: int
) -> dict[str, float]:
    rows = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    reference = rows.iloc[:n_reference].reset_index(drop=True) if n_reference else None
    train, test = stratified_split(rows.iloc[n_reference:], seed=seed, schema=schema)
    plants = split_rows(train, 3, seed=seed, schema=schema)
    out: dict[str, float] = {}
    start = time.perf_counter()
    central = train_classifier(train, TrainConfig(epochs=15), seed=seed, schema=schema)
    out["central"] = central.evaluate(test).f1
    out["central_s"] = time.perf_counter() - start
    base = FederatedConfig(
        plants=3, rounds=3, local_epochs=5, pretraining=None, seed=seed, secure=False
    )
    configs = {
        "fedavg": base,
        "secagg": replace(base, secure=True),
        "secagg-dp": replace(
            base,
            secure=True,
            record_dp=RecordDP(noise_multiplier=1.0, sample_rate=0.1, reproducible=True),
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = sqlite_url(Path(tmp) / "plants.db")
        with PlantDatabase(url, schema=schema) as db:
            for plant, part in plants.items():
                db.write_plant(plant, part)
        for method, config in configs.items():
            start = time.perf_counter()
            result = run_federated(
                config,
                url,
                Path(tmp) / method,
                test_frame=test,
                engine=Engine.IN_PROCESS,
                schema=schema,
                reference=reference,
            )
            out[method] = result.classifier.evaluate(test).f1
            out[f"{method}_s"] = time.perf_counter() - start
            if result.record_epsilon is not None:
                out["epsilon"] = result.record_epsilon
    print(name, seed, {k: round(v, 3) for k, v in out.items()}, flush=True)
    return out


def main() -> None:
    """Run every data set, method and seed; print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for name, (frame, schema, n_reference) in _datasets().items():
        per_seed = [_one(name, frame, schema, n_reference, s) for s in range(args.seeds)]
        runs += [{"data": name, "seed": s, **r} for s, r in enumerate(per_seed)]
        for method in METHODS:
            f1 = np.array([r[method] for r in per_seed])
            summary.append(
                {
                    "data": name,
                    "method": method,
                    "f1_mean": float(f1.mean()),
                    "f1_sd": float(f1.std(ddof=1)) if f1.size > 1 else 0.0,
                    "seconds_mean": float(np.mean([r[f"{method}_s"] for r in per_seed])),
                    "epsilon": per_seed[0].get("epsilon") if method == "secagg-dp" else None,
                }
            )
    print(f"{'data':<14} {'method':<10} {'F1 mean ± sd':>16} {'s':>6}")
    for s in summary:
        print(
            f"{s['data']:<14} {s['method']:<10} {s['f1_mean']:>8.3f} ± {s['f1_sd']:.3f}"
            f" {s['seconds_mean']:>6.1f}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "schemas_f1.json").write_text(
        json.dumps(
            {
                "seeds": args.seeds,
                "plants": 3,
                "rounds": 3,
                "local_epochs": 5,
                "central_epochs": 15,
                "dp": {"noise_multiplier": 1.0, "sample_rate": 0.1, "delta": 1e-5},
                "engine": "in-process",
                "machine": platform.processor() or platform.machine(),
                "summary": summary,
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
