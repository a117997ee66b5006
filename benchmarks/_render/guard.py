"""The guarded inference blocks (benchmarks/guard.py)."""

# The page's typography (multiplication sign, en dash, minus sign, rho) is rendered as is.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from typing import Any

from ._core import (
    Results,
    bold,
    met,
    pct,
    quote,
    renderer,
    table,
    word,
)

# --- guarded inference (benchmarks/guard.py) ----------------------------------------------


@renderer("guard.throughput")
def guard_throughput(results: Results) -> str:
    summary = results["guard"]["throughput"]["summary"]
    labels = {"plain": "plain FastAPI", "guard": "guard, all defences"}
    rows = [
        [
            label,
            f"{summary[key]['requests_per_s']:.0f}",
            f"{summary[key]['p50_ms']:.0f}",
            f"{summary[key]['p99_ms']:.0f}",
            str(summary[key]["non_2xx"]),
        ]
        for key, label in labels.items()
    ]
    return table(["server", "requests/s", "p50 ms", "p99 ms", "non-2xx"], "lrrrr", rows)


@quote
def guard_throughput_ratio(results: Results) -> str:
    t = results["guard"]["throughput"]
    per_round = t["ratio_per_round"]
    misses = sum(r < t["target"] for r in per_round)
    verdict = "met on the mean" if t["ratio"] >= t["target"] else "**missed** on the mean"
    if misses:
        verdict += f", missed in {word(misses)} round{'s' * (misses > 1)} of {word(len(per_round))}"
    else:
        verdict += " and in every round"
    return (
        f"Guard / plain throughput **{t['ratio']:.2f}** (per round"
        f" {', '.join(f'{r:.2f}' for r in per_round)}; target ≥ {t['target']}): {verdict}."
    )


def _last_queries(run: dict[str, Any]) -> int:
    return int(run["points"][-1]["queries"])


@renderer("guard.prada")
def guard_prada(results: Results) -> str:
    guard = results["guard"]
    prada = guard["prada"]
    runs = guard["hardening"]["runs"]
    limit = prada["targets"]["jacobian_alarm_within"]
    alarms = prada["jacobian_alarm_at"]
    jacobian_queries = {_last_queries(r) for r in prada["jacobian"]}
    benign = list(prada["benign"].values())
    sources: dict[str, list[dict[str, Any]]] = {}
    for b in benign:
        sources.setdefault(b["source"], []).append(b)
    rate = prada["benign_alarmed"] / prada["benign_clients"]

    def when(alarm: int | list[int | None] | None) -> str:
        if isinstance(alarm, list):  # one per seed (_mean_run keeps them when any alarmed)
            return (
                "after "
                + ", ".join("never" if a is None else f"{a:,}" for a in alarm)
                + (" queries (seeds)")
            )
        return "never" if alarm is None else f"after {alarm:,} queries"

    jacobian_ok = all(a is not None and a <= limit for a in alarms)
    rows = [
        [
            f"Jacobian attack, seeds 0–{len(alarms) - 1}",
            f"{max(jacobian_queries):,} each",
            ", ".join("never" if a is None else str(a) for a in alarms)
            + f" queries (target ≤ {limit}: {met(jacobian_ok)})",
        ],
        [
            "Knockoff, natural queries of another plant",
            f"{_last_queries(runs['knockoff/full']):,}",
            when(prada["knockoff_alarm_at"]),
        ],
        [
            "equation solving, uniform random queries",
            f"{_last_queries(runs['equation-solving/full']):,}",
            when(prada["equation_solving_alarm_at"]),
        ],
    ]
    for source, group in sources.items():
        flagged = [b["alarm_at"] for b in group if b["alarm_at"] is not None]
        rows.append(
            [
                f"benign: {source}" + (f" ({len(group)})" if len(group) > 1 else ""),
                f"{max(b['queries'] for b in group):,}" + (" each" if len(group) > 1 else ""),
                "never"
                if not flagged
                else f"{len(flagged)} of {len(group)}, after "
                + ", ".join(f"{a:,}" for a in flagged)
                + " queries",
            ]
        )
    rows.append(
        [
            "all benign clients",
            "",
            f"{prada['benign_alarmed']} / {prada['benign_clients']} alarmed (target ≤"
            f" {pct(prada['targets']['benign_false_alarm_rate'], 0)}:"
            f" {met(rate <= prada['targets']['benign_false_alarm_rate'])})",
        ]
    )
    return table(["client", "queries", "alarm after"], "lrl", rows)


