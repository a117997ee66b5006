"""The demonstrator's repeated runs: the bucket grid, the DP grid, the Ray engine.

Blocks from benchmarks/demo_buckets.py (demo_buckets.json), benchmarks/demo_dp.py
(demo_dp.json) and ``benchmarks/demo.py --engine simulation --baseline`` (demo_simulation.json).
"""

# The page's typography (multiplication sign, en dash, minus sign) is rendered as is.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from typing import Any

from ._core import Results, fixed, renderer, table, word
from .demo import demo_f1, demo_settings, extraction_cap

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
        actual = [100 * r.get("actual_failure_share", float("nan")) for r in runs]
        rows.append(
            [
                str(plants),
                str(buckets),
                f"{sum(r['collapsed'] for r in runs)} of {len(runs)}",
                f"{min(f1):.3f}–{max(f1):.3f}",
                f"{min(share):.1f}–{max(share):.1f} %",
                f"{min(actual):.1f}–{max(actual):.1f} %",
            ]
        )
    factor = results["demo_buckets"].get("collapse_factor")
    head = (
        f'A run counts as collapsed when its model calls "failure" on more than {factor:g} times'
        " as many test rows as actually fail.\n\n"
        if factor is not None
        else ""
    )
    return head + table(
        [
            "plants",
            "buckets",
            "runs collapsed",
            "failure F1",
            'test rows called "failure"',
            "test rows that fail",
        ],
        "rrrrrr",
        rows,
    )


# --- DP grid (benchmarks/demo_dp.py) -------------------------------------------------------

#: A cell of the grid: the settings it varies, the noise multiplier (None: no DP), and whether
#: the noise came from fresh OS entropy (runs before commit b014466 derived it from the seed).
KEY = ("rows", "local_epochs", "batch_size", "rounds", "dp_noise", "fresh_dp_noise")
SETTINGS = KEY[:4]
#: What the commands recorded before ``--rows`` and ``--epochs`` existed ran with.
LEGACY_COMMANDS = (
    "Recorded before `--rows` and `--epochs` existed and before commit b014466: these ran at"
    " 12,000 rows, 3 local epochs, batch 64 unless `--batch` says otherwise, with the DP noise"
    " derived from the seed. `make bench-all` reruns them with those settings spelled out, and"
    " with fresh noise (the current code cannot derive it from the seed)"
)


