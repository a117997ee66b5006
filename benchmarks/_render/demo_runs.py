"""The demonstrator's repeated runs: the bucket grid, the DP grid, the Ray engine.

Blocks from benchmarks/demo_buckets.py (demo_buckets.json), benchmarks/demo_dp.py
(demo_dp.json) and ``benchmarks/demo.py --engine simulation --baseline`` (demo_simulation.json).
"""

# The page's typography (multiplication sign, en dash, minus sign) is rendered as is.
# ruff: noqa: RUF001

from __future__ import annotations

from typing import Any

from ._core import Results, fixed, renderer, table, word
from .demo import demo_f1, extraction_cap

# --- plants and buckets (benchmarks/demo_buckets.py) --------------------------------------


@renderer("demo_buckets.collapse")
def demo_buckets_collapse(results: Results) -> str:
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for run in results["demo_buckets"]["runs"]:
        groups.setdefault((run["plants"], run["buckets"]), []).append(run)
    rows = []
    for (plants, buckets), runs in sorted(groups.items()):
        f1 = [r["f1"] for r in runs]
        share = [100 * r["predicted_failure_share"] for r in runs]
        rows.append(
            [
                str(plants),
                str(buckets),
                f"{sum(r['collapsed'] for r in runs)} of {len(runs)}",
                f"{min(f1):.3f}–{max(f1):.3f}",
                f"{min(share):.0f}–{max(share):.0f} %",
            ]
        )
    return table(
        ["plants", "buckets", "runs collapsed", "failure F1", 'test rows called "failure"'],
        "rrrrr",
        rows,
    )


# --- DP grid (benchmarks/demo_dp.py) -------------------------------------------------------


def _noise(cell: dict[str, Any]) -> float:
    return float(cell["dp_noise"] or 0)


def _cells(results: Results) -> list[dict[str, Any]]:
    """The grid's cells, by rounds, batch size and noise (no DP first)."""
    cells = results["demo_dp"]["summary"]
    return sorted(cells, key=lambda c: (c["rounds"], c["batch_size"], _noise(c)))


def _seeds(results: Results, cell: dict[str, Any]) -> int:
    key = (cell["rounds"], cell["batch_size"], cell["dp_noise"])
    runs = results["demo_dp"]["runs"]
    return sum((r["rounds"], r["batch_size"], r["dp_noise"]) == key for r in runs)


def _f1_range(cell: dict[str, Any]) -> str:
    return f"{cell['f1_min']:.2f}–{cell['f1_max']:.2f}"


@renderer("demo_dp.commands")
def demo_dp_commands(results: Results) -> str:
    commands = [f"`{c}`" for c in results["demo_dp"]["commands"]]
    joined = commands[0] if len(commands) == 1 else ", then ".join(commands)
    seeds = sorted({r["seed"] for r in results["demo_dp"]["runs"]})
    return (
        f"Commands: {joined}; JSON: `benchmarks/results/demo_dp.json`"
        f" ({len(results['demo_dp']['runs'])} runs, seeds {', '.join(map(str, seeds))})."
    )


@renderer("demo_dp.grid")
def demo_dp_grid(results: Results) -> str:
    rows = [
        [
            str(c["rounds"]),
            str(c["batch_size"]),
            "no DP" if c["dp_noise"] is None else f"{c['dp_noise']:.1f}",
            "∞" if c["epsilon_max"] is None else f"{c['epsilon_max']:.2f}",
            f"{c['f1_mean']:.3f}",
            _f1_range(c),
            f"{c['pr_auc_mean']:.3f}",
            f"{c['seconds_mean']:.1f}",
            str(_seeds(results, c)),
        ]
        for c in _cells(results)
    ]
    header = ["rounds", "batch", "noise", "ε (worst plant, worst seed)", "F1 mean", "F1 range"]
    return table([*header, "PR-AUC mean", "s per run", "seeds"], "rrrrrrrrr", rows)


@renderer("demo_dp.summary")
def demo_dp_summary(results: Results) -> str:
    fed = results["demo"]["figures"]["federated"]
    noise, rounds = fed.get("dp_noise"), len(fed["rounds"])
    cells = _cells(results)
    dp = [c for c in cells if c["dp_noise"] is not None]
    best = max(dp, key=lambda c: c["f1_mean"])
    mine = [c for c in dp if (c["dp_noise"], c["rounds"]) == (noise, rounds)]
    parts = []
    for cell in mine:
        plain = next(
            (
                c
                for c in cells
                if c["dp_noise"] is None
                and (c["rounds"], c["batch_size"]) == (rounds, cell["batch_size"])
            ),
            None,
        )
        text = (
            f"batch {cell['batch_size']}: F1 {_f1_range(cell)} (mean {cell['f1_mean']:.3f}) at"
            f" ε ≤ {cell['epsilon_max']:.2f}"
        )
        if plain is not None:
            cost = 100 * (cell["f1_mean"] - plain["f1_mean"])
            text += (
                f", against {_f1_range(plain)} (mean {plain['f1_mean']:.3f}) without DP at the"
                f" same rounds and batch ({fixed(cost, 1)} pp on the mean)"
            )
        parts.append(text)
    demo = (
        f"At the demo's noise {noise:.1f} and {rounds} rounds, " + "; ".join(parts) + "."
        if parts
        else "The grid has no cell with the demo's noise and rounds."
    )
    if best in mine:
        verdict = (
            f" Of the grid's {len(dp)} DP cells, this one has the best mean F1: more rounds,"
            " larger batches or other noise levels did not do better."
        )
    else:
        verdict = (
            f" The best of the grid's {len(dp)} DP cells by mean F1 is {best['rounds']} rounds,"
            f" batch {best['batch_size']}, noise {best['dp_noise']:.1f}: F1 {best['f1_mean']:.3f}"
            f" at ε ≤ {best['epsilon_max']:.2f}."
        )
    return demo + verdict


