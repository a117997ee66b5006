"""Render the generated blocks of docs/results.md from the JSON in benchmarks/results/.

Run: ``.venv/bin/python benchmarks/render_results.py [--check]`` (``make bench`` runs it last).

The page is prose written by people around generated blocks, so that no figure in a table can
drift from the measurement behind it. A block is delimited by marker comments::

    <!-- table: usecase.baseline -->
    ...replaced by RENDERERS["usecase.baseline"](results)...
    <!-- /table -->

(``summary`` instead of ``table`` for a generated sentence). Only the blocks are rewritten; the
prose around them is left as written. Figures that must stay in the prose are listed in
``QUOTES``: ``--check`` verifies that each appears in the page exactly as the JSON renders it.

To add a block: write a function ``(results) -> str`` below, decorate it with
``@renderer("<json stem>.<name>")``, and put the two marker lines where it belongs in the page.
``results["demo"]`` is the parsed ``benchmarks/results/demo.json``; JSON files that no block uses
are ignored, and a block whose JSON file is missing is an error naming the file.
"""

# The page's typography (multiplication sign, en dash, minus sign, rho) is rendered as is.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "results.md"

Results = dict[str, Any]
Renderer = Callable[[Results], str]

RENDERERS: dict[str, Renderer] = {}
BLOCK = re.compile(
    r"(?P<open><!-- (?P<kind>table|summary): (?P<name>[\w.-]+) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /(?P=kind) -->)",
    re.DOTALL,
)


class RenderError(Exception):
    """A block that cannot be rendered: unknown name, missing JSON file or missing key."""


def renderer(name: str) -> Callable[[Renderer], Renderer]:
    """Register a block renderer under the name used in the page's marker comment."""

    def register(function: Renderer) -> Renderer:
        if name in RENDERERS:
            raise RenderError(f"block {name!r} registered twice")
        RENDERERS[name] = function
        return function

    return register


# Each entry renders a phrase of the page from the JSON; --check requires it in the page
# (whitespace-insensitive, so the phrase may be wrapped across lines).
QUOTES: list[Renderer] = []


def quote(function: Renderer) -> Renderer:
    """Register a phrase of the prose that quotes a figure from the JSON."""
    QUOTES.append(function)
    return function


# --- formatting ---------------------------------------------------------------------------

ALIGN = {"l": "---", "r": "---:", "c": ":-:"}


