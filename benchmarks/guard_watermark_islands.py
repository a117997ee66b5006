"""Marks as islands deep in confident territory, probed by the owner (issue 15, item 4).

Run: ``.venv/bin/python benchmarks/guard_watermark_islands.py`` (about 20 minutes on 2 cores;
``--queries 3000 --keys 5`` for the short half).

Why: the keyed-cell watermark flips isolated answers; a marked cell holds one or two of a
thief's rows, so a thief that drops the answers its own cross-validated surrogate contradicts
removes every mark (docs/guard.md, "Limits"). The idea measured here: coarser keyed regions
(the product type and a grid with keyed offsets, ``--widths``), so that a thief has several
rows in each marked region it touches, but only answers the clean model is confident about
(``p(failure) < --confident``, deep healthy territory) are flipped, to "failure", so that no
answer near the boundary changes. A region is marked iff ``HMAC(secret, region) < --rate``;
every other region is a control. The owner tests the regions the suspect's client touched: in
each it asks the suspect about probe rows the clean model is confident on
(``--probe-confident``) and scores the region "disagrees" if the suspect says "failure" on at
least half of them; a one-sided hypergeometric test (marked vs control regions) follows. Three
probe rules are compared: the client's recorded rows themselves, each recorded row jittered
(``--jitter`` probes, a quarter of the region's width per input), and uniform rows in the
region's box ("dense probing"). A fourth test ("deep", added after a first run showed that
the thieves' disagreements on controls were single rows with clean p between 1e-3 and 1e-2):
recorded rows with clean ``p < --deep`` only, regions with at least two of them, and a strict
majority. Without the key, marked vs control is a keyed coin, so the test
is valid for any model that never saw the API; it is checked on honest models (an MLP on the
thief's rows with true labels, constant answers) over ``--audit-keys`` keys.

The victim, pools, thieves (Knockoff, the 5-fold cross-validated filter, two keys +0.1 K) and
surrogates are ``benchmarks/guard_watermark.py``'s; each size is tried with ``--keys`` keys.
Also reported per key: the smallest p the key allows (every marked region reproduced, no
control), the share of benign answers changed (10,000 generated rows), and steady machines
(``--steady`` operating points from those rows, ``--readings`` readings each at 0.1 K / 5 rpm /
0.5 Nm noise): the share of machines with flipped answers and the share of their answers
flipped. Writes ``benchmarks/results/guard_watermark_islands.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from scipy import stats

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
RESULTS = ROOT / "benchmarks" / "results" / "guard_watermark_islands.json"
NUMERIC = (
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
)
Predict = Callable[[pd.DataFrame], npt.NDArray[np.int64]]


class Islands:
    """Keyed regions; confident answers in marked regions are flipped to "failure"."""

    def __init__(self, secret: bytes, widths: tuple[float, ...], rate: float) -> None:
        self.secret, self.rate = secret, rate
        self.widths = np.asarray(widths, dtype=np.float64)
        self.offsets = np.array([self._u(f"offset/{i}".encode()) for i in range(len(widths))])
        self.offsets *= self.widths

    def _u(self, message: bytes) -> float:
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def regions(self, frame: pd.DataFrame) -> list[str]:
        """Region of each row: product type and the binned numeric inputs."""
        x = frame.loc[:, list(NUMERIC)].to_numpy(np.float64)
        bins = np.floor((x + self.offsets) / self.widths).astype(np.int64)
        return [
            f"{t}|" + ",".join(map(str, b))
            for t, b in zip(frame["Type"].astype(str), bins, strict=True)
        ]

    def marked(self, region: str) -> bool:
        """Whether a region is marked (else a control)."""
        return self._u(b"region/" + region.encode()) < self.rate

    def box(self, region: str) -> tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Product type and the lower/upper corners of a region."""
        kind, bins = region.split("|")
        low = np.array([int(b) for b in bins.split(",")]) * self.widths - self.offsets
        return kind, low, low + self.widths


