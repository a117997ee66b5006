"""The evidence report of a demo run (Markdown and HTML with plots), from the step records."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edgeshield.demo._plots import draw_plots
from edgeshield.demo._prices import Price, quality_ladder
from edgeshield.demo._report_html import markdown_to_html
from edgeshield.demo._scenario import DemoResult
from edgeshield.demo._verdict import (
    Verdict,
    dataset_of,
    positive_label,
    response_phrase,
    verdict,
)

__all__ = ["REPORT_SECTIONS", "ReportPaths", "write_report"]

REPORT_SECTIONS = (
    "Summary",
    "Steps",
    "Federated training",
    "Guarded service",
    "Ownership",
    "Ledger timeline",
    "Reviewer's figures",
    "Configuration",
)
"""Every report has these sections, in this order (empty ones say why)."""


@dataclass(frozen=True)
class ReportPaths:
    """Files written by :func:`write_report`, and the verdict that heads the report."""

    markdown: Path
    html: Path
    plots: dict[str, Path]
    verdict: str


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if (abs(value) < 1e-3 and value) else f"{value:.3f}"
    return "n/a" if value is None else str(value)


def _config_value(value: Any) -> str:
    """A configuration value as a user types it: enums by their value, not their Python name."""
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def _step_map(result: DemoResult) -> dict[str, dict[str, Any]]:
    """The steps in the shape of ``result.json``, as :func:`verdict` reads them."""
    return {s.key: {"figures": s.figures, "seconds": s.seconds, "gas": s.gas} for s in result.steps}


def _price_cells(price: Price) -> str:
    points = "not measured" if price.f1_points is None else f"{price.f1_points:+.1f}"
    seconds = "not measured" if price.seconds is None else f"{price.seconds:.1f}"
    gas = "none" if price.gas == 0 else ("not measured" if price.gas is None else f"{price.gas:,}")
    return f"| {price.protection} | {points} | {seconds} | {gas} | {price.note} |"


def _figures(result: DemoResult) -> dict[str, dict[str, Any]]:
    """Each step's figures by step key."""
    return {s.key: s.figures for s in result.steps}


def _data_lines(result: DemoResult) -> list[str]:
    """For a schema other than AI4I: which data the run used, and what it could not run."""
    dataset = dataset_of(_figures(result))
    if dataset is None:
        return []
    plants = _figures(result)["plants"]
    name, positive = dataset["name"], dataset["positive"]
    return [
        f"**Data**: dataset schema `{name}` ({dataset['sha256']}), positive class "
        f"'{positive}' (every F1 below is the F1 of '{positive}'); {plants.get('source', '')}.",
        "",
        f"**Not run for schema `{name}`**, which has no generator and declares no failure "
        "physics: public pretraining (the shipped public file is AI4I 2020 data, so the model "
        "starts from a random model, and so do the price table's reference models); "
        "physics-labelled control and anchor points (the "
        "watermark's triggers are rare rows of the schema's envelope fitted on the public "
        "reference rows, with balanced secret labels). Instead of generated readings, the "
        "benign client replays held-out rows and the natural-query thief sends the public "
        "reference rows, then jittered copies of them.",
        "",
    ]


def _ladder_lines(result: DemoResult) -> list[str]:
    """The released model's F1 and PR-AUC next to the reference models of the same run."""
    fed = next((s.figures for s in result.steps if s.key == "federated"), None)
    if not fed:
        return []
    ref = fed.get("reference") or {}
    ladder = quality_ladder(fed)
    if not ladder:
        why = "the run trained no reference models (--no-price-protections)"
        if ref.get("error"):
            why = f"the reference models were not used: {ref['error']}"
        return [f"_(No price table of the protections in F1: {why}.)_", ""]
    lines = [
        f"**Price of each protection in F1** ({positive_label(_figures(result))} F1 and PR-AUC"
        " on the same "
        f"{ref['test_rows']} test rows; one run each, so a difference of a few points can be "
        "run-to-run noise; the reference models were trained in a second process during "
        "this run and are not released):",
        "",
        "| model | F1 | PR-AUC | F1 points vs central | F1 points vs the row above |",
        "|---|---:|---:|---:|---:|",
    ]
    for rung in ladder:
        above = "" if rung.points_vs_previous is None else f"{rung.points_vs_previous:+.1f}"
        lines.append(
            f"| {rung.model} | {rung.f1:.3f} | {rung.pr_auc:.3f} | "
            f"{rung.points_vs_central:+.1f} | {above} |"
        )
    return [*lines, ""]