def _key(item: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(item[k] for k in KEY)


def _noise(cell: dict[str, Any]) -> float:
    return float(cell["dp_noise"] or 0)


def _cells(results: Results) -> list[dict[str, Any]]:
    """The grid's cells by rows, epochs, batch, rounds and noise (no DP first)."""
    cells = results["demo_dp"]["summary"]
    return sorted(cells, key=lambda c: (*(c[k] for k in SETTINGS), _noise(c), c["fresh_dp_noise"]))


def _run_count(results: Results, cell: dict[str, Any]) -> int:
    """How many runs (seeds) the cell's figures are over."""
    if "runs" in cell:
        return int(cell["runs"])
    return sum(_key(r) == _key(cell) for r in results["demo_dp"]["runs"])


def _plain(cells: list[dict[str, Any]], cell: dict[str, Any]) -> dict[str, Any] | None:
    """The cell without DP at the same rows, epochs, batch and rounds, if the grid has one."""
    settings = tuple(cell[k] for k in SETTINGS)
    return next(
        (c for c in cells if c["dp_noise"] is None and tuple(c[k] for k in SETTINGS) == settings),
        None,
    )


def _is_demo(cell: dict[str, Any], demo: dict[str, Any]) -> bool:
    return all(cell[k] == demo[k] for k in KEY)


def _noise_label(cell: dict[str, Any]) -> str:
    if cell["dp_noise"] is None:
        return "no DP"
    return f"{cell['dp_noise']:.1f}" + ("" if cell["fresh_dp_noise"] else " (seed-derived)")


def _f1_range(cell: dict[str, Any]) -> str:
    return f"{cell['f1_min']:.2f}–{cell['f1_max']:.2f}"


def _runs_phrase(n: int) -> str:
    return f"{word(n)} run" + ("" if n == 1 else "s")


def _settings_phrase(cell: dict[str, Any]) -> str:
    return (
        f"{cell['rows']:,} rows, {cell['local_epochs']} local epochs, batch {cell['batch_size']},"
        f" {cell['rounds']} rounds"
    )


@renderer("demo_dp.commands")
def demo_dp_commands(results: Results) -> str:
    grid = results["demo_dp"]
    legacy = [i for i, c in enumerate(grid["commands"], 1) if "--rows" not in c]
    lines = [
        f"{i}. `{c}`" + ("\\*" if i in legacy else "") for i, c in enumerate(grid["commands"], 1)
    ]
    seeds = sorted({r["seed"] for r in grid["runs"]})
    text = (
        f"Commands, in the order they ran; JSON: `benchmarks/results/demo_dp.json`"
        f" ({len(grid['runs'])} runs, seeds {', '.join(map(str, seeds))}):\n\n" + "\n".join(lines)
    )
    if legacy:
        text += f"\n\n\\* {LEGACY_COMMANDS}."
    return text


@renderer("demo_dp.grid")
def demo_dp_grid(results: Results) -> str:
    demo = demo_settings(results)
    cells = _cells(results)
    rows = []
    for c in cells:
        plain = None if c["dp_noise"] is None else _plain(cells, c)
        row = [
            f"{c['rows']:,}",
            str(c["local_epochs"]),
            str(c["batch_size"]),
            str(c["rounds"]),
            _noise_label(c),
            "∞" if c["epsilon_max"] is None else f"{c['epsilon_max']:.2f}",
            f"{c['f1_mean']:.3f}",
            _f1_range(c),
            "–" if plain is None else fixed(100 * (c["f1_mean"] - plain["f1_mean"]), 1),
            f"{c['pr_auc_mean']:.3f}",
            f"{c['seconds_mean']:.1f}",
            str(_run_count(results, c)),
        ]
        rows.append([f"**{x}**" for x in row] if _is_demo(c, demo) else row)
    header = ["rows", "epochs", "batch", "rounds", "noise", "ε (worst plant, worst run)"]
    header += ["F1 mean", "F1 range", "F1 vs no DP (pp)", "PR-AUC mean", "s per run", "runs"]
    return table(header, "rrrrrrrrrrrr", rows)


@renderer("demo_dp.summary")
def demo_dp_summary(results: Results) -> str:
    demo = demo_settings(results)
    cells = _cells(results)
    described = f"{_settings_phrase(demo)}, noise {_noise_label(demo)}"
    if demo["dp_noise"] is not None:
        described += " drawn fresh" if demo["fresh_dp_noise"] else ""
    mine = next((c for c in cells if _is_demo(c, demo)), None)
    if mine is None:
        text = f"The grid has no cell with the demo's configuration ({described})."
    else:
        text = (
            f"The demo's configuration (bold; {described}): F1 {_f1_range(mine)} (mean"
            f" {mine['f1_mean']:.3f}, {_runs_phrase(_run_count(results, mine))})"
        )
        if mine["epsilon_max"] is not None:
            text += f" at ε ≤ {mine['epsilon_max']:.2f}"
        plain = None if mine["dp_noise"] is None else _plain(cells, mine)
        if plain is not None:
            cost = 100 * (mine["f1_mean"] - plain["f1_mean"])
            text += (
                f", against {_f1_range(plain)} (mean {plain['f1_mean']:.3f},"
                f" {_runs_phrase(_run_count(results, plain))}) without DP at the same rows, epochs,"
                f" batch and rounds ({fixed(cost, 1)} pp on the mean)"
            )
        text += "."
    fresh = [c for c in cells if c["dp_noise"] is not None and c["fresh_dp_noise"]]
    if fresh:
        best = max(fresh, key=lambda c: c["f1_mean"])
        if best is mine:
            text += (
                f" Of the grid's {len(fresh)} DP cells with fresh noise, this one has the best"
                " mean F1."
            )
        else:
            text += (
                f" The best of the grid's {len(fresh)} DP cells with fresh noise by mean F1 is"
                f" {_settings_phrase(best)}, noise {best['dp_noise']:.1f}: F1 {_f1_range(best)}"
                f" (mean {best['f1_mean']:.3f}, {_runs_phrase(_run_count(results, best))})"
                f" at ε ≤ {best['epsilon_max']:.2f}"
            )
            if mine is not None and mine["f1_min"] <= best["f1_mean"] <= mine["f1_max"]:
                text += (
                    ", a mean within the demo's cell's range over runs, so these runs do not"
                    " tell the two apart"
                )
            text += "."
    seeded = [c for c in cells if c["dp_noise"] is not None and not c["fresh_dp_noise"]]
    if seeded:
        text += (
            f" The {word(len(seeded))} cells marked seed-derived were measured before commit"
            " b014466, with the DP noise drawn from the public seed (and SecAgg+ buckets that"
            " changed with Flower's node IDs): the current code cannot repeat them, and they are"
            " not ranked with the others."
        )
    return text


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
    base = sim["baseline"]
    other = [r["seconds"] - _training_s(r) for r in (base, sim)]
    text = (
        f"On Ray the whole demo took **{sim['ratio_total']:.2f}×** the in-process grid's time"
        f" and federated training {sim['ratio_training']:.2f}×"
        f" ({_training_s(sim) - _training_s(base):+.1f} s); the other steps took"
        f" {other[0]:.1f} s and {other[1]:.1f} s, so the extra time is in the training step,"
        " where the engine runs (not broken down further here)."
    )
    here = _runs(results)
    if any(_recorded(r) != _recorded(sim) for r in here):
        return text + " **The two runs here differ in configuration**: no F1 comparison."
    f1 = [demo_f1(r) for r in here]
    said = f"{' and '.join(f'{x:.3f}' for x in f1)} (the runs here)"
    demo = results["demo"]
    if _recorded(demo) == _recorded(sim) and _seed(demo) == _seed(sim):
        f1.insert(0, demo_f1(demo))
        said = f"{f1[0]:.3f} (`demo.json`) and {said}"
    else:
        said += ", `demo.json` having been measured with another configuration or seed"
    return text + (
        f" The same configuration and seed gave failure F1 {said}: training varies by up to"
        f" {max(f1) - min(f1):.2f} between runs, so differences of that size between"
        " configurations are noise."
    )


def _seed(run: dict[str, Any]) -> str | None:
    """The ``--seed`` of the command that wrote a demo JSON."""
    match = re.search(r"--seed (\d+)", run.get("command", ""))
    return None if match is None else match[1]


def _recorded(run: dict[str, Any]) -> tuple[Any, ...]:
    """The configuration a demo run's JSON records: plants, rows, rounds, DP noise.

    Older JSON files have no ``config`` key, so its settings (other than the engine, which the
    comparison varies) are left out; the figures above are in every file.
    """
    fig = run["figures"]
    fed = fig["federated"]
    return (
        len(fig["plants"]["failures"]),
        fig["plants"]["rows"],
        len(fed["rounds"]),
        fed.get("dp_noise"),
    )


@renderer("demo_simulation.extraction")
def demo_simulation_extraction(results: Results) -> str:
    labels = {"in-process": "in-process", "simulation": "Ray"}
    runs = [("`demo.json`", results["demo"])]
    runs += [(f"the {labels.get(r['engine'], r['engine'])} run", r) for r in _runs(results)]
    capped, better, parts = 0, 0, []
    equal = {"lower": 0, "the same": 0, "higher": 0}
    for label, run in runs:
        serve = run["figures"]["serve"]
        guarded, undefended = extraction_cap(serve)
        g, u = serve["attacker_points"][-1], serve["undefended_points"][-1]
        capped += guarded < undefended
        better += u["macro_agreement"] > g["macro_agreement"]
        same = [p for p in serve["undefended_points"] if p["queries"] == g["queries"]]
        if same:
            gap = g["macro_agreement"] - same[0]["macro_agreement"]
            equal["the same" if abs(gap) < 0.005 else "lower" if gap < 0 else "higher"] += 1
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
    counted = [f"{k} in {word(v) if v else 'none'}" for k, v in equal.items()]
    verdict = (
        "So at these budgets the effect of the defences that holds up in every run is the query"
        " cap: the guarded attacker is cut off after its alarm while the undefended one gets its"
        " whole budget."
        if capped == n
        else "So at these budgets not even the query cap holds up in every run."
    )
    lower = {"at equal queries": equal["lower"] == n, "after the whole budget": better == n}
    if not all(lower.values()):
        verdict += " These runs do not show a consistently lower fidelity of the guarded copy"
        verdict += (
            ", neither at equal queries nor after the whole budget."
            if not any(lower.values())
            else "".join(f" {k}" for k, v in lower.items() if not v)
            + "".join(f" (it was lower {k} in every run)" for k, v in lower.items() if v)
            + "."
        )
    return (
        f"Final macro agreement with the victim, {'; '.join(parts)}: {cap}, {fidelity}. At the"
        " number of queries the guarded attacker had answered, the guarded surrogate's macro"
        f" agreement was, against the undefended one's (within 0.005 counting as the same),"
        f" {', '.join(counted[:-1])} and {counted[-1]} of the {word(n)} runs. {verdict}"
    )
