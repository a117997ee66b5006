"""Failure-classifier baseline: the EdgeShield MLP against scikit-learn on the same splits.

Run: ``.venv/bin/python benchmarks/usecase_baseline.py [--splits 3] [--real PATH]``

For each data set (the generated 5-plant fleet, and the real AI4I 2020 file when present) and
each of ``--splits`` stratified 75/25 splits, trains on the same rows with the same physically
meaningful features: the EdgeShield MLP (threshold tuned on held-out training rows), logistic
regression and histogram gradient boosting (scikit-learn defaults at threshold 0.5, and with
the same threshold tuning as the MLP). Prints a table and writes
``benchmarks/results/usecase_baseline.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from edgeshield.usecase import (
    TrainConfig,
    best_f1_threshold,
    failure_metrics,
    feature_matrix,
    labels,
    make_fleet,
    read_uci_csv,
    stratified_split,
    train_classifier,
)

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ai4i2020.csv"


def _sklearn(make: Callable[[], Any], tune: bool, seed: int) -> Callable[..., dict[str, float]]:
    def fit_eval(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
        start = time.perf_counter()
        threshold = 0.5
        if tune:
            fit_rows, val_rows = stratified_split(train, test_fraction=0.2, seed=seed)
            model = make().fit(feature_matrix(fit_rows), labels(fit_rows))
            val_scores = model.predict_proba(feature_matrix(val_rows))[:, 1]
            threshold = best_f1_threshold(labels(val_rows), val_scores)
        else:
            model = make().fit(feature_matrix(train), labels(train))
        seconds = time.perf_counter() - start
        scores = model.predict_proba(feature_matrix(test))[:, 1]
        m = failure_metrics(labels(test), scores, threshold=threshold)
        return {"f1": m.f1, "pr_auc": m.pr_auc, "seconds": seconds}

    return fit_eval


def _mlp(seed: int) -> Callable[..., dict[str, float]]:
    def fit_eval(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
        start = time.perf_counter()
        clf = train_classifier(train, TrainConfig(), seed=seed)
        seconds = time.perf_counter() - start
        m = clf.evaluate(test)
        return {"f1": m.f1, "pr_auc": m.pr_auc, "seconds": seconds}

    return fit_eval


def models(seed: int) -> dict[str, Callable[..., dict[str, float]]]:
    logreg = lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))  # noqa: E731
    hgb = lambda: HistGradientBoostingClassifier(random_state=seed)  # noqa: E731
    return {
        "edgeshield-mlp": _mlp(seed),
        "logistic-regression@0.5": _sklearn(logreg, tune=False, seed=seed),
        "gradient-boosting@0.5": _sklearn(hgb, tune=False, seed=seed),
        "gradient-boosting@tuned": _sklearn(hgb, tune=True, seed=seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    args = parser.parse_args()
    torch.set_num_threads(1)

    datasets: dict[str, pd.DataFrame] = {"generated-fleet": make_fleet(seed=0).combined()}
    if args.real.is_file():
        datasets["real-ai4i2020"] = read_uci_csv(args.real)
    else:
        print(f"real file not found at {args.real}: generated data only")

    runs: list[dict[str, Any]] = []
    for data_name, frame in datasets.items():
        for split in range(args.splits):
            train, test = stratified_split(frame, test_fraction=0.25, seed=split)
            for model_name, fit_eval in models(split).items():
                result = fit_eval(train, test)
                runs.append({"data": data_name, "split": split, "model": model_name, **result})
                print(f"{data_name:16s} split {split} {model_name:26s} F1 {result['f1']:.3f}")

    table = pd.DataFrame(runs).groupby(["data", "model"], sort=False)
    summary = table.agg(
        f1_mean=("f1", "mean"),
        f1_sd=("f1", "std"),
        pr_auc_mean=("pr_auc", "mean"),
        seconds_mean=("seconds", "mean"),
    ).reset_index()
    ratios: dict[str, dict[str, float]] = {}
    for data_name in datasets:
        rows = summary[summary["data"] == data_name].set_index("model")
        mlp = rows.loc["edgeshield-mlp", "f1_mean"]
        ratios[data_name] = {
            "mlp_over_gb_at_0.5": float(mlp / rows.loc["gradient-boosting@0.5", "f1_mean"]),
            "mlp_over_gb_tuned": float(mlp / rows.loc["gradient-boosting@tuned", "f1_mean"]),
        }
    print()
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print()
    for data_name, r in ratios.items():
        print(
            f"{data_name}: MLP F1 / gradient boosting F1 = {r['mlp_over_gb_at_0.5']:.3f} "
            f"(GB at 0.5), {r['mlp_over_gb_tuned']:.3f} (GB tuned); target >= 0.95"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "usecase_baseline.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "usecase_baseline",
                "command": "python benchmarks/usecase_baseline.py --splits " + str(args.splits),
                "machine": {"python": platform.python_version(), "cpu_threads": 1},
                "runs": runs,
                "summary": summary.to_dict(orient="records"),
                "ratios": ratios,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