def _summary_lines(result: Verdict, *, stopped: bool) -> list[str]:
    """The headline paragraph, then the attack and price tables it was computed from."""
    lines = [
        "**Verdict**"
        + (" (on the steps that ran before the run stopped)" if stopped else "")
        + ": "
        + result.headline,
        "",
    ]
    if result.attacks:
        lines += [
            "| attack | without defences | with defences | what the defences changed | effect |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {a.attack} | {a.without} | {a.defended} | {a.changed} | {a.effect.value} |"
            for a in result.attacks
        ]
        lines.append("")
    if result.prices:
        lines += [
            "| protection | F1 points | seconds | gas | how measured |",
            "|---|---:|---:|---:|---|",
        ]
        lines += [_price_cells(p) for p in result.prices]
        lines.append("")
    return lines


def _chain_lines(result: DemoResult) -> list[str]:
    """Say where the cited contracts live; warn when it was the throw-away embedded chain."""
    ledger = next((s.figures for s in result.steps if s.key == "ledger"), None)
    if not ledger or "chain" not in ledger:
        return []
    if ledger.get("chain_embedded"):
        return [
            f"The contracts cited below ran on the embedded chain ({ledger['chain']}) of this "
            "run: throw-away, gone when the run ended, so nobody else can check them. Run with "
            "`--rpc-url` to record on a chain others can read.",
            "",
        ]
    return [f"The contracts cited below are on the chain at {ledger['chain']}.", ""]


def _reviewer_rows(result: DemoResult) -> list[tuple[str, str]]:
    by_key = {s.key: s.figures for s in result.steps}
    rows: list[tuple[str, str]] = []
    fed = by_key.get("federated")
    if fed:
        word = positive_label(by_key)
        rows.append((f"global model {word} F1 (test rows)", _fmt(fed["test"]["f1"])))
        rows.append(("global model PR-AUC", _fmt(fed["test"]["pr_auc"])))
        if "fedavg" in fed:
            rows.append(
                ("plain FedAvg F1 under the same attack", _fmt(fed["fedavg"]["test"]["f1"]))
            )
        rows.append(("record-level ε per plant (δ = 1e-5)", _fmt(fed["record_epsilon"])))
        privacy = fed.get("privacy") or {}
        if privacy.get("record_dp"):
            rows.append(
                (
                    "DP-SGD noise multiplier, clip, Poisson rate, accountant",
                    f"{privacy['noise_multiplier']:g}, {privacy['clip']:g},"
                    f" {privacy['sample_rate']:.4f}, {privacy['accountant']}",
                )
            )
            rows.append(("DP-SGD trains", f"{privacy.get('trainable', 'all')} parameters"))
            rows.append(("ε covers", str(privacy["covers"])))
        public = fed.get("public_pretraining")
        if public:
            rows.append(
                (
                    "public pretraining data",
                    f"{public['description']}, {public['rows']} rows, {public['size_bytes']}"
                    f" bytes, sha256 {str(public['sha256'])[:16]}…",
                )
            )
        rows.append(("share of triggers carrying the watermark", _fmt(fed["trigger_accuracy"])))
    serve = by_key.get("serve")
    if serve:
        rows.append(
            ("PRADA alarm when the guard had received (queries)", _fmt(serve["attacker_alarm_at"]))
        )
        rows.append(("attacker requests delayed by 429", _fmt(serve["attacker_throttled"])))
        baseline = serve.get("undefended_points") or []
        if serve["attacker_points"] and baseline:
            g, b = serve["attacker_points"][-1], baseline[-1]
            macro = f"{_fmt(g['macro_agreement'])} / {_fmt(b['macro_agreement'])}"
            rows.append(("attacker queries answered, with / without defences",
                         f"{g['queries']} / {b['queries']}"))  # fmt: skip
            rows.append(("surrogate macro agreement, with / without defences", macro))
        rows.append(("benign rows served / alarms", f"{serve['benign_rows']} / 0"))
        rows.append(("natural-query thief alarm", _fmt(serve["thief_alarm_at"])))
    prove = by_key.get("prove")
    if prove:
        rows.append(("null models calibrating the test", _fmt(prove["null_models"])))
        rows.append(("p-value, released model", _fmt(prove["released"]["p_value"])))
        rows.append(
            ("p-value, stolen fine-tuned copy", _fmt(prove["stolen_fine_tuned"]["p_value"]))
        )
        rows.append(
            ("p-value, thief surrogate (API watermark)", _fmt(prove["api_watermark"]["p_value"]))
        )
        rows.append(
            ("p-value, thief surrogate (trigger set)", _fmt(prove["surrogate_triggers"]["p_value"]))
        )
        rows.append(("stated false-positive rate", _fmt(prove["released"]["fpr"])))
    suspend = by_key.get("suspend")
    if suspend:
        rows.append(("HTTP status after on-chain suspension", _fmt(suspend["status"])))
    return rows