PRADA_SECTIONS = {
    "victim": "benchmarks/guard.py's victim, 10,000 queries",
    "demo": "demo models, seeds 0–5",
    "reduced_demo": "reduced demos of tests/demo",
}
PRADA_DETECTORS = {
    "pooled": "pooled (the paper's test)",
    "centred": "group-centred, no fence",
    "fenced": "group-centred, far-out fence (default)",
}


@renderer("guard_prada.detectors")
def guard_prada_detectors(results: Results) -> str:
    """The in-process replay (benchmarks/guard_prada.py): one row per model set and detector."""
    summary = results["guard_prada"]["summary"]
    rows = []
    for section, label in PRADA_SECTIONS.items():
        for name, detector in PRADA_DETECTORS.items():
            s = summary[section][name]
            caught = [a for a in s["jacobian_alarm_at"] if a is not None]
            jacobian = (
                f"median {s['jacobian_alarm_at_median']:g}, max {max(caught)}"
                if caught
                else "none caught"
            )
            if s["jacobian_missed"]:
                jacobian += f", {s['jacobian_missed']} of {s['jacobian_attacks']} missed"
            equation = s.get("equation_solving_alarm_at")
            rows.append(
                [
                    label,
                    detector,
                    f"{s['benign_alarmed']} / {s['benign_traces']}",
                    f"{s['lowest_benign_w']:.4f}",
                    f"{jacobian} ({s['jacobian_attacks']} attacks)",
                    "–"
                    if equation is None
                    else ", ".join("never" if a is None else f"{a:,}" for a in equation),
                ]
            )
    return table(
        [
            "models",
            "detector",
            "benign alarmed",
            "lowest benign W",
            "Jacobian alarm after (queries)",
            "uniform random alarm after",
        ],
        "llrrll",
        rows,
    )


HARDENING_TIERS = {
    "full": "full",
    "top-k": "top-k",
    "rounded": "rounded (1 decimal)",
    "reverse-sigmoid": "reverse sigmoid",
}


@renderer("guard.hardening")
def guard_hardening(results: Results) -> str:
    runs = results["guard"]["hardening"]["runs"]
    budgets = [p["budget"] for p in runs["equation-solving/full"]["points"]]

    def cells(run: dict[str, Any]) -> list[str]:
        points = {p["budget"]: p for p in run["points"]}
        return [
            f"{points[b]['macro_agreement']:.2f} / {points[b]['failure_agreement']:.2f}"
            if b in points
            else "–"
            for b in budgets
        ]

    rows = [
        [f"equation solving / {label}", *cells(runs[f"equation-solving/{tier}"])]
        for tier, label in HARDENING_TIERS.items()
    ]
    knockoff = [runs[k] for k in runs if k.startswith("knockoff/")]
    same = all(r["points"] == knockoff[0]["points"] for r in knockoff)
    rows.append([f"Knockoff / {'any tier' if same else 'full'}", *cells(runs["knockoff/full"])])
    header = [f"{b:,}" for b in budgets]
    header[-1] += " queries"
    return table(["attack / tier", *header], "l" + "l" * len(budgets), rows)


def _surrogate(name: str) -> str:
    match = re.fullmatch(r"\w+ \((\d+,\d+)\) (\d+) ep", name)
    return f"MLP ({match[1]}), {match[2]} epochs" if match else name


def _wm_p(p: float, target: float) -> str:
    text = f"{p:.0e}".replace("e-0", "e-") if p < 1e-3 else f"{p:.2g}"
    return bold(text, p > target)


@renderer("guard.watermark")
def guard_watermark(results: Results) -> str:
    wm = results["guard"]["watermark"]
    rows = [
        [
            f"{t['queries']:,}",
            _surrogate(t["surrogate"]),
            f"{t['train_agreement']:.3f}",
            f"{t['fidelity']['macro_agreement']:.3f}",
            str(t["evidence"]["queries"]),
            str(t["evidence"]["matches"]),
            _wm_p(t["evidence"]["p_value"], wm["target_p"]),
            f"p = {t['independent_model_evidence']['p_value']:.2g}",
        ]
        for t in wm["thieves"]
    ]
    header = ["thief queries", "surrogate", "training agreement", "macro fidelity"]
    header += ["watermark queries", "matched", "p-value", "an independent model"]
    return table(header, "rlrrrrrr", rows)