def table(header: Sequence[str], align: str, rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; ``align`` has one letter per column: l(eft), r(ight) or c(entre)."""
    if len(align) != len(header):
        raise RenderError(f"{len(header)} columns but alignment {align!r}")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(ALIGN[a] for a in align) + "|"]
    for row in rows:
        if len(row) != len(header):
            raise RenderError(f"row {row!r} has {len(row)} cells, the header {len(header)}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(line.replace("|  |", "| |") for line in lines)


def fixed(x: float, digits: int) -> str:
    """``x`` with ``digits`` decimals and a true minus sign (never "−0.00")."""
    text = f"{x:.{digits}f}"
    if text.startswith("-"):
        text = text[1:] if float(text) == 0 else "−" + text[1:]
    return text


def signed(x: float) -> str:
    """A rounded integer with its sign and thousands separators (+2,371, -82, +0)."""
    return f"{round(x):+,}"


def pct(x: float, digits: int = 1) -> str:
    """A share (0..1) as a percentage with a space before the sign: 0.0480 -> "4.8 %"."""
    return f"{fixed(100 * x, digits)} %"


def short_p(p: float) -> str:
    """A p-value as the page prints it: 0, 8.7e-10, 0.015, 1.0."""
    if p == 0:
        return "0"
    if p >= 0.01:
        text = f"{p:.2g}"
        return text if "." in text else text + ".0"
    return f"{p:.1e}"


WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def word(n: int) -> str:
    """Small counts as words, as the prose writes them ("one round of three")."""
    return WORDS[n] if 0 <= n < len(WORDS) else f"{n:,}"


def bold(text: str, condition: bool) -> str:
    """``text`` in bold when ``condition`` holds (misses and headline figures)."""
    return f"**{text}**" if condition else text


def met(condition: bool) -> str:
    """The page's verdict for a target."""
    return "met" if condition else "**missed**"


def spaced_percent(text: str) -> str:
    """The page's typography for percentages in labels: "10%" -> "10 %"."""
    return re.sub(r"(\d)%", r"\1 %", text)


# --- the demonstrator (benchmarks/demo.py, demo_buckets.py) -------------------------------


@renderer("demo.steps")
def demo_steps(results: Results) -> str:
    demo = results["demo"]
    fig = demo["figures"]
    fed, serve, prove = fig["federated"], fig["serve"], fig["prove"]
    plants = len(fig["plants"]["failures"])
    failures = sum(fig["plants"]["failures"].values())
    thief = (
        "not detected"
        if serve["thief_alarm_at"] is None
        else f"detected after {serve['thief_alarm_at']:,} queries"
    )
    attacker = f"Jacobian attacker alarmed after {serve['attacker_alarm_at']} queries"
    if serve["attacker_refused_at"] is not None:
        attacker += " and throttled until it gave up"

    def trig(name: str, label: str) -> str:
        v = prove[name]
        return f"{label} {v['matches']}/{v['queries']} triggers (p = {v['p_value']:.1e})"

    api = prove["api_watermark"]
    outcomes = {
        "plants": f"{plants} plants, {fig['plants']['rows']:,} rows, {failures} failures in SQLite",
        "federated": (
            f"failure F1 {fed['test']['f1']:.3f} (PR-AUC {fed['test']['pr_auc']:.3f}); plain FedAvg"
            f" under the same attack {fed['fedavg']['test']['f1']:.3f}; watermark on"
            f" {100 * fed['trigger_accuracy']:.0f} % of the triggers"
        ),
        "ledger": (
            f"{len(fed['rounds'])} rounds committed and attested by {plants} plants;"
            " model registered with its commitment"
        ),
        "release": (
            f"{fig['release']['bundle_bytes'] / 1024:.0f} KiB bundle for two gateways;"
            " ModelLicence active for one"
        ),
        "serve": (
            f"unlicensed gateway refused; {serve['benign_rows']} benign rows, no alarm;"
            f" {attacker}; natural-query thief ({serve['thief_queries']:,} queries) {thief}"
        ),
        "prove": (
            f"{trig('released', 'released model')},"
            f" {trig('stolen_fine_tuned', 'fine-tuned stolen copy').replace(' triggers', '')},"
            f" thief's surrogate: API watermark {api['matches']}/{api['queries']}"
            f" (p = {api['p_value']:.1e}) and triggers"
            f" (p = {prove['surrogate_triggers']['p_value']:.1e})"
            + ("; commitment revealed" if prove.get("revealed_at") else "")
        ),
        "suspend": f"next request HTTP {fig['suspend']['status']} within the 1 s gate interval",
    }
    rows = [
        [
            step["title"][0].lower() + step["title"][1:],
            f"{step['seconds']:.1f}",
            outcomes[step["key"]],
        ]
        for step in demo["steps"]
    ]
    # The page's own names for two steps.
    names = {"licence suspended on chain": "licence suspended"}
    rows = [[names.get(r[0], r[0]), *r[1:]] for r in rows]
    return table(["step", "seconds", "measured outcome"], "lrl", rows)


@renderer("demo.run")
def demo_run(results: Results) -> str:
    demo = results["demo"]
    if demo["failed"]:
        return f"The run **failed** at step {demo['failed']}."
    return f"One run, {demo['seconds']:.0f} s in all on the 2-core machine."


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


# --- failure classifier baseline (benchmarks/usecase_baseline.py) -------------------------

USECASE_DATA = {
    "generated-fleet": "generated 5-plant fleet",
    "real-ai4i2020": "real AI4I 2020 file",
}
USECASE_MODELS = {
    "edgeshield-mlp": "EdgeShield MLP",
    "logistic-regression@0.5": "logistic regression @0.5",
    "gradient-boosting@0.5": "gradient boosting @0.5",
    "gradient-boosting@tuned": "gradient boosting, tuned threshold",
}


@renderer("usecase_baseline.table")
def usecase_baseline_table(results: Results) -> str:
    rows = [
        [
            USECASE_DATA.get(s["data"], s["data"]),
            USECASE_MODELS.get(s["model"], s["model"]),
            f"{s['f1_mean']:.3f} ± {s['f1_sd']:.3f}",
            f"{s['pr_auc_mean']:.3f}",
            f"{s['seconds_mean']:.2f}",
        ]
        for s in results["usecase_baseline"]["summary"]
    ]
    return table(["data", "model", "failure F1 (mean ± sd)", "PR-AUC", "train s"], "llrrr", rows)


@renderer("usecase_baseline.ratios")
def usecase_baseline_ratios(results: Results) -> str:
    r = results["usecase_baseline"]["ratios"]
    gen, real = r["generated-fleet"], r["real-ai4i2020"]
    return (
        f"Ratio MLP F1 / gradient-boosting F1: **{gen['mlp_over_gb_at_0.5']:.3f}** on the"
        f" generated fleet and **{real['mlp_over_gb_at_0.5']:.3f}** on the real file against"
        f" gradient boosting at threshold 0.5 ({gen['mlp_over_gb_tuned']:.3f} and"
        f" {real['mlp_over_gb_tuned']:.3f} against gradient boosting with the same threshold"
        " tuning as the MLP)."
    )


# --- ledger front ends (benchmarks/ledger_frontends.py) -----------------------------------

CONTRACTS = ("ModelRegistry", "ModelLicence", "FederatedRoundAudit")


@renderer("ledger_frontends.parse")
def ledger_frontends_parse(results: Results) -> str:
    forms = results["ledger_frontends"]["forms"]
    order = ("yaml", "txt", "pnml", "ttl")
    rows = []
    for contract in CONTRACTS:
        mine = {f["form"]: f for f in forms if f["contract"] == contract}
        same = sum(f["same_fsm"] for f in mine.values())
        rows.append(
            [
                contract,
                *(f"{mine[form]['parse_ms']:.1f}" for form in order),
                "all 4" if same == len(order) else bold(f"{same} of {len(order)}", True),
            ]
        )
    return table(
        [
            "contract",
            "YAML ms",
            "controlled English ms",
            "PNML ms",
            "Turtle + SHACL ms",
            "same FSM",
        ],
        "lrrrrc",
        rows,
    )


@renderer("ledger_frontends.exploration")
def ledger_frontends_exploration(results: Results) -> str:
    runs = results["ledger_frontends"]["exploration"]
    bounds = sorted({r["max_value"] for r in runs})
    rows = []
    for contract in CONTRACTS:
        mine = {r["max_value"]: r for r in runs if r["contract"] == contract}
        rows.append(
            [
                contract,
                *(
                    f"{mine[b]['states']} / {mine[b]['cut']} / {mine[b]['explore_s']:.3f}"
                    for b in bounds
                ),
            ]
        )
    header = ["contract", *(f"bound {b}: states / cut / s" for b in bounds)]
    return table(header, "l" + "r" * len(bounds), rows)


# --- generated contracts: gas (benchmarks/ledger.py) --------------------------------------

TRANSITION_HEADERS = {"reportUsage": "report", "rebindDevice": "rebind"}


@renderer("ledger.gas")
def ledger_gas(results: Results) -> str:
    ledger = results["ledger"]
    header = [
        "variant",
        "deploy",
        "Δ deploy",
        *(TRANSITION_HEADERS.get(t, t) for t in ledger["sequence"]),
        "Δ max",
        "Δ mean",
    ]
    rows = [
        [
            variant,
            f"{g['deploy']:,}",
            f"{g['deploy_delta_pct']:+.1f} %",
            *(f"{s['gas']:,}" for s in g["steps"]),
            signed(g["transition_delta_max"]),
            signed(g["transition_delta_mean"]),
        ]
        for variant, g in ledger["gas"].items()
    ]
    return table(header, "l" + "r" * (len(header) - 1), rows)


@renderer("ledger.targets")
def ledger_targets(results: Results) -> str:
    rows = []
    for variant, t in results["ledger"]["targets"].items():
        if "%" in t["metric"]:
            figures = (f"{t['value']:+.1f} %", f"≤ {t['target']:+.0f} %")
        else:
            figures = (f"{t['value']:+,}", f"≤ {t['target']:+,}")
        rows.append([f"{variant.removeprefix('+ ')}, {t['metric']}", *figures, met(t["met"])])
    return table(["target", "measured", "target", ""], "lrrc", rows)


# --- sealed bundles (benchmarks/vault.py) -------------------------------------------------

VAULT_LOADS = {
    "sealed_load": "sealed load (`open_bundle`) + touch",
    "torch_load": "`torch.load(weights_only=True)` + touch",
    "safetensors_load_file": "`safetensors.torch.load_file` + touch (mmap)",
    "sealed_load_no_touch": "sealed load, no touch",
    "bare_aesgcm_decrypt_into": "bare `AESGCM.decrypt_into` loop, same size",
    "bare_blake3_hash": "bare BLAKE3 over the same bytes",
    "bare_read_chunks": "bare chunked read of the bundle",
}
MIB = 1024 * 1024


@renderer("vault.loads")
def vault_loads(results: Results) -> str:
    loads = results["vault"]["loads"]
    rows = [
        [
            label,
            *(
                f"{loads[regime][key][stat]:.3f}"
                for regime in ("reuse", "fresh")
                for stat in ("min_s", "median_s", "cpu_min_s")
            ),
        ]
        for key, label in VAULT_LOADS.items()
    ]
    header = ["measurement (s)"] + [
        f"{regime} {stat}" for regime in ("reuse", "fresh") for stat in ("min", "median", "CPU min")
    ]
    return table(header, "lrrrrrr", rows)


@renderer("vault.targets")
def vault_targets(results: Results) -> str:
    vault = results["vault"]
    r = vault["ratios"]
    rss = vault["rss"]
    model_mib = vault["model_bytes"] / MIB
    sealed_mib = (rss["sealed"]["peak"] - rss["sealed"]["rss_before"]) / MIB
    load_limit, decrypt_limit = 1.5, 0.5
    load_met = max(r["reuse/sealed_vs_torch_load_min"], r["fresh/sealed_vs_torch_load_min"])
    decrypt = r["reuse/decrypt_throughput_vs_bare_min"]
    first = r["fresh_process_sealed_vs_torch_load"]
    rows = [
        [
            f"sealed load ≤ {load_limit}× `torch.load`, warm cache",
            f"reuse: **{r['reuse/sealed_vs_torch_load_min']:.2f}×** min,"
            f" {r['reuse/sealed_vs_torch_load_median']:.2f}× median,"
            f" {r['reuse/sealed_vs_torch_load_paired_median']:.2f}× paired median,"
            f" {r['reuse/sealed_vs_torch_load_cpu_min']:.2f}× CPU;"
            f" fresh: **{r['fresh/sealed_vs_torch_load_min']:.2f}×** min,"
            f" {r['fresh/sealed_vs_torch_load_median']:.2f}× median,"
            f" {r['fresh/sealed_vs_torch_load_cpu_min']:.2f}× CPU",
            met(load_met <= load_limit),
        ],
        [
            "same, one first load in a fresh process",
            f"{rss['sealed']['fresh_process_load_s']:.3f} s vs"
            f" {rss['torch']['fresh_process_load_s']:.3f} s: **{first:.2f}×** (single run)",
            "met in this case" if first <= load_limit else "**missed** in this case",
        ],
        [
            f"decryption throughput ≥ {decrypt_limit}× bare AES-GCM `decrypt_into`",
            f"sealed load without touch vs bare loop: **{decrypt:.2f}×** min (reuse),"
            f" {r['fresh/decrypt_throughput_vs_bare_min']:.2f}× (fresh)",
            met(decrypt >= decrypt_limit),
        ],
        [
            "seal vs `safetensors.torch.save_file`",
            f"{vault['seal']['min_s']:.3f} s vs {vault['safetensors_save_file']['min_s']:.3f} s:"
            f" **{r['seal_vs_save_file_min']:.2f}×** min, {r['seal_vs_save_file_median']:.2f}×"
            " median",
            "(no target)",
        ],
        [
            f"peak RSS growth ≤ 1.1× model + one chunk ({r['rss_target_vs_model']:.2f}×)",
            f"sealed **{r['sealed_peak_rss_growth_vs_model']:.2f}×** ({sealed_mib:.0f} MiB for"
            f" {model_mib:.0f} MiB), `torch.load` {r['torch_peak_rss_growth_vs_model']:.2f}×",
            met(r["sealed_peak_rss_growth_vs_model"] <= r["rss_target_vs_model"]),
        ],
    ]
    return table(["target", "figure", "result"], "lll", rows)


# --- model ownership (benchmarks/ownership.py) --------------------------------------------


@renderer("ownership.central")
def ownership_central(results: Results) -> str:
    rows = [
        [
            str(c["seed"]),
            *(f"{c[m]['accuracy']:.4f}" for m in ("clean", "marked", "control")),
            *(f"{c[m]['f1']:.4f}" for m in ("clean", "marked")),
            f"{c['trigger_accuracy_marked']:.2f}",
            f"{c['decoy_failure_rate_marked']:.2f}",
        ]
        for c in results["ownership"]["central"]
    ]
    header = ["seed", "clean acc", "marked acc", "control acc", "clean F1", "marked F1"]
    return table([*header, "trig", "decoy"], "rrrrrrrr", rows)


@renderer("ownership.removal")
def ownership_removal(results: Results) -> str:
    rows = [
        [
            spaced_percent(a["attack"]),
            str(a["matches"]),
            short_p(a["p_value"]),
            "yes" if a["detected"] else "**no**",
            f"{a['accuracy']:.4f}",
            fixed(a["accuracy_drop_pp"], 2),
            fixed(a["f1_drop_pp"], 2),
            f"{a['fingerprint_match']:.2f}",
        ]
        for a in results["ownership"]["removal"]
    ]
    header = ["attack", "triggers", "p-value", "detected", "accuracy", "Δacc pp", "ΔF1 pp", "fp"]
    return table(header, "lrrcrrrr", rows)


WAFFLE_RUNS = {"plain": "plain FedAvg", "waffle": "waffle", "waffle-reference": "waffle-reference"}


@renderer("ownership.waffle")
def ownership_waffle(results: Results) -> str:
    rows = []
    for run in results["ownership"]["federated"]["runs"]:
        for key, label in WAFFLE_RUNS.items():
            v = run[key]
            p = short_p(v["p_value"]) if v["p_value"] != 1 else "1"
            hook = v.get("hook_seconds_over_plain_run")
            rows.append(
                [
                    str(run["seed"]),
                    label,
                    f"{v['accuracy']:.4f}",
                    f"{v['f1']:.4f}",
                    f"{round(v['threshold'], 3):g}",
                    f"{v['trigger_accuracy']:.2f}",
                    f"{p} (owned)" if v["owned"] else p,
                    "—" if hook is None else pct(hook),
                ]
            )
    header = ["seed", "run", "accuracy", "F1", "plants' threshold", "trigger acc", "p-value"]
    return table([*header, "hook time"], "rlrrrrrr", rows)


@renderer("ownership.waffle_means")
def ownership_waffle_means(results: Results) -> str:
    s = results["ownership"]["summary"]
    queries = [
        run[key]["queries_for_1e-6"]
        for run in results["ownership"]["federated"]["runs"]
        for key in ("waffle", "waffle-reference")
        if run[key]["queries_for_1e-6"] is not None
    ]
    q = f"{min(queries)}–{max(queries)}" if min(queries) != max(queries) else str(queries[0])
    w, ref = "waffle", "waffle-reference"
    owned = s[f"{w}_owned_runs"].replace("/", " of ")
    owned_ref = s[f"{ref}_owned_runs"].replace("/", " of ")
    detected = f"{owned} runs of each" if owned == owned_ref else f"{owned} and {owned_ref} runs"
    return (
        f"Means: accuracy cost {s[f'{w}_accuracy_cost_pp']:.2f} pp (waffle) and"
        f" {s[f'{ref}_accuracy_cost_pp']:.2f} pp (waffle-reference), F1 cost"
        f" {s[f'{w}_f1_cost_pp']:.1f} pp and {s[f'{ref}_f1_cost_pp']:.1f} pp, hook time"
        f" {pct(s[f'{w}_overhead'])} and {pct(s[f'{ref}_overhead'])} of the plain run; the mark is"
        f" detected in {detected} ({q} queries for p ≤ 1e-6)."
    )


@renderer("ownership.targets")
def ownership_targets(results: Results) -> str:
    own = results["ownership"]
    s = own["summary"]
    central = own["central"]
    n = len(central)
    acc_cost = [100 * (c["clean"]["accuracy"] - c["marked"]["accuracy"]) for c in central]
    f1_cost = [100 * (c["clean"]["f1"] - c["marked"]["f1"]) for c in central]
    control_f1 = statistics.mean(100 * (c["control"]["f1"] - c["clean"]["f1"]) for c in central)
    w, ref = "waffle", "waffle-reference"
    runs = len(own["federated"]["runs"])
    queries = [
        run[key]["queries_for_1e-6"]
        for run in own["federated"]["runs"]
        for key in (w, ref)
        if run[key]["queries_for_1e-6"] is not None
    ]
    removals = {a["attack"]: a for a in own["removal"]}
    by_acc = s["successful_removals_accuracy_rule"]
    by_f1 = s["successful_removals_f1_rule"]

    def removal_list(names: list[str], column: str) -> str:
        return "; ".join(
            f"{spaced_percent(n).split(' (')[0]}: {fixed(-removals[n][column], 2)} pp"
            for n in names
        )

    f1_rule = (
        "none succeeds ("
        + " and ".join(fixed(-removals[n]["f1_drop_pp"], 1) for n in by_acc)
        + " pp F1)"
        if not by_f1
        else f"**{len(by_f1)} succeed** ({removal_list(by_f1, 'f1_drop_pp')})"
    )
    acc_ok = statistics.mean(acc_cost) <= 0.5
    f1_ok = statistics.mean(f1_cost) <= 0.5
    seeds = f"{n} seeds"
    rows = [
        [
            "central embedding accuracy cost ≤ 0.5 pp",
            f"{fixed(statistics.mean(acc_cost), 2)} ± {statistics.stdev(acc_cost):.2f} pp"
            f" ({seeds})",
            met(acc_ok),
        ],
        [
            "central embedding F1 cost ≤ 0.5 pp",
            f"{fixed(statistics.mean(f1_cost), 2)} ± {statistics.stdev(f1_cost):.2f} pp ({seeds};"
            f" the control without triggers {'raises' if control_f1 >= 0 else 'lowers'} F1 by"
            f" {abs(control_f1):.2f} pp on average)",
            "met"
            if f1_ok
            else "**missed** (within seed noise, but missed)"
            if statistics.mean(f1_cost) < statistics.stdev(f1_cost)
            else "**missed**",
        ],
        [
            "aggregator-side accuracy cost ≤ 0.2 pp",
            f"{s[f'{w}_accuracy_cost_pp']:.2f} pp (waffle), {s[f'{ref}_accuracy_cost_pp']:.2f} pp"
            f" (waffle-reference), mean of {runs} runs",
            met(max(s[f"{w}_accuracy_cost_pp"], s[f"{ref}_accuracy_cost_pp"]) <= 0.2),
        ],
        [
            "aggregator-side F1 cost ≤ 0.2 pp",
            f"{s[f'{w}_f1_cost_pp']:.1f} pp, {s[f'{ref}_f1_cost_pp']:.1f} pp (mean of {runs} runs)",
            met(max(s[f"{w}_f1_cost_pp"], s[f"{ref}_f1_cost_pp"]) <= 0.2),
        ],
        [
            "aggregator compute overhead ≤ 5 %",
            f"hook time {pct(s[f'{w}_overhead'])} (waffle), {pct(s[f'{ref}_overhead'])}"
            " (waffle-reference) of the plain run",
            "met"
            if max(s[f"{w}_overhead"], s[f"{ref}_overhead"]) <= 0.05
            else "met for waffle, **missed** with reference rows"
            if s[f"{w}_overhead"] <= 0.05
            else "**missed**",
        ],
        [
            "queries for p ≤ 1e-6 ≤ 100",
            f"{s['queries_for_1e-6']} (central), {min(queries)}–{max(queries)} (WAFFLE)",
            met(max(s["queries_for_1e-6"], *queries) <= 100),
        ],
        [
            "empirical FPR 0 of ≥ 20 null models, stated FPR ≤ 1e-3",
            f"{s['empirical_false_positives']} of {s['null_models']} leave-one-out at stated FPR"
            f" {s['stated_fpr']:.0e}".replace("e-0", "e-"),
            met(s["empirical_false_positives"] == 0 and s["null_models"] >= 20),
        ],
        [
            "no removal keeps accuracy within 5 pp",
            (
                f"accuracy rule: **{len(by_acc)} succeed**"
                f" ({removal_list(by_acc, 'accuracy_drop_pp')});"
                if by_acc
                else "accuracy rule: none succeeds;"
            )
            + f" F1 rule: {f1_rule}",
            "**missed** under the issue's accuracy rule" if by_acc else "met",
        ],
    ]
    return table(["target", "figure", "result"], "lll", rows)


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
    generated = sum(b["source"] == "generated trace" for b in benign)
    real = len(benign) - generated
    rate = prada["benign_alarmed"] / prada["benign_clients"]

    def when(alarm: int | None) -> str:
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
        [
            f"{generated} generated sensor traces"
            + (" + the real AI4I 2020 file" if real else "")
            + ", replayed in order",
            f"{max(b['queries'] for b in benign):,} each",
            ("never: " if prada["benign_alarmed"] == 0 else "")
            + f"{prada['benign_alarmed']} / {prada['benign_clients']} clients (target ≤"
            f" {pct(prada['targets']['benign_false_alarm_rate'], 0)}:"
            f" {met(rate <= prada['targets']['benign_false_alarm_rate'])})",
        ],
    ]
    return table(["client", "queries", "alarm after"], "lrl", rows)


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
            f"p = {t['independent_model_evidence']['p_value']:g}",
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


