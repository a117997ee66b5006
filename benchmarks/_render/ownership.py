"""The model ownership blocks (benchmarks/ownership.py)."""

# The page's typography (multiplication sign, en dash, minus sign, rho) is rendered as is.
# ruff: noqa: RUF001

from __future__ import annotations

import statistics

from ._core import (
    Results,
    fixed,
    met,
    pct,
    quote,
    renderer,
    short_p,
    spaced_percent,
    table,
)

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
    nulls = s["null_models"]
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
            f"{s['queries_for_1e-6']} (central), {min(queries)}–{max(queries)} (WAFFLE), on the"
            f" model p-value; the reported p is never below 1/(N + 1) = {1 / (nulls + 1):.2g}",
            "**missed** as reported (the floor); met on the model p-value"
            if max(s["queries_for_1e-6"], *queries) <= 100 and 1 / (nulls + 1) > 1e-6
            else met(max(s["queries_for_1e-6"], *queries) <= 100),
        ],
        [
            "empirical FPR 0 of ≥ 20 null models, stated FPR ≤ 1e-3",
            f"{s['empirical_false_positives']} of {nulls} leave-one-out at stated FPR"
            f" {s['stated_fpr']:.2g}"
            + (
                f" (95 % upper bound on the false-OWNED rate {s['false_owned_upper_95']:.2f})"
                if "false_owned_upper_95" in s
                else ""
            ),
            met(s["empirical_false_positives"] == 0 and nulls >= 20 and s["stated_fpr"] <= 1e-3)
            if s["stated_fpr"] <= 1e-3 or s["empirical_false_positives"]
            else f"0 false positives; **missed** on the stated FPR ({nulls} null models support no"
            " FPR below 1/(N + 1))",
        ],
        *(
            [
                [
                    "false-OWNED rate's 95 % upper bound ≤ stated FPR (issue 18 audit)",
                    f"{len(a['false_owned'])} of {a['pairs']:,} honest model × key pairs"
                    f" ({len(a['models'])} models × {a['keys']} keys); upper bound"
                    f" {a['rate_upper_95']:.2g} at stated FPR {a['stated_fpr']:.2g}",
                    met(a["holds"]),
                ]
            ]
            if (a := own.get("false_positive_audit"))
            else []
        ),
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


def _audit_family(name: str) -> tuple[str, str]:
    """(training path, data source) of an audit model name such as ``mlp16/ai4i/split0/init1``."""
    kind, source = name.split("/")[:2]
    if kind.startswith("mlp"):
        return "MLP (widths 16, 32, 64×64; split × init seeds)", source
    if kind in ("distilled", "federated"):
        return {"distilled": "distilled from a clean MLP", "federated": "federated"}[kind], source
    return "scikit-learn (logistic, gradient boosting, random forest)", source


@renderer("ownership.audit")
def ownership_audit(results: Results) -> str:
    a = results["ownership"]["false_positive_audit"]
    keys = a["keys"]
    groups: dict[tuple[str, str], list[str]] = {}
    for name in a["models"]:
        groups.setdefault(_audit_family(name), []).append(name)
    accused: dict[str, int] = {}
    for f in a["false_owned"]:
        accused[f["model"]] = accused.get(f["model"], 0) + 1
    rows = [
        [
            kind,
            source,
            str(len(names)),
            f"{len(names) * keys:,}",
            str(sum(accused.get(n, 0) for n in names)),
        ]
        for (kind, source), names in sorted(groups.items())
    ]
    total = len(a["false_owned"])
    rows.append(
        [
            "**all**",
            "",
            str(len(a["models"])),
            f"{a['pairs']:,}",
            f"**{total}** (rate {a['rate']:.2g}; 95 % upper bound {a['rate_upper_95']:.2g};"
            f" binomial tail at the stated {a['stated_fpr']:.2g}: {a['binomial_tail']:.2g})",
        ]
    )
    return table(["training path", "data", "models", "pairs", "false OWNED"], "llrrl", rows)


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
        f" owned at FPR {max(s['stated_fpr'], 1 / n):.2g}; smallest null p-value"
        f" {s['smallest_null_p_value']:.3f}."
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


@renderer("ownership_schema.central")
def ownership_schema_central(results: Results) -> str:
    r = results["ownership_schema"]
    rows = [
        [
            str(c["seed"]),
            f"{c['clean_f1']:.4f}",
            f"{c['marked_f1']:.4f}",
            f"{c['trigger_accuracy_clean']:.2f}",
            f"{c['trigger_accuracy_marked']:.2f}",
            f"{c['matches']}/{r['config']['triggers']}",
            short_p(c["p_value"]),
            str(c["queries_to_fpr"]),
        ]
        for c in r["central"]
    ]
    header = ["seed", "clean F1", "marked F1", "trig clean", "trig marked", "matches", "p"]
    return table([*header, "queries"], "rrrrrrrr", rows)


@renderer("ownership_schema.summary")
def ownership_schema_summary(results: Results) -> str:
    r = results["ownership_schema"]
    n, a = r["null"], r["audit"]
    return (
        f"{r['config']['null_models']} null models agree with the key's balanced labels on"
        f" {pct(n['rate'])} of triggers and probes (95 % upper bound {pct(n['rate_upper'])});"
        f" {pct(r['envelope']['test_rows_rare'])} of held-out real rows lie in the rare tail."
        f" Honest audit: **{len(a['false_owned'])} OWNED of {a['pairs']}** honest model × key"
        f" pairs ({len(a['models'])} models × {a['keys']} keys) at stated FPR {a['stated_fpr']:g}."
    )
