"""The demonstrator's blocks: benchmarks/demo.py (both engines), demo_buckets.py, demo_dp.py."""

# The page's typography (multiplication sign, en dash, minus sign, rho) is rendered as is.
# ruff: noqa: RUF001

from __future__ import annotations

from typing import Any

from ._core import (
    Results,
    quote,
    renderer,
    table,
)

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


@quote
def demo_weakness(results: Results) -> str:
    mlp = next(
        s
        for s in results["usecase_baseline"]["summary"]
        if (s["data"], s["model"]) == ("generated-fleet", "edgeshield-mlp")
    )
    f1 = results["demo"]["figures"]["federated"]["test"]["f1"]
    return f"(F1 {f1:.2f}, against {mlp['f1_mean']:.3f} for central training on the 5-plant fleet"