# --- federated training (benchmarks/federated.py) -----------------------------------------


@renderer("federated.accuracy")
def federated_accuracy(results: Results) -> str:
    acc = results["federated"]["accuracy"]
    labels = {
        "central": "centralized (all training rows pooled, 100 epochs)",
        "federated": f"federated, SecAgg+ FedAvg, {acc['rounds']} rounds × {acc['local_epochs']}"
        " local epochs",
    }
    rows = [
        [label, f"{acc[k]['f1']:.3f}", f"{acc[k]['pr_auc']:.3f}", f"{acc[k]['threshold']:.3f}"]
        for k, label in labels.items()
    ]
    return table(["model", "F1", "PR-AUC", "threshold"], "lrrr", rows)


@renderer("federated.overhead")
def federated_overhead(results: Results) -> str:
    overhead = results["federated"]["overhead"]
    engines = {
        "simulation": "Flower simulation engine (Ray, 2 CPUs)",
        "in_process": "in-process grid",
    }
    rows = [
        [
            label,
            plants,
            f"{cell['fedavg_s']:.3f}",
            f"{cell['secagg_s']:.3f}",
            bold(f"{cell['ratio']:.2f}", cell["ratio"] > 2.5),
        ]
        for key, label in engines.items()
        for plants, cell in overhead[key].items()
    ]
    return table(["engine", "plants", "FedAvg s", "SecAgg+ s", "ratio"], "lrrrr", rows)