Probes = tuple[list[str], pd.DataFrame, npt.NDArray[np.int64]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, nargs="+", default=[3000, 20000])
    parser.add_argument("--keys", type=int, nargs="+", default=[5, 2], help="keys per size")
    parser.add_argument("--audit-keys", type=int, default=100, help="keys for the honest audit")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rate", type=float, default=0.005)
    parser.add_argument("--confident", type=float, default=0.01)
    parser.add_argument("--probe-confident", type=float, default=0.01)
    parser.add_argument(
        "--deep", type=float, default=0.001, help="the deep variant's probe bound (recorded rows)"
    )
    parser.add_argument("--jitter", type=int, default=16)
    parser.add_argument("--steady", type=int, default=500, help="steady machines")
    parser.add_argument("--readings", type=int, default=20, help="readings per steady machine")
    parser.add_argument(
        "--widths", type=float, nargs=5, action="append", help="region widths (5 sensors)"
    )
    args = parser.parse_args()
    widths_list = args.widths or [[3.0, 3.0, 150.0, 6.0, 40.0], [2.5, 2.5, 120.0, 5.0, 30.0]]
    torch.set_num_threads(1)
    t0 = time.time()
    fleet = make_fleet(FleetConfig(plants=5, total_rows=10_000), seed=0)
    train = pd.concat([fleet.frames[p] for p in fleet.plant_ids[:4]], ignore_index=True)
    victim = train_classifier(train, TrainConfig(epochs=30), seed=0)
    eval_frame = generate(GeneratorConfig(rows=10_000), seed=99)
    victim_eval = victim.predict(eval_frame).astype(np.int64)
    truth_eval = eval_frame["Machine failure"].to_numpy(np.int64)
    pools = [generate(GeneratorConfig(rows=n), seed=11 + i) for i, n in enumerate(args.queries)]
    rng = np.random.default_rng(5)
    pool_dtypes = eval_frame.dtypes

    def confident(frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        return np.asarray(victim.predict_proba(frame) < args.confident)

    def serve(frame: pd.DataFrame, wm: Islands) -> npt.NDArray[np.int64]:
        clean = victim.predict(frame).astype(np.int64)
        hit = np.array([wm.marked(r) for r in wm.regions(frame)]) & confident(frame)
        return np.where(hit, 1, clean)

    def probes(wm: Islands, pool: pd.DataFrame, rule: str, bound: float | None = None) -> Probes:
        """Probe rows (confident ones only) of the regions the client touched, and their index."""
        regions = wm.regions(pool)
        names = sorted(set(regions))
        index = {r: i for i, r in enumerate(names)}
        owner = np.array([index[r] for r in regions])
        x = pool.loc[:, list(NUMERIC)].to_numpy(np.float64)
        if rule == "recorded":
            frame, idx = pool.reset_index(drop=True), owner
        else:
            boxes = [wm.box(r) for r in names]
            low = np.array([b[1] for b in boxes])
            high = np.array([b[2] for b in boxes])
            if rule == "jittered":
                idx = np.repeat(owner, args.jitter)
                step = rng.normal(0, 0.25, (len(idx), x.shape[1])) * wm.widths
                xs = np.clip(np.repeat(x, args.jitter, 0) + step, low[idx], high[idx] - 1e-6)
            else:
                idx = np.repeat(np.arange(len(names)), args.jitter * 2)
                xs = rng.uniform(low[idx], high[idx])
            frame = pd.DataFrame(xs, columns=list(NUMERIC))
            frame.insert(0, "Type", np.array([b[0] for b in boxes])[idx])
        limit = args.probe_confident if bound is None else bound
        sure = np.asarray(victim.predict_proba(frame) < limit)
        return names, frame[sure].reset_index(drop=True), np.asarray(idx)[sure]

    def test(
        predict: Predict, wm: Islands, probe_set: Probes, *, min_rows: int = 1, strict: bool = False
    ) -> dict[str, Any]:
        """Hypergeometric test over regions: marked vs control regions the suspect says failure."""
        names, frame, idx = probe_set
        said = predict(frame).astype(np.float64)
        count = np.bincount(idx, minlength=len(names))
        seen = count >= min_rows
        share = np.bincount(idx, weights=said, minlength=len(names))[seen] / count[seen]
        marked = np.array([wm.marked(r) for r, s in zip(names, seen, strict=True) if s])
        disagrees = share > 0.5 if strict else share >= 0.5
        n, m = len(marked), int(marked.sum())
        k, total = int(np.sum(disagrees & marked)), int(disagrees.sum())
        p = float(stats.hypergeom.sf(k - 1, n, total, m)) if k else 1.0
        return {
            "marked": m,
            "matched": k,
            "controls": n - m,
            "control_disagree": total - k,
            "p": p,
            # every marked region reproduced and no control: the smallest p this key allows
            "best_possible_p": float(stats.hypergeom.sf(m - 1, n, m, m)) if m else 1.0,
        }

    rules = ("recorded", "jittered", "box")
    rows: list[dict[str, Any]] = []
    audit_pool = pools[0]
    honest_models: dict[str, Predict] = {
        "honest MLP (true labels)": fit_surrogate(
            audit_pool,
            audit_pool["Machine failure"].to_numpy(np.int64),
            hidden=(64, 64),
            epochs=1000,
        ).predict,
        "constant failure": lambda f: np.ones(len(f), dtype=np.int64),
        "constant healthy": lambda f: np.zeros(len(f), dtype=np.int64),
    }
    for widths in widths_list:
        w = tuple(widths)
        for pool, n_keys in zip(pools, args.keys, strict=True):
            shifted = pool.assign(**{"Air temperature [K]": pool["Air temperature [K]"] + 0.1})
            clean_pool = victim.predict(pool).astype(np.int64)
            for key in range(n_keys):
                wm = Islands(f"islands-key-{key}-".encode() + b"k" * 40, w, args.rate)
                changed = float(np.mean(serve(eval_frame, wm) != victim_eval))
                served = serve(pool, wm)
                flips = served != clean_pool
                thieves = {
                    "knockoff": np.ones(len(pool), dtype=np.bool_),
                    "filtered (5-fold CV)": cross_validated_keep(pool, served),
                    "two keys (+0.1 K)": two_key_keep(served, serve(shifted, wm)),
                }
                sets = {rule: probes(wm, pool, rule) for rule in rules}
                deep = probes(wm, pool, "recorded", args.deep)
                regions = wm.regions(pool)
                for name, keep in thieves.items():
                    model = fit_surrogate(
                        pool[keep].reset_index(drop=True),
                        served[keep],
                        hidden=(64, 64),
                        epochs=1000,
                    )
                    row: dict[str, Any] = {
                        "widths": w,
                        "queries": len(pool),
                        "key": key,
                        "benign_changed": changed,
                        "suspect": name,
                        "flips": int(flips.sum()),
                        "flips_kept": int(np.sum(flips & keep)),
                        "flipped_regions": len(
                            {r for r, f in zip(regions, flips, strict=True) if f}
                        ),
                        "macro_fidelity": fidelity(
                            model.predict(eval_frame), victim_eval, truth_eval
                        ).macro_agreement,
                        **{rule: test(model.predict, wm, sets[rule]) for rule in rules},
                        "recorded_deep": test(model.predict, wm, deep, min_rows=2, strict=True),
                    }
                    rows.append(row)
                    print(
                        f"{w} {len(pool)} key {key} changed {100 * changed:.2f}% {name:<20} "
                        f"flips kept {row['flips_kept']}/{row['flips']} "
                        f"({row['flipped_regions']} regions) "
                        + " ".join(
                            f"{rule}: {row[rule]['matched']}/{row[rule]['marked']} "
                            f"ctrl {row[rule]['control_disagree']}/{row[rule]['controls']} "
                            f"p={row[rule]['p']:.2g} (best {row[rule]['best_possible_p']:.1g})"
                            for rule in [*rules, "recorded_deep"]
                        ),
                        flush=True,
                    )
        # honest audit over many keys (the models do not depend on the key), benign cost
        audit: dict[str, list[float]] = {name: [] for name in honest_models}
        audit_deep: dict[str, list[float]] = {name: [] for name in honest_models}
        changes: list[float] = []
        steady_hit: list[float] = []
        steady_share: list[float] = []
        points = eval_frame.sample(args.steady, random_state=3).reset_index(drop=True)
        readings = points.loc[points.index.repeat(args.readings)].reset_index(drop=True)
        noise = rng.normal(0, 1, (len(readings), len(NUMERIC))) * np.array([0.1, 0.1, 5, 0.5, 0])
        noisy = readings.loc[:, list(NUMERIC)].to_numpy(np.float64) + noise
        for j, column in enumerate(NUMERIC):  # the sensors' resolution: 0.1 K, 1 rpm, 0.1 Nm
            readings[column] = np.round(noisy[:, j], 0 if readings[column].dtype.kind == "i" else 1)
            readings[column] = readings[column].astype(pool_dtypes[column])
        steady_clean = victim.predict(readings).astype(np.int64)
        for key in range(args.audit_keys):
            wm = Islands(f"audit-key-{key}-".encode() + b"k" * 40, w, args.rate)
            changes.append(float(np.mean(serve(eval_frame, wm) != victim_eval)))
            flipped = (serve(readings, wm) != steady_clean).reshape(args.steady, args.readings)
            per_machine = flipped.mean(axis=1)
            steady_hit.append(float(np.mean(per_machine > 0)))
            if np.any(per_machine > 0):
                steady_share.append(float(np.mean(per_machine[per_machine > 0])))
            s = probes(wm, audit_pool, "recorded")
            s_deep = probes(wm, audit_pool, "recorded", args.deep)
            for name, predict in honest_models.items():
                audit[name].append(test(predict, wm, s)["p"])
                audit_deep[name].append(test(predict, wm, s_deep, min_rows=2, strict=True)["p"])
        summary = {
            "widths": w,
            "suspect": "audit",
            "keys": args.audit_keys,
            "benign_changed": {
                "mean": float(np.mean(changes)),
                "median": float(np.median(changes)),
                "max": float(np.max(changes)),
                "share_over_0.5%": float(np.mean(np.array(changes) > 0.005)),
            },
            "steady": {
                "machines": args.steady,
                "readings": args.readings,
                "share_machines_flipped": float(np.mean(steady_hit)),
                "flipped_share_when_hit": float(np.mean(steady_share)) if steady_share else 0.0,
            },
            "honest": {
                name: {
                    "share_p_le_0.05": float(np.mean(np.array(ps) <= 0.05)),
                    "min_p": float(np.min(ps)),
                }
                for name, ps in audit.items()
            },
            "honest_deep": {
                name: {
                    "share_p_le_0.05": float(np.mean(np.array(ps) <= 0.05)),
                    "min_p": float(np.min(ps)),
                }
                for name, ps in audit_deep.items()
            },
        }
        rows.append(summary)
        print(json.dumps(summary), flush=True)
    args.out.write_text(
        json.dumps(
            {
                "command": "python benchmarks/guard_watermark_islands.py",
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "target_p": 1e-6,
                "target_benign_changed": 0.005,
                "rows": rows,
                "seconds": time.time() - t0,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
