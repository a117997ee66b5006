"""The demonstrator's blocks from benchmarks/demo.py's default run (demo.json).

Every figure of the section's prose is generated here, so that a rerun of the demo (which is
still being tuned) re-renders the section instead of leaving stale sentences behind.
"""

# The page's typography (multiplication sign, en dash, minus sign) is rendered as is.
# ruff: noqa: RUF001

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from ._core import ROOT, RenderError, Results, renderer, table, word

STEP_NAMES = {"licence suspended on chain": "licence suspended"}
ENGINES = {"in-process": "in-process Flower grid", "simulation": "Flower simulation engine (Ray)"}


def demo_f1(run: dict[str, Any]) -> float:
    """The failure F1 of one demo run's federated model on the test rows."""
    return float(run["figures"]["federated"]["test"]["f1"])


def epsilon_phrase(federated: dict[str, Any]) -> str:
    """The run's privacy guarantee as the page writes it ("ε = 3.24 at δ = 1e-5"), or ""."""
    if federated.get("dp_noise") is None:
        return ""
    delta = f"{federated['record_delta']:.0e}".replace("e-0", "e-")
    return f"ε = {federated['record_epsilon']:.2f} at δ = {delta}"


CONFIG_SOURCE = ROOT / "src" / "edgeshield" / "demo" / "_config.py"
#: The demo's settings that the grid of benchmarks/demo_dp.py varies.
GRID_FIELDS = ("rows", "local_epochs", "batch_size", "rounds", "dp_noise")


def config_defaults(source: Path = CONFIG_SOURCE) -> dict[str, Any]:
    """``DemoConfig``'s literal defaults, read from its source (the renderer imports no torch)."""
    tree = ast.parse(source.read_text())
    node = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "DemoConfig"),
        None,
    )
    if node is None:
        raise RenderError(f"{source} defines no DemoConfig")
    defaults: dict[str, Any] = {}
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value:
            try:
                defaults[item.target.id] = ast.literal_eval(item.value)
            except ValueError:
                continue  # an enum member or another expression: not a grid setting
    return defaults


def demo_settings(results: Results) -> dict[str, Any]:
    """The demo's rows, epochs, batch, rounds, noise and noise source (the grid's cell key).

    As demo.json records them; what it does not record (epochs, batch) from ``DemoConfig``.
    """
    demo = results["demo"]
    fed = demo["figures"]["federated"]
    recorded = {
        "rows": demo["figures"]["plants"]["rows"],
        "rounds": len(fed["rounds"]),
        "dp_noise": fed.get("dp_noise"),
        **demo.get("config", {}),
    }
    defaults = config_defaults()
    fields = (*GRID_FIELDS, "reproducible_dp")
    settings = {f: recorded[f] if f in recorded else defaults.get(f) for f in fields}
    missing = [f for f, v in settings.items() if v is None and f != "dp_noise"]
    if missing:
        raise RenderError(f"neither demo.json nor {CONFIG_SOURCE.name} gives {missing}")
    settings["fresh_dp_noise"] = settings["dp_noise"] is not None and not settings.pop(
        "reproducible_dp"
    )
    return settings


def extraction_cap(serve: dict[str, Any]) -> tuple[int, int]:
    """Queries answered to the guarded and to the undefended Jacobian attacker."""
    return serve["attacker_points"][-1]["queries"], serve["undefended_points"][-1]["queries"]


@renderer("demo.config")
def demo_config(results: Results) -> str:
    fig = results["demo"]["figures"]
    fed = fig["federated"]
    buckets = fed["rounds"][0]["buckets"]
    dp = (
        f"record-level DP-SGD in every plant with noise multiplier {fed['dp_noise']:.1f}"
        if fed.get("dp_noise") is not None
        else "no DP"
    )
    text = (
        f"Recorded in the JSON: {len(fig['plants']['failures'])} plants,"
        f" {fig['plants']['rows']:,} rows, {len(fed['rounds'])} rounds, SecAgg+ in buckets of"
        f" {len(buckets[0])} with a median across the {len(buckets)} buckets, {dp},"
        f" {fig['prove']['null_models']} null models, a Jacobian attack budget of"
        f" {fig['serve']['undefended_points'][-1]['budget']:,} queries, a natural-query thief"
        f" of {fig['serve']['thief_queries']:,} queries;"
        f" {ENGINES.get(results['demo']['engine'], results['demo']['engine'])}."
    )
    settings = demo_settings(results)
    recorded = results["demo"].get("config", {})
    source = (
        "Recorded too"
        if {"local_epochs", "batch_size"} <= recorded.keys()
        else "Not recorded in the JSON, from `DemoConfig`'s defaults"
    )
    text += (
        f" {source}: {settings['local_epochs']} local epochs per round, DP-SGD batch"
        f" {settings['batch_size']}."
    )
    if "hidden" in recorded:
        widths = " and ".join(str(w) for w in recorded["hidden"])
        layers = "one hidden layer" if len(recorded["hidden"]) == 1 else "hidden layers"
        text += (
            f" The classifier: {layers} of {widths} units over"
            f" {recorded.get('bins', 16)} piecewise-linear bins per numeric feature."
        )
    if settings["fresh_dp_noise"]:
        text += (
            " The DP noise is drawn from fresh OS entropy, not from the seed (`--reproducible-dp`"
            " derives it from the seed, for demonstrations only), so a rerun with the same seed"
            " trains another model."
        )
    return text