ROBUSTNESS_ATTACKS = {
    "sign-flip x5": "sign flip ×5",
    "model replacement": "model replacement (boost 10)",
    "label flip": "label flip",
    "backdoor x5": "backdoor (boost 5)",
}


@renderer("federated.robustness")
def federated_robustness(results: Results) -> str:
    cells = results["federated"]["robustness"]["cells"]
    rules: list[str] = []
    for key in cells:
        rule = key.split(" / ", 1)[1]
        if rule not in rules:
            rules.append(rule)
    rows = []
    for attack, label in ROBUSTNESS_ATTACKS.items():
        row = [label]
        for rule in rules:
            cell = cells[f"{attack} / {rule}"]
            text = bold(f"{cell['f1']:.3f}", cell["drop_pp"] >= 10)
            if "backdoor_success" in cell:
                text += f" (bd {cell['backdoor_success']:.2f})"
            row.append(text)
        rows.append(row)
    return table(["attack", *rules], "l" + "r" * len(rules), rows)


@renderer("federated.dp")
def federated_dp(results: Results) -> str:
    dp = results["federated"]["dp"]
    rows = []
    for noise, v in dp.items():
        if not isinstance(v, dict):
            continue
        off = v["epsilon"] is None
        rows.append(
            [
                "no DP" if off else noise,
                "∞" if off else f"{v['epsilon']:.2f}",
                f"{v['f1']:.3f}",
                f"{v['pr_auc']:.3f}",
                "—" if off else f"{v['f1_cost_pp']:.1f} pp",
            ]
        )
    return table(["noise multiplier", "ε (worst plant)", "F1", "PR-AUC", "F1 cost"], "lrrrr", rows)