def _extraction_lines(serve: dict[str, Any], positive: str = "failure") -> list[str]:
    """The with/without-defences comparison of the Jacobian attack, from the step's figures."""
    rows = "failures" if positive == "failure" else f"'{positive}' rows"
    guarded, baseline = serve["attacker_points"], serve.get("undefended_points") or []
    if not guarded or not baseline:
        return ["_(No undefended baseline was measured in this run.)_", ""]
    g, b = guarded[-1], baseline[-1]
    lines = [
        "The same Jacobian extraction (same seed, budgets, attacker readings and evaluation "
        "rows) ran against the guarded gateway and against the same model served with the "
        "extraction defences off (no PRADA detection, hence no throttle; no API watermark; "
        "full output; unlimited rate). Fidelity is the surrogate's agreement with the victim "
        "on held-out rows.",
        "",
        "| Jacobian attacker | with defences | without defences |",
        "|---|---:|---:|",
        f"| queries answered | {g['queries']} | {b['queries']} |",
        f"| PRADA alarm when the guard had received (queries) | "
        f"{_fmt(serve['attacker_alarm_at'])} | off |",
        f"| requests delayed by 429 | {serve['attacker_throttled']} | "
        f"{_fmt(serve.get('undefended_throttled'))} |",
        f"| refused once it held (answers) | {_fmt(serve['attacker_refused_at'])} | "
        f"{_fmt(serve.get('undefended_refused_at'))} |",
        f"| answers altered by the API watermark | {_fmt(serve.get('attacker_watermarked'))} "
        "| 0 (off) |",
        f"| final macro agreement | {_fmt(g['macro_agreement'])} | {_fmt(b['macro_agreement'])} |",
        f"| final agreement on {rows} | {_fmt(g['failure_agreement'])} | "
        f"{_fmt(b['failure_agreement'])} |",
        "",
        "What the guard did: "
        + response_phrase(
            serve["attacker_alarm_at"], serve["attacker_throttled"], serve["attacker_refused_at"]
        )
        + ".",
        "",
        f"What the defences changed: the attacker had {g['queries']} of the {b['queries']} "
        f"queries it asked for answered, and its surrogate ended at macro agreement "
        f"{_fmt(g['macro_agreement'])} instead of {_fmt(b['macro_agreement'])} "
        f"({100 * (g['macro_agreement'] - b['macro_agreement']):+.1f} pp) and agreement on "
        f"{rows} {_fmt(g['failure_agreement'])} instead of {_fmt(b['failure_agreement'])}.",
    ]
    same = {p["queries"]: p for p in baseline}
    common = [p for p in guarded if p["queries"] in same]
    if common:
        at, macro = common[-1], common[-1]["macro_agreement"]
        other = same[at["queries"]]["macro_agreement"]
        lines.append(
            f"At an equal {at['queries']} queries the macro agreement is {_fmt(macro)} with "
            f"defences and {_fmt(other)} without"
            + (
                ": the gap comes from the answers the guard withheld after the alarm, not from "
                "the answers it gave."
                if abs(macro - other) <= 0.02 and g["queries"] < b["queries"]
                else "."
            )
        )
    return [*lines, ""]


