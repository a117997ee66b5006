"""The API watermark on a schema without AI4I's sensors: breast cancer, 30 measurements.

Run: ``.venv/bin/python benchmarks/guard_watermark_schema.py`` (a few minutes on 2 cores).

The victim is the classifier trained on 60 % of scikit-learn's breast-cancer rows through the
shipped ``breast_cancer`` schema; the guard's API watermark uses that schema's cells (about a
quarter of a standard deviation per column, 30 columns). The thief holds the other 40 % of the
rows (natural queries) and, to spend a larger budget, the same rows jittered by a fraction of
each column's spread (clipped to the published ranges): Knockoff (trains on every answer) and
filtered (drops what its own 5-fold cross-validated surrogate contradicts). Each surrogate is
tested with ``verify_api_watermark`` on the recorded marked and control queries (each client served
with the service's per-client flip budget, :class:`ClientCells`); so is an
honest model trained on the thief's natural rows with their true labels. Writes
``benchmarks/results/guard_watermark_schema.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from sklearn.datasets import load_breast_cancer

from edgeshield.guard import (
    ApiWatermark,
    CellKind,
    CellLayout,
    ClientCells,
    request_schema,
    verify_api_watermark,
)
from edgeshield.redteam import AttackSpace, cross_validated_keep, fidelity, fit_surrogate
from edgeshield.usecase import TrainConfig, load_schema, train_classifier

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "guard_watermark_schema.json"
SECRET = b"benchmark-schema-watermark-secret-" + b"k" * 40
BUDGETS = (500, 3000)
JITTER = 0.1
"""Standard deviations of each column by which the thief jitters its rows to spend a budget."""


def _rows() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


def _queries(
    natural: pd.DataFrame, size: int, space: AttackSpace, rng: np.random.Generator
) -> pd.DataFrame:
    """The thief's natural rows, then jittered copies of them up to ``size`` queries."""
    return space.jittered(natural, size, spread=JITTER, rng=rng)


def main() -> None:
    torch.set_num_threads(1)
    t0 = time.time()
    schema = load_schema("breast_cancer")
    requests = request_schema(schema)
    space = AttackSpace(requests)
    rows = _rows()
    cut = int(0.6 * len(rows))
    owner_rows, thief_rows = rows.iloc[:cut], rows.iloc[cut:].reset_index(drop=True)
    victim = train_classifier(owner_rows, TrainConfig(epochs=30), seed=0, schema=schema)
    mark = ApiWatermark(SECRET, layout=CellLayout.of(requests))

    def serve(frame: pd.DataFrame) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Answers to a new client asking ``frame`` in order, and its honoured cell kinds."""
        clean = victim.predict(frame).astype(np.int64)
        return ClientCells().serve(mark, clean, mark.frame_cells(frame))

    rng = np.random.default_rng(0)
    probe = _queries(owner_rows.reset_index(drop=True), 10_000, space, rng)  # benign traffic
    served_probe, _ = serve(probe)
    benign_changed = float(np.mean(served_probe != victim.predict(probe)))
    print(f"benign answers changed: {100 * benign_changed:.2f} % (target <= 0.5 %)")
    eval_frame = owner_rows.reset_index(drop=True)  # fidelity on the victim's own rows
    victim_eval = victim.predict(eval_frame).astype(np.int64)
    truth_eval = space.labels(eval_frame)
    honest = fit_surrogate(
        thief_rows, space.labels(thief_rows), hidden=(64, 64), epochs=1000, space=space
    )
    results: list[dict[str, Any]] = []
    for size in BUDGETS:
        queries = _queries(thief_rows, size, space, np.random.default_rng(size))
        served, kinds = serve(queries)
        book = kinds != CellKind.NONE
        recorded, labels = queries[book].reset_index(drop=True), served[book]
        thieves = {
            "knockoff": np.ones(size, dtype=bool),
            "filtered (5-fold CV)": cross_validated_keep(queries, served, space=space),
        }
        # the flip budget honours no cell before a client's 200th answer: a short thief may
        # get no marked answer at all, and then there is nothing to test
        testable = bool(np.any(kinds == CellKind.MARKED))
        for name, keep in thieves.items():
            kept = queries[keep].reset_index(drop=True)
            surrogate = fit_surrogate(kept, served[keep], hidden=(64, 64), epochs=1000, space=space)
            evidence = (
                verify_api_watermark(surrogate.predict, recorded, labels, watermark=mark)
                if testable
                else None
            )
            fid = fidelity(surrogate.predict(eval_frame), victim_eval, truth_eval)
            row = {
                "queries": size,
                "thief": name,
                "kept": int(keep.sum()),
                "marked": int(np.sum(kinds == CellKind.MARKED)),
                "marked_kept": int(np.sum(keep & (kinds == CellKind.MARKED))),
                "macro_fidelity": fid.macro_agreement,
                "evidence": None if evidence is None else evidence.as_dict(),
            }
            results.append(row)
            found = (
                "no marked answer"
                if evidence is None
                else (f"matched {evidence.matches}/{evidence.queries} p={evidence.p_value:.3g}")
            )
            print(
                f"{size:>5} {name:<21} marks {row['marked_kept']}/{row['marked']} fid "
                f"{fid.macro_agreement:.3f} {found}"
            )
        if not testable:
            continue
        check = verify_api_watermark(honest.predict, recorded, labels, watermark=mark)
        results.append(
            {"queries": size, "thief": "honest (true labels)", "evidence": check.as_dict()}
        )
        print(f"{size:>5} honest (true labels)  p={check.p_value:.3g}")
    RESULTS.write_text(
        json.dumps(
            {
                "command": "python benchmarks/guard_watermark_schema.py",
                "schema": schema.name,
                "rows": {"owner": len(owner_rows), "thief": len(thief_rows)},
                "jitter_sd": JITTER,
                "benign_changed": benign_changed,
                "target_p": 1e-6,
                "results": results,
                "seconds": time.time() - t0,
            },
            indent=2,
            default=float,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0]).parse_args()
    main()