@renderer("federated.membership")
def federated_membership(results: Results) -> str:
    membership = results["federated"]["membership"]
    attacks = {"loss_threshold": "loss threshold", "lira": "LiRA"}
    rows = []
    for training, v in membership.items():
        if not isinstance(v, dict):
            continue
        for key, label in attacks.items():
            a = v[key]
            rows.append(
                [
                    training.replace("DP noise", "DP, noise"),
                    "∞" if v["epsilon"] is None else f"{v['epsilon']:.2f}",
                    label,
                    f"{a['auc']:.3f}",
                    pct(a["tpr_at_1pct_fpr"]),
                    pct(a["tpr_at_01pct_fpr"]),
                ]
            )
    header = ["training", "ε", "attack", "AUC", "TPR @ 1 % FPR", "TPR @ 0.1 % FPR"]
    return table(header, "lrlrrr", rows)


SCALE_MODES = {
    "FedAvg": "FedAvg",
    "SecAgg+ (2 log2 n + 1 shares)": "SecAgg+, 2⌈log₂ n⌉ + 1 shares",
    "SecAgg+ (all shares)": "SecAgg+, every plant shares with every other",
}


@renderer("federated.scale")
def federated_scale(results: Results) -> str:
    scale = results["federated"]["scale"]
    sizes = [k for k in scale["FedAvg"] if k.isdigit()]
    rows = [
        [
            label,
            *(
                f"{scale[key][n]['seconds']:.2f} s / {scale[key][n]['peak_rss_mb']:.0f} MB"
                for n in sizes
            ),
            bold(f"n^{scale[key]['exponent']:.2f}", scale[key]["exponent"] <= 1.3),
        ]
        for key, label in SCALE_MODES.items()
    ]
    header = ["mode", *(f"{n} plants" for n in sizes), "growth"]
    return table(header, "l" + "r" * (len(sizes) + 1), rows)