def _markdown(result: DemoResult, plots: dict[str, Path], judged: Verdict) -> str:
    status = "completed" if result.failed is None else f"STOPPED: {result.failed}"
    lines = [
        "# EdgeShield demo: evidence report",
        "",
        "## Summary",
        "",
        f"Run `{result.run_dir.name}`: {len(result.steps)} of 7 steps, {status}, "
        f"{result.seconds:.0f} s. Every figure below was measured in this run.",
        "",
        *_data_lines(result),
        *_summary_lines(judged, stopped=result.failed is not None),
        *_ladder_lines(result),
        *_chain_lines(result),
        "## Steps",
        "",
        "| # | step | outcome | seconds |",
        "|---:|---|---|---:|",
    ]
    for i, step in enumerate(result.steps, 1):
        lines.append(f"| {i} | {step.title} | {step.outcome} | {step.seconds:.1f} |")

    def image(name: str, caption: str) -> list[str]:
        if name not in plots:
            return [f"_({caption}: the step that draws it did not run.)_", ""]
        return [f"![{caption}](plots/{plots[name].name})", ""]

    lines += ["", "## Federated training", ""]
    positive = positive_label(_figures(result))
    lines += image("training", f"{positive} F1 per plant and round")
    lines += image("aggregators", "poisoning plant against the aggregator")
    lines += ["## Guarded service", ""]
    lines += image("extraction", "extraction fidelity against queries, with and without defences")
    serve = next((s for s in result.steps if s.key == "serve"), None)
    if serve:
        lines += _extraction_lines(serve.figures, positive)
    lines += ["## Ownership", ""]
    lines += image("ownership", "trigger agreement against the null distribution")
    prove = next((s for s in result.steps if s.key == "prove"), None)
    if prove:
        target = prove.figures.get("evidence_html", "evidence/evidence.html")
        lines += [f"Evidence report: [{target}]({target}) (with the measured null distribution)"]
        lines += [""]
    lines += ["## Ledger timeline", ""]
    lines += image("ledger", "contract events by block")
    if result.chain_events:
        lines += ["| block | contract | event |", "|---:|---|---|"]
        lines += [f"| {e['block']} | {e['contract']} | {e['event']} |" for e in result.chain_events]
        lines.append("")
    lines += ["## Reviewer's figures", "", "| figure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in _reviewer_rows(result)]
    lines += ["", "## Configuration", "", "```"]
    lines += [
        f"{f.name} = {_config_value(getattr(result.config, f.name))}"
        for f in fields(result.config)
        if f.name not in ("private_keys", "schema", "data", "split_by")
    ]
    if result.config.schema is not None:  # AI4I's (the default) configuration reads as before
        schema = result.config.schema
        lines += [f"schema = {schema.name} ({schema.digest})", f"data = {result.config.data}"]
        lines += [f"split_by = {result.config.split_by or 'random'}"]
    lines += ["```", ""]
    return "\n".join(lines)


def write_report(result: DemoResult) -> ReportPaths:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` into the run directory."""
    plots = draw_plots(result.steps, result.chain_events, result.run_dir / "plots")
    judged = verdict(_step_map(result))
    markdown = _markdown(result, plots, judged)
    md_path = result.run_dir / "report.md"
    md_path.write_text(markdown)
    html_path = result.run_dir / "report.html"
    html_path.write_text(markdown_to_html(markdown, plots))
    return ReportPaths(markdown=md_path, html=html_path, plots=plots, verdict=judged.headline)