# --- the demo on Flower's simulation engine (benchmarks/demo.py --engine simulation) -------

ENGINES = {"in-process": "in-process grid", "simulation": "Flower simulation engine (Ray)"}


def _runs(results: Results) -> list[dict[str, Any]]:
    sim = results["demo_simulation"]
    return [sim["baseline"], sim] if "baseline" in sim else [sim]


def _training_s(run: dict[str, Any]) -> float:
    return float(next(s["seconds"] for s in run["steps"] if s["key"] == "federated"))


@renderer("demo_simulation.engines")
def demo_simulation_engines(results: Results) -> str:
    rows = [
        [
            ENGINES.get(run["engine"], run["engine"]),
            f"{run['seconds']:.1f}",
            f"{_training_s(run):.1f}",
            f"{run['seconds'] - _training_s(run):.1f}",
            f"{demo_f1(run):.3f}",
            "yes" if run["failed"] is None else f"**no** (failed at {run['failed']})",
        ]
        for run in _runs(results)
    ]
    header = ["engine", "total s", "federated training s", "other steps s", "failure F1"]
    return table([*header, "every step passed"], "lrrrrl", rows)


@renderer("demo_simulation.ratio")
def demo_simulation_ratio(results: Results) -> str:
    sim = results["demo_simulation"]
    if "ratio_total" not in sim:
        return "No ratio: the run had no in-process baseline, or one of the two runs failed."
    f1 = [demo_f1(r) for r in (results["demo"], *_runs(results))]
    base = sim["baseline"]
    other = [r["seconds"] - _training_s(r) for r in (base, sim)]
    return (
        f"On Ray the whole demo took **{sim['ratio_total']:.2f}×** the in-process grid's time"
        f" and federated training {sim['ratio_training']:.2f}×"
        f" ({_training_s(sim) - _training_s(base):+.1f} s); the other steps took"
        f" {other[0]:.1f} s and {other[1]:.1f} s, so the extra time is in the training step,"
        " where the engine runs (not broken down further here). The same configuration and"
        f" seed gave failure F1 {f1[0]:.3f}"
        f" (`demo.json`) and {' and '.join(f'{x:.3f}' for x in f1[1:])} (the runs here):"
        f" training varies by up to {max(f1) - min(f1):.2f} between runs, so differences of that"
        " size between configurations are noise."
    )


@renderer("demo_simulation.extraction")
def demo_simulation_extraction(results: Results) -> str:
    labels = {"in-process": "in-process", "simulation": "Ray"}
    runs = [("`demo.json`", results["demo"])]
    runs += [(f"the {labels.get(r['engine'], r['engine'])} run", r) for r in _runs(results)]
    capped, better, equal, parts = 0, 0, 0, []
    for label, run in runs:
        serve = run["figures"]["serve"]
        guarded, undefended = extraction_cap(serve)
        g, u = serve["attacker_points"][-1], serve["undefended_points"][-1]
        capped += guarded < undefended
        better += u["macro_agreement"] > g["macro_agreement"]
        same = [p for p in serve["undefended_points"] if p["queries"] == g["queries"]]
        equal += bool(same) and abs(same[0]["macro_agreement"] - g["macro_agreement"]) < 0.005
        parts.append(
            f"{g['macro_agreement']:.2f} guarded ({guarded:,} queries) vs"
            f" {u['macro_agreement']:.2f} undefended ({undefended:,}) in {label}"
        )
    n = len(runs)
    cap = (
        f"in all {word(n)} runs the defences capped the attacker's answers"
        if capped == n
        else f"the defences capped the attacker's answers in {word(capped)} of {word(n)} runs"
    )
    fidelity = (
        "and the undefended surrogate was the better copy in every run"
        if better == n
        else "but the undefended surrogate was the better copy in none of them"
        if better == 0
        else f"but the undefended surrogate was the better copy in only {word(better)} of them"
    )
    at_equal = f"in all {word(n)} runs" if equal == n else f"in {word(equal)} of {word(n)} runs"
    return (
        f"Final macro agreement with the victim, {'; '.join(parts)}: {cap}, {fidelity}. At the"
        " number of queries the guarded attacker had answered, the undefended surrogate's macro"
        f" agreement was the same (within 0.005) {at_equal}."
    )