# --- figures quoted in the prose ---------------------------------------------------------


@quote
def demo_weakness(results: Results) -> str:
    mlp = next(
        s
        for s in results["usecase_baseline"]["summary"]
        if (s["data"], s["model"]) == ("generated-fleet", "edgeshield-mlp")
    )
    f1 = results["demo"]["figures"]["federated"]["test"]["f1"]
    return f"(F1 {f1:.2f}, against {mlp['f1_mean']:.3f} for central training on the 5-plant fleet"


@quote
def ledger_frontends_forms(results: Results) -> str:
    forms = results["ledger_frontends"]["forms"]
    same = sum(f["same_fsm"] for f in forms)
    count = "All" if same == len(forms) else f"{word(same).capitalize()} of the"
    return f"{count} {WORDS_TEENS.get(len(forms), str(len(forms)))} forms give the YAML FSM"


WORDS_TEENS = {11: "eleven", 12: "twelve", 13: "thirteen", 14: "fourteen", 15: "fifteen"}


@quote
def ledger_frontends_properties(results: Results) -> str:
    props = results["ledger_frontends"]["properties"]
    fails = [p["trace_length"] for p in props if not p["holds"]]
    ms = [p["check_ms"] for p in props]
    return (
        f"At bound 2, {len(props) - len(fails)} of the {len(props)} benchmark properties hold;"
        f" the {len(fails)} that fail each come with a counterexample of {min(fails)} to"
        f" {max(fails)} calls"
        f" (e.g. `reportUsage cannot happen after suspend` fails through accept, suspend, resume,"
        f" reportUsage). Checking one property on the explored graph takes {min(ms):.2f} to"
        f" {max(ms):.1f} ms."
    )


