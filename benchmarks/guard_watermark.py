"""API watermark against filtering thieves (issue 15), in process: no HTTP, same answer rule.

Run: ``.venv/bin/python benchmarks/guard_watermark.py`` (a few minutes on 2 cores).

The victim is the guard benchmark's; the service's answer rule is applied by the real
:class:`ApiWatermark` with the service's per-client flip budget (:class:`ClientCells`: marked
cells honoured for that client flipped, each key a client of its own). Thieves: Knockoff
(natural rows of their plant), the same filtered by a 5-fold cross-validated surrogate, and two
keys (second +0.1 K) keeping the rows both answered alike; each trains the benchmark's fitting
surrogate. Also: the share of benign answers changed, and honest models (trained on each
thief's rows with true labels).
Writes ``benchmarks/results/guard_watermark.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from edgeshield.guard import ApiWatermark, CellKind, ClientCells, verify_api_watermark
from edgeshield.redteam import cross_validated_keep, fidelity, fit_surrogate, two_key_keep
from edgeshield.usecase import (
    FleetConfig,
    GeneratorConfig,
    TrainConfig,
    generate,
    make_fleet,
    train_classifier,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "guard_watermark.json"
SECRET = ("benchmark-watermark-secret-" + "k" * 40).encode()
SIZES = (3000, 20000)


def main() -> None:
    torch.set_num_threads(1)
    t0 = time.time()
    fleet = make_fleet(FleetConfig(plants=5, total_rows=10_000), seed=0)
    train = pd.concat([fleet.frames[p] for p in fleet.plant_ids[:4]], ignore_index=True)
    victim = train_classifier(train, TrainConfig(epochs=30), seed=0)
    mark = ApiWatermark(SECRET)

    def serve(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Answers to a new client asking ``frame`` in order, and its honoured cell kinds."""
        clean = victim.predict(frame).astype(np.int64)
        return ClientCells().serve(mark, clean, mark.frame_cells(frame))

    eval_frame = generate(GeneratorConfig(rows=10_000), seed=99)
    victim_eval = victim.predict(eval_frame)
    served_eval, _ = serve(eval_frame)
    benign_changed = float(np.mean(served_eval != victim_eval))
    print(f"benign answers changed: {100 * benign_changed:.2f} % (target <= 0.5 %)")
    truth_eval = eval_frame["Machine failure"].to_numpy(np.int64)
    rows: list[dict[str, Any]] = []
    for i, size in enumerate(SIZES):
        pool = generate(GeneratorConfig(rows=size), seed=11 + i)
        served, kinds = serve(pool)
        book = kinds != CellKind.NONE
        queries, labels = pool[book].reset_index(drop=True), served[book]
        shifted = pool.assign(**{"Air temperature [K]": pool["Air temperature [K]"] + 0.1})
        thieves = {
            "knockoff": np.ones(size, dtype=bool),
            "filtered (5-fold CV)": cross_validated_keep(pool, served),
            "two keys (+0.1 K)": two_key_keep(served, serve(shifted)[0]),
        }
        truth = np.array(pool["Machine failure"], dtype=np.int64)
        honest = fit_surrogate(pool, truth, hidden=(64, 64), epochs=1000)
        for name, keep in thieves.items():
            kept = pool[keep].reset_index(drop=True)
            surrogate = fit_surrogate(kept, served[keep], hidden=(64, 64), epochs=1000)
            ev = verify_api_watermark(surrogate.predict, queries, labels, watermark=mark)
            fid = fidelity(surrogate.predict(eval_frame), victim_eval, truth_eval)
            row = {
                "queries": size,
                "thief": name,
                "kept": int(keep.sum()),
                "marked_kept": int(np.sum(keep & (kinds == CellKind.MARKED))),
                "marked": int(np.sum(kinds == CellKind.MARKED)),
                "macro_fidelity": fid.macro_agreement,
                "evidence": ev.as_dict(),
            }
            rows.append(row)
            print(
                f"{size:>6} {name:<22} kept {row['kept']:>6} marks kept "
                f"{row['marked_kept']}/{row['marked']} fid {fid.macro_agreement:.3f} "
                f"matched {ev.matches}/{ev.queries} ctrl {ev.control_disagreements}/{ev.controls} "
                f"p={ev.p_value:.3g}"
            )
        hv = verify_api_watermark(honest.predict, queries, labels, watermark=mark)
        rows.append({"queries": size, "thief": "honest (true labels)", "evidence": hv.as_dict()})
        print(f"{size:>6} honest (true labels)   p={hv.p_value:.3g}")
    RESULTS.write_text(
        json.dumps(
            {
                "command": "python benchmarks/guard_watermark.py",
                "benign_changed": benign_changed,
                "target_p": 1e-6,
                "rows": rows,
                "seconds": time.time() - t0,
            },
            indent=2,
            default=float,
        )
    )
    print(f"wrote {RESULTS.relative_to(ROOT)} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0]).parse_args()
    main()