@renderer("demo.run")
def demo_run(results: Results) -> str:
    demo = results["demo"]
    if demo["failed"]:
        return f"The run **failed** at step {demo['failed']}."
    return f"One run, {demo['seconds']:.0f} s in all on the 2-core machine."


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
    attacker = (
        f"Jacobian attacker alarmed at its query {serve['attacker_alarm_at']} (guard's count)"
    )
    if serve["attacker_refused_at"] is not None:
        attacker += (
            f", throttled; it gave up with {serve['attacker_refused_at']:,} answers it could use"
        )
    guarded, undefended = extraction_cap(serve)
    eps = epsilon_phrase(fed)

    def trig(name: str, label: str) -> str:
        v = prove[name]
        return f"{label} {v['matches']}/{v['queries']} triggers (p = {v['p_value']:.1e})"

    api = prove["api_watermark"]
    outcomes = {
        "plants": f"{plants} plants, {fig['plants']['rows']:,} rows, {failures} failures in SQLite",
        "federated": (
            f"failure F1 {fed['test']['f1']:.3f} (PR-AUC {fed['test']['pr_auc']:.3f})"
            + (f" with DP-SGD, {eps}" if eps else " without DP")
            + f"; plain FedAvg under the same attack {fed['fedavg']['test']['f1']:.3f};"
            f" watermark on {100 * fed['trigger_accuracy']:.0f} % of the triggers"
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
            f" {attacker} ({guarded:,} answered; {undefended:,} with the defences off);"
            f" natural-query thief ({serve['thief_queries']:,} queries) {thief}"
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
    rows = []
    for step in demo["steps"]:
        name = step["title"][0].lower() + step["title"][1:]
        rows.append([STEP_NAMES.get(name, name), f"{step['seconds']:.1f}", outcomes[step["key"]]])
    return table(["step", "seconds", "measured outcome"], "lrl", rows)


@renderer("demo.dp")
def demo_dp_line(results: Results) -> str:
    fed = results["demo"]["figures"]["federated"]
    eps = epsilon_phrase(fed)
    if not eps:
        return "**No DP** in this run: the model's training rows have no formal privacy bound."
    head = (
        f"**Differential privacy**: DP-SGD with noise multiplier {fed['dp_noise']:.1f} inside"
        f" every plant gives {eps} for the worst plant after {len(fed['rounds'])} rounds."
    )
    privacy = fed.get("privacy") or {}
    if not privacy.get("covers"):  # runs before the threshold moved to public data
        return (
            head + " ε covers the rows each plant trains on, and only those: every round each"
            " plant also sends per-threshold counts on its validation rows, unnoised, from which"
            " the server picks the decision threshold; ε does not cover them."
        )
    trains = {"all": "every layer", "head": "the output layer only"}.get(
        str(privacy.get("trainable", "all")), str(privacy.get("trainable"))
    )
    covers = privacy["covers"]
    return f"{head} DP-SGD trains {trains}. What ε covers, as the run recorded it: {covers}."


@renderer("demo.weakness")
def demo_weakness(results: Results) -> str:
    mlp = next(
        s
        for s in results["usecase_baseline"]["summary"]
        if (s["data"], s["model"]) == ("generated-fleet", "edgeshield-mlp")
    )
    fed = results["demo"]["figures"]["federated"]
    rounds = len(fed["rounds"])
    reference = fed.get("reference") or {}
    if reference.get("central") and reference.get("federated_no_dp"):
        return _price_line(fed, reference)
    costs = "the median across bucket means"
    if fed.get("dp_noise") is not None:
        costs += ", DP-SGD's noise (grid below)"
    return (
        "What this run does **not** show, stated plainly: the demo's model is weak (failure F1"
        f" {fed['test']['f1']:.3f}, PR-AUC {fed['test']['pr_auc']:.3f}, against"
        f" {mlp['f1_mean']:.3f} for central training on the 5-plant fleet of the baseline table"
        f" below): {word(rounds)} short rounds, {costs} and WAFFLE's re-training (its F1 cost is"
        " in the ownership section) all cost F1."
    )


def _price_line(fed: dict[str, Any], reference: dict[str, Any]) -> str:
    """The weakness line from the run's own reference models (same test rows)."""
    central, no_dp = reference["central"]["f1"], reference["federated_no_dp"]["f1"]
    line = (
        "What this run does **not** show, stated plainly: the released model is"
        f" {100 * (central - fed['test']['f1']):.1f} points of failure F1 below central training"
        f" on the same pooled rows ({fed['test']['f1']:.3f} against {central:.3f}, PR-AUC"
        f" {fed['test']['pr_auc']:.3f} against {reference['central']['pr_auc']:.3f}, the same"
        f" {reference['test_rows']:,} test rows): federation under one poisoning plant with a"
        f" median across buckets costs {100 * (central - no_dp):.1f} points (federated without"
        f" DP: {no_dp:.3f})"
    )
    dp = reference.get("federated_dp")
    if dp:
        cost = 100 * (dp["f1"] - fed["test"]["f1"])
        mark = (
            f"the owner's watermark {cost:.1f} more"
            if cost >= 0
            else f"the run with the owner's watermark scored {-cost:.1f} points above the one"
            " without it"
        )
        line += f", DP-SGD {100 * (no_dp - dp['f1']):.1f} more ({dp['f1']:.3f}) and {mark}"
    return line + ". One run: a few points of each difference are run-to-run noise."


@renderer("demo.extraction")
def demo_extraction(results: Results) -> str:
    serve = results["demo"]["figures"]["serve"]
    guarded = {p["budget"]: p for p in serve["attacker_points"]}
    rows = []
    for point in serve["undefended_points"]:
        g = guarded.get(point["budget"])
        rows.append(
            [
                f"{point['budget']:,}",
                "–" if g is None else f"{g['queries']:,}",
                "–" if g is None else f"{g['macro_agreement']:.2f} / {g['failure_agreement']:.2f}",
                f"{point['queries']:,}",
                f"{point['macro_agreement']:.2f} / {point['failure_agreement']:.2f}",
            ]
        )
    header = ["queries asked", "guarded: answered", "guarded: fidelity"]
    header += ["undefended: answered", "undefended: fidelity"]
    return table(header, "rrrrr", rows)


@renderer("demo.extraction_summary")
def demo_extraction_summary(results: Results) -> str:
    serve = results["demo"]["figures"]["serve"]
    guarded, undefended = extraction_cap(serve)
    g, u = serve["attacker_points"][-1], serve["undefended_points"][-1]
    refused = (
        "never refused"
        if serve["undefended_refused_at"] is None
        else f"refused after {serve['undefended_refused_at']:,} queries"
    )
    same = {p["queries"]: p for p in serve["undefended_points"]}
    at_equal = same.get(g["queries"])
    equal = (
        ""
        if at_equal is None
        else f" At an equal {g['queries']:,} queries the two surrogates agree with the victim on"
        f" {g['macro_agreement']:.2f} and {at_equal['macro_agreement']:.2f} (macro)"
        + (
            ": the guard gave the undefended service's answers (the API watermark altered none)"
            if serve.get("attacker_watermarked") == 0
            and abs(g["macro_agreement"] - at_equal["macro_agreement"]) < 0.005
            else f" ({serve.get('attacker_watermarked', 0)} of the guarded answers altered by"
            " the API watermark)"
        )
        + "."
    )
    return (
        f"The guarded attacker was alarmed after {serve['attacker_alarm_at']:,} queries and had"
        f" {guarded:,} answered; the undefended one had all {undefended:,} answered"
        f" ({serve['undefended_throttled']} requests delayed, {refused}).{equal} After its whole"
        f" budget the undefended surrogate reached {u['macro_agreement']:.2f} (macro) and"
        f" {u['failure_agreement']:.2f} on failures, against {g['macro_agreement']:.2f} and"
        f" {g['failure_agreement']:.2f} for the guarded one."
    )