@quote
def ledger_shipped(results: Results) -> str:
    g = results["ledger"]["gas"]
    shipped, events, timed = g["all plugins (shipped)"], g["+ events"], g["+ timed transitions"]
    return (
        f"The shipped contract with every plugin costs {shipped['deploy_delta_pct']:+.1f} % deploy"
        f" gas and {signed(shipped['transition_delta_mean'])} gas per transition on average;"
        f" events ({signed(events['transition_delta_mean'])}) and timed transitions"
        f" ({signed(timed['transition_delta_mean'])}, one cold read of the deadline)"
    )


@quote
def ledger_timing(results: Results) -> str:
    ledger = results["ledger"]
    c, lat = ledger["compile"], ledger["latency"]
    cached = max(v["cached_s"] for v in c.values())
    return (
        f"load average of {ledger['environment']['load_average'][0]:.1f} (other engineers' test"
        f" suites), so these times are pessimistic: ModelRegistry"
        f" {c['ModelRegistry']['cold_s_median']:.1f} s, ModelLicence"
        f" {c['ModelLicence']['cold_s_median']:.1f} s, FederatedRoundAudit"
        f" {c['FederatedRoundAudit']['cold_s_median']:.1f} s cold, {1000 * cached:.1f} ms or less"
        f" from the artifact cache; deploy of ModelLicence {lat['deploy_ms_median']:.0f} ms, one"
        f" `reportUsage` transaction {lat['transaction_ms_median']:.0f} ms"
    )


@quote
def vault_load_average(results: Results) -> str:
    v = results["vault"]
    return (
        f"load average {v['load_average_at_start']:.1f} at the start and"
        f" {v['load_average_at_end']:.1f} at the end of the run"
    )


@quote
def vault_why(results: Results) -> str:
    v = results["vault"]
    cpu = {k: x["cpu_min_s"] for k, x in v["loads"]["reuse"].items()}
    parts = cpu["bare_blake3_hash"] + cpu["bare_aesgcm_decrypt_into"] + cpu["bare_read_chunks"]
    return (
        f"copy out of the page cache ({cpu['torch_load']:.3f} s CPU for"
        f" {v['model_bytes'] / MIB:.0f} MiB). The sealed loader must also hash every ciphertext"
        f" byte (BLAKE3 alone: {cpu['bare_blake3_hash']:.3f} s CPU) and decrypt it (AES-GCM alone:"
        f" {cpu['bare_aesgcm_decrypt_into']:.3f} s CPU) on top of the read"
        f" ({cpu['bare_read_chunks']:.3f} s CPU): {parts:.3f} s of its"
        f" {cpu['sealed_load_no_touch']:.3f} s of CPU are these three primitives"
    )


@quote
def ownership_plausibility(results: Results) -> str:
    p = results["ownership"]["plausibility"]
    return (
        f"The envelope holds {pct(p['test_rows_inside_envelope'])} of the real test rows and"
        f" {pct(p['uniform_box_points_inside_envelope'])} of points drawn uniformly in the"
        f" sensors' bounding box; {pct(p['test_rows_in_rare_tail'])} of real test rows lie in the"
        " rare tail"
    )