@quote
def guard_watermark_rate(results: Results) -> str:
    wm = results["guard"]["watermark"]
    return (
        f"{wm['answers_altered']:,} of {wm['answers_total']:,} answers altered,"
        f" **{pct(wm['altered_fraction'], 3)}** (target ≤ 0.5 %:"
        f" {met(wm['altered_fraction'] <= 0.005)})."
    )


@renderer("guard_watermark.thieves")
def guard_watermark_thieves(results: Results) -> str:
    data = results["guard_watermark"]
    rows = []
    for r in data["rows"]:
        ev = r["evidence"]
        honest = "marked" not in r
        rows.append(
            [
                f"{r['queries']:,}",
                r["thief"],
                "–" if honest else f"{r['marked_kept']} of {r['marked']}",
                "–" if honest else f"{r['macro_fidelity']:.3f}",
                f"{ev['matches']} of {ev['queries']}",
                f"{ev['control_disagreements']} of {ev['controls']}",
                _wm_p(ev["p_value"], data["target_p"])
                if not honest
                else f"p = {ev['p_value']:.2g}",
            ]
        )
    header = ["thief queries", "thief", "flipped answers kept", "macro fidelity"]
    header += ["marked cells reproduced", "controls disagreeing", "p-value"]
    return table(header, "llrrrrr", rows)


@renderer("guard_watermark_benign.clients")
def guard_watermark_benign(results: Results) -> str:
    data = results["guard_watermark_benign"]
    rows = [
        [
            name,
            c["source"],
            f"{c['queries']:,}",
            pct(c["share_before"], 2),
            bold(pct(c["share_after"], 2), c["share_after"] > data["target"]),
        ]
        for name, c in data["clients"].items()
    ]
    s = data["summary"]
    rows.append(
        [
            "all benign clients",
            "",
            f"{s['queries']:,}",
            pct(s["share_before"], 3),
            bold(pct(s["share_after"], 3), s["share_after"] > data["target"]),
        ]
    )
    header = ["client", "trace", "queries", "altered, every marked cell", "altered, flip budget"]
    return table(header, "llrrr", rows)


@renderer("guard_watermark_benign.summary")
def guard_watermark_benign_summary(results: Results) -> str:
    data = results["guard_watermark_benign"]
    s = data["summary"]
    return (
        f"With the per-client flip budget the benign clients' altered share is"
        f" {pct(s['share_after'], 3)} (every marked cell flipped: {pct(s['share_before'], 3)}),"
        f" the largest single client {pct(s['max_client_share_after'], 2)} (target ≤ 0.5 % per"
        f" client: {met(s['max_client_share_after'] <= data['target'])})."
    )


@renderer("guard_watermark_schema.thieves")
def guard_watermark_schema(results: Results) -> str:
    data = results["guard_watermark_schema"]
    rows = []
    for r in data["results"]:
        ev = r["evidence"]
        honest = "marked" not in r
        if ev is None:  # the thief got no marked answer (flip budget): nothing to test
            found, p = "no marked answer", bold("not testable", True)
        else:
            found = f"{ev['matches']} of {ev['queries']}"
            # an honest model must not be accused: a high p is the good outcome
            p = f"{ev['p_value']:.2g}" if honest else _wm_p(ev["p_value"], data["target_p"])
        rows.append(
            [
                f"{r['queries']:,}",
                r["thief"],
                "–" if honest else f"{r['marked_kept']} of {r['marked']}",
                "–" if honest else f"{r['macro_fidelity']:.3f}",
                found,
                p,
            ]
        )
    header = ["thief queries", "suspect", "marked answers trained on", "macro fidelity"]
    header += ["marked cells reproduced", "p-value"]
    return table(header, "rlrrrr", rows)


