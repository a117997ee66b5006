"""Share of benign answers the API watermark alters, per client, before and after the flip budget.

Run: ``.venv/bin/python benchmarks/guard_watermark_benign.py`` (under a minute).

Why: ``benchmarks/guard.py`` measures the altered share with live servers in about six minutes;
which answers are altered depends only on the cells a client asks (never on the model), so
this replays the same benign clients in process: the guard benchmark's generated traces, the
real AI4I 2020 file when present, its steady machines and its dashboards, with its secret.
"Before" flips every answer in a marked cell (the rule until the budget); "after" is the
service's rule with each client's flip budget (:class:`ClientCells`, the code the service runs).
Writes ``benchmarks/results/guard_watermark_benign.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgeshield.guard import MAX_WATERMARK_RATE, ApiWatermark, CellKind, ClientCells
from edgeshield.usecase import (
    GeneratorConfig,
    dashboard_polls,
    generate,
    read_uci_csv,
    steady_trace,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "guard_watermark_benign.json"
REAL = Path(os.environ.get("EDGESHIELD_SHARED", ROOT.parent / "shared")) / "data" / "ai4i2020.csv"
SECRET = ("benchmark-watermark-secret-" + "k" * 40).encode()
"""The guard benchmark's watermark secret (``benchmarks/guard.py``)."""


def benign_traces(
    benign: int, queries: int, steady: int, dashboards: int
) -> dict[str, tuple[str, pd.DataFrame]]:
    """The guard benchmark's benign clients: name -> (source, trace), built as it builds them."""
    traces = {
        f"benign-{i}": ("generated trace", generate(GeneratorConfig(rows=queries), seed=500 + i))
        for i in range(benign)
    }
    if REAL.is_file():
        traces[f"benign-{benign}"] = ("real AI4I 2020 file", read_uci_csv(REAL).iloc[:queries])
    for i in range(steady):
        traces[f"steady-{i}"] = (
            "steady machine at sensor resolution",
            steady_trace(queries, seed=700 + i),
        )
    for i in range(dashboards):
        traces[f"dashboard-{i}"] = (
            "dashboard re-polling 20 steady machines",
            dashboard_polls(queries // 20, 20, seed=800 + i),
        )
    return traces


def altered(mark: ApiWatermark, trace: pd.DataFrame) -> tuple[int, int]:
    """Answers one client asking ``trace`` gets altered: every marked cell, then the budget's."""
    cells = mark.frame_cells(trace)
    before = sum(mark.kind_of_cell(c) == CellKind.MARKED for c in cells)
    clean = np.zeros(len(trace), dtype=np.int64)  # which answers flip does not depend on them
    served, _ = ClientCells().serve(mark, clean, cells)
    return int(before), int(served.sum())


def main() -> None:
    """Replay the benign clients and write the JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--benign", type=int, default=10, help="generated benign traces")
    parser.add_argument("--benign-queries", type=int, default=10_000)
    parser.add_argument("--steady", type=int, default=5, help="steady machines")
    parser.add_argument("--dashboards", type=int, default=2, help="dashboards of 20 machines")
    args = parser.parse_args()
    t0 = time.time()
    mark = ApiWatermark(SECRET)
    clients: dict[str, dict[str, Any]] = {}
    for name, (source, trace) in benign_traces(
        args.benign, args.benign_queries, args.steady, args.dashboards
    ).items():
        before, after = altered(mark, trace)
        n = len(trace)
        clients[name] = {
            "source": source,
            "queries": n,
            "altered_before": before,
            "altered_after": after,
            "share_before": before / n,
            "share_after": after / n,
        }
        print(f"{name:<12} {source:<40} {100 * before / n:6.2f} % -> {100 * after / n:5.2f} %")
    total = sum(c["queries"] for c in clients.values())
    summary = {
        "queries": total,
        "share_before": sum(c["altered_before"] for c in clients.values()) / total,
        "share_after": sum(c["altered_after"] for c in clients.values()) / total,
        "max_client_share_after": max(c["share_after"] for c in clients.values()),
    }
    print(
        f"benign answers altered: {100 * summary['share_before']:.3f} % -> "
        f"{100 * summary['share_after']:.3f} % (largest client "
        f"{100 * summary['max_client_share_after']:.3f} %; target <= "
        f"{100 * MAX_WATERMARK_RATE:g} %)"
    )
    RESULTS.write_text(
        json.dumps(
            {
                "command": "python benchmarks/guard_watermark_benign.py",
                "target": MAX_WATERMARK_RATE,
                "clients": clients,
                "summary": summary,
                "seconds": time.time() - t0,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS.relative_to(ROOT)} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
