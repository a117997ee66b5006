"""Ownership watermark on a schema without declared physics: breast cancer, marked vs honest.

Run: ``.venv/bin/python benchmarks/ownership_schema.py [--seeds 3] [--keys 5]``

scikit-learn's breast-cancer data (569 rows) through the shipped ``breast_cancer`` schema, one
75/25 stratified split. The trigger envelope (:class:`TableEnvelope`) is fitted on the training
rows; 50 triggers, labels balanced by the key. Per owner seed: clean MLP, marked copy
(:func:`embed_watermark`, 95 % trigger accuracy as ``ownership embed`` asks), malignant F1 of
both on the held-out rows, and the fewest trigger queries that reach the stated FPR. 19 null
models (narrow MLPs, logistic regression, random forests; seeds on the training rows) calibrate
the test at FPR 0.05. Honest models (MLPs of other seeds and splits, logistic regression,
random forest) are audited against ``--keys`` fresh keys (:func:`false_positive_audit`).

Prints a table and writes ``benchmarks/results/ownership_schema.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch
from sklearn.datasets import load_breast_cancer

from edgeshield.ownership import (
    EmbedConfig,
    NullModelKind,
    PredictFn,
    WatermarkKey,
    calibrate_null,
    derive_triggers,
    embed_watermark,
    fit_envelope,
    queries_needed,
    train_null_model,
    train_null_models,
    trigger_accuracy,
    verify_ownership,
)
from edgeshield.redteam import false_positive_audit
from edgeshield.usecase import (
    TrainConfig,
    load_schema,
    read_table,
    stratified_split,
    train_classifier,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FPR = 0.05
TRIGGERS = 50
NULLS = 19
KINDS = (NullModelKind.MLP_NARROW, NullModelKind.LOGISTIC, NullModelKind.RANDOM_FOREST)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _key(label: str) -> WatermarkKey:
    return WatermarkKey.from_bytes(hashlib.sha256(label.encode()).digest())


def _rows(schema_name: str) -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "breast_cancer.csv"
        frame.to_csv(path, index=False)
        return read_table(path, load_schema(schema_name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    started = time.perf_counter()
    schema = load_schema("breast_cancer")
    rows = _rows("breast_cancer")
    train, test = stratified_split(rows, seed=0, schema=schema)
    envelope = fit_envelope(train, schema)
    owner = _key("benchmark owner key")
    triggers = derive_triggers(owner, TRIGGERS, envelope=envelope)
    log("training null models")
    nulls = train_null_models(
        {"train": train}, NULLS, kinds=KINDS, epochs=args.epochs, seed=100, schema=schema
    )
    null = calibrate_null(owner, nulls, envelope=envelope, n=TRIGGERS, probes=300, fpr=FPR)
    bound = null.bound()
    central = []
    for seed in range(args.seeds):
        clean = train_classifier(train, TrainConfig(epochs=args.epochs), seed=seed, schema=schema)
        start = time.perf_counter()
        config = EmbedConfig(triggers=TRIGGERS, target_accuracy=0.95, seed=seed)
        marked = embed_watermark(clean, owner, train, envelope=envelope, config=config)
        embed_s = time.perf_counter() - start
        result = verify_ownership(marked, owner, null=null, fpr=FPR)
        row = {
            "seed": seed,
            "clean_f1": clean.evaluate(test).f1,
            "marked_f1": marked.evaluate(test).f1,
            "trigger_accuracy_clean": trigger_accuracy(clean, triggers),
            "trigger_accuracy_marked": trigger_accuracy(marked, triggers),
            "matches": result.matches,
            "p_value": result.p_value,
            "model_p_value": result.model_p_value,
            "owned": result.owned,
            "queries_to_fpr": queries_needed(marked, owner, null=null, target_p=FPR, floor=True),
            "embed_s": embed_s,
        }
        log(json.dumps(row))
        central.append(row)
    log("training honest models")
    honest: dict[str, PredictFn] = {}
    for split_seed, init_seed in ((0, 11), (0, 12), (1, 13), (2, 14)):
        part = stratified_split(rows, seed=split_seed, schema=schema)[0]
        model = train_classifier(
            part, TrainConfig(epochs=args.epochs), seed=init_seed, schema=schema
        )
        honest[f"mlp/split{split_seed}/init{init_seed}"] = model.predict
    for kind in (NullModelKind.LOGISTIC, NullModelKind.RANDOM_FOREST):
        honest[kind.value] = train_null_model(kind, train, seed=21, schema=schema)
    keys = [_key(f"benchmark audit key {i}") for i in range(args.keys)]
    audit = false_positive_audit(
        honest, nulls, keys, envelope=envelope, fpr=FPR, triggers=TRIGGERS, probes=300
    )
    result = {
        "benchmark": "ownership_schema",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": 2},
        "config": {
            "schema": schema.name,
            "rows": {"train": len(train), "test": len(test)},
            "triggers": TRIGGERS,
            "fpr": FPR,
            "null_models": NULLS,
            "epochs": args.epochs,
        },
        "envelope": {
            "columns": len(envelope.to_dict()["columns"]),
            "test_rows_rare": float(envelope.is_rare(test).mean()),
        },
        "null": {
            "rate": bound.rate,
            "rate_upper": bound.rate_upper,
            "overdispersion_upper": bound.overdispersion_upper,
            "p_floor": bound.p_floor,
        },
        "central": central,
        "audit": audit.as_dict(),
        "seconds": time.perf_counter() - started,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ownership_schema.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"{'seed':>4} {'clean F1':>9} {'marked F1':>9} {'trig':>5} {'p':>8} {'queries':>7}")
    for r in central:
        print(
            f"{r['seed']:>4} {r['clean_f1']:>9.4f} {r['marked_f1']:>9.4f} "
            f"{r['trigger_accuracy_marked']:>5.2f} {r['p_value']:>8.3g} {r['queries_to_fpr']!s:>7}"
        )
    print(
        f"null agreement {bound.rate:.1%} (upper {bound.rate_upper:.1%}); honest audit "
        f"{len(audit.false_owned)} OWNED of {audit.pairs} pairs at FPR {FPR}"
    )


if __name__ == "__main__":
    main()