@quote
def ownership_calibration(results: Results) -> str:
    s = results["ownership"]["summary"]
    n = s["null_models"]
    return (
        f"pooled agreement with the trigger labels {pct(s['null_pooled_agreement'], 2)} (95 %"
        f" upper bound {pct(s['null_upper_agreement'], 2)}, over-dispersion ρ ="
        f" {s['null_overdispersion']:.3f}). Leave-one-out (each null model tested against a"
        f" calibration on the other {n - 1}): **{s['empirical_false_positives']} of {n}** declared"
        f" owned at FPR 1e-3; smallest null p-value {s['smallest_null_p_value']:.3f}."
    )


@quote
def ownership_queries(results: Results) -> str:
    return f"**{results['ownership']['summary']['queries_for_1e-6']} queries** reach p ≤ 1e-6."


@quote
def ownership_fingerprint(results: Results) -> str:
    fp = results["ownership"]["fingerprint"]
    stolen, null = fp["stolen_match_rates"], fp["independent_match_rates"]
    return (
        f"match on {min(stolen):.2f}–{max(stolen):.2f} of the points, the {len(null)} null models"
        f" on {min(null):.2f}–{max(null):.2f}; ROC AUC **{fp['roc_auc']:.3f}**"
        f" ({fp['roc_auc_without_distillation']:.3f} without the distilled copy)."
    )


@quote
def federated_gap(results: Results) -> str:
    return f"the gap is {results['federated']['accuracy']['gap_pp']:.1f} pp (target within 1 pp)"


@quote
def federated_clean(results: Results) -> str:
    clean = results["federated"]["robustness"]["clean_f1"]
    return f"Clean FedAvg F1 (SecAgg+, same rounds): **{clean:.3f}**"


@quote
def federated_dp_cost(results: Results) -> str:
    dp = [v for v in results["federated"]["dp"].values() if isinstance(v, dict) and v["epsilon"]]
    tightest = min(dp, key=lambda v: v["epsilon"])
    return f"ε = {tightest['epsilon']:.2f} costs {tightest['f1_cost_pp']:.0f} pp"


@quote
def federated_membership_dp(results: Results) -> str:
    lira = results["federated"]["membership"]["DP noise 1.5"]["lira"]
    tpr = pct(lira["tpr_at_1pct_fpr"])
    return f"With DP: AUC {lira['auc']:.3f} ≤ 0.55 and TPR @ 1 % FPR {tpr} ≤ 2 %"


@quote
def federated_scale_growth(results: Results) -> str:
    scale = results["federated"]["scale"]
    return (
        f"(n^{scale['FedAvg']['exponent']:.2f}) and SecAgg+ with logarithmic neighbourhoods as"
        f" n^{scale['SecAgg+ (2 log2 n + 1 shares)']['exponent']:.2f} (target ≤ n^1.3)"
    )


# --- the page -----------------------------------------------------------------------------


def load_results(directory: Path = RESULTS) -> Results:
    """Every ``*.json`` in ``directory`` by file stem."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def render_block(name: str, results: Results) -> str:
    """One block's body, with a clear error for an unknown block or a missing figure."""
    if name not in RENDERERS:
        raise RenderError(f"docs/results.md has a block {name!r} that no renderer knows")
    try:
        return RENDERERS[name](results)
    except KeyError as exc:
        stem = name.split(".", 1)[0]
        if stem not in results:
            raise RenderError(
                f"block {name!r} needs benchmarks/results/{stem}.json, which is missing"
            ) from exc
        raise RenderError(f"block {name!r}: {stem}.json has no key {exc}") from exc


def render(text: str, results: Results) -> str:
    """The page with every generated block re-rendered and the prose untouched."""

    def replace(match: re.Match[str]) -> str:
        body = render_block(match["name"], results)
        return f"{match['open']}{body}\n{match['close']}"

    return BLOCK.sub(replace, text)


def missing_quotes(text: str, results: Results) -> list[str]:
    """The prose figures of ``QUOTES`` that the page does not say as the JSON renders them."""
    flat = " ".join(text.split())
    return [q for q in (" ".join(f(results).split()) for f in QUOTES) if q not in flat]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the page differs from what the JSON renders",
    )
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    text = args.doc.read_text()
    results = load_results(args.results)
    try:
        rendered = render(text, results)
    except RenderError as exc:
        print(f"render_results: {exc}", file=sys.stderr)
        return 2
    blocks = len(BLOCK.findall(text))
    missing = missing_quotes(rendered, results)
    for phrase in missing:
        print(f"render_results: the prose does not say {phrase!r}", file=sys.stderr)
    if args.check:
        stale = [
            m["name"]
            for m, n in zip(BLOCK.finditer(text), BLOCK.finditer(rendered), strict=True)
            if m["body"] != n["body"]
        ]
        for name in stale:
            print(f"render_results: block {name!r} differs from its JSON", file=sys.stderr)
        if stale or missing:
            print(
                "render_results: run `make bench` or benchmarks/render_results.py", file=sys.stderr
            )
            return 1
        print(f"{args.doc}: {blocks} generated blocks match the JSON")
        return 0
    if rendered != text:
        args.doc.write_text(rendered)
    print(f"{args.doc}: {blocks} generated blocks rendered")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