@renderer("guard_watermark_schema.summary")
def guard_watermark_schema_summary(results: Results) -> str:
    data = results["guard_watermark_schema"]
    changed = data["benign_changed"]
    return (
        f"Benign answers changed on 10,000 jittered owner rows: {pct(changed, 2)} (target ≤ 0.5 %:"
        f" {met(changed <= 0.005)}). Owner {data['rows']['owner']} rows, thief"
        f" {data['rows']['thief']} natural rows jittered by {data['jitter_sd']} sd per column"
        f" beyond them; {data['seconds']:.0f} s."
    )


# --- islands watermark tried against the filtering thief (guard_watermark_islands.py) ------


def _island_p(p: float, target: float) -> str:
    # two digits below 1e-3, so that 1.1e-6 does not read as the 1e-6 target
    text = f"{p:.1e}".replace("e-0", "e-") if p < 1e-3 else f"{p:.2g}"
    return bold(text, p > target)


def _widths(w: list[float]) -> str:
    return f"{w[0]:g} K × {w[1]:g} K × {w[2]:g} rpm × {w[3]:g} Nm × {w[4]:g} min"


@renderer("guard_watermark_islands.thieves")
def guard_watermark_islands(results: Results) -> str:
    data = results["guard_watermark_islands"]
    target = data["target_p"]
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in data["rows"]:
        if r["suspect"] != "audit":
            groups.setdefault((_widths(r["widths"]), r["queries"], r["suspect"]), []).append(r)
    rows = []
    for (widths, queries, suspect), runs in groups.items():
        hits = sum(run["recorded"]["p"] <= target for run in runs)
        deep = sum(run["recorded_deep"]["p"] <= target for run in runs)
        rows.append(
            [
                widths,
                f"{queries:,}",
                suspect,
                ", ".join(f"{run['flips_kept']}/{run['flips']}" for run in runs),
                ", ".join(
                    f"{run['recorded']['matched']}/{run['recorded']['marked']}" for run in runs
                ),
                ", ".join(_island_p(run["recorded"]["p"], target) for run in runs),
                ", ".join(_island_p(run["jittered"]["p"], target) for run in runs),
                ", ".join(_island_p(run["box"]["p"], target) for run in runs),
                ", ".join(_island_p(run["recorded_deep"]["p"], target) for run in runs),
                ", ".join(f"{run['recorded']['best_possible_p']:.0e}" for run in runs),
                bold(f"{hits} of {len(runs)}; {deep} of {len(runs)}", min(hits, deep) < len(runs)),
            ]
        )
    header = ["regions", "queries", "thief", "flipped answers kept", "marked regions reproduced"]
    header += ["p, recorded rows", "p, jittered probes", "p, uniform in region", "p, deep"]
    header += ["smallest p the key allows (recorded rows)", "p ≤ 1e-6 (recorded rows; deep)"]
    return table(header, "lrlllllllll", rows)


@renderer("guard_watermark_islands.audit")
def guard_watermark_islands_audit(results: Results) -> str:
    data = results["guard_watermark_islands"]
    rows = []
    for r in data["rows"]:
        if r["suspect"] != "audit":
            continue
        changed, steady, honest = r["benign_changed"], r["steady"], r["honest"]
        rows.append(
            [
                _widths(r["widths"]),
                str(r["keys"]),
                f"{pct(changed['mean'], 2)} / {pct(changed['median'], 2)} / "
                + bold(pct(changed["max"], 2), changed["max"] > data["target_benign_changed"]),
                bold(pct(changed["share_over_0.5%"], 0), changed["share_over_0.5%"] > 0),
                f"{pct(steady['share_machines_flipped'], 2)}"
                f" ({pct(steady['flipped_share_when_hit'], 0)})",
                "; ".join(
                    f"{name} {pct(h['share_p_le_0.05'], 0)}, min {h['min_p']:.2g}"
                    for name, h in honest.items()
                ),
                "; ".join(
                    f"{name} {pct(h['share_p_le_0.05'], 0)}, min {h['min_p']:.2g}"
                    for name, h in r["honest_deep"].items()
                ),
            ]
        )
    header = ["regions", "keys", "benign changed: mean / median / max", "keys over 0.5 %"]
    header += ["steady machines hit (their answers flipped)", "p ≤ 0.05, min p (honest models)"]
    header += ["the same, deep test"]
    return table(header, "lrrrrll", rows)
