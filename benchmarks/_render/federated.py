"""The federated training blocks (benchmarks/federated.py)."""

# The page's typography (multiplication sign, en dash, minus sign, rho) is rendered as is.
# ruff: noqa: RUF001

from __future__ import annotations

import statistics
from typing import Any

from ._core import (
    Results,
    bold,
    fixed,
    met,
    pct,
    quote,
    renderer,
    table,
    word,
)

# --- federated training (benchmarks/federated.py) -----------------------------------------


def _pm(cell: dict[str, Any], key: str, digits: int = 3) -> str:
    """``mean ± sd`` of a figure summarized over seeds; the bare figure from a one-seed JSON."""
    sd = cell.get(f"{key}_sd")
    text = fixed(cell[key], digits)
    return text if sd is None else f"{text} ± {fixed(sd, digits)}"


def _accuracy_rows(acc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Table 1's federated rows: each recipe of a per-seed JSON, or the one run of an older one."""
    if "variants" in acc:
        return [(v["label"], v) for v in acc["variants"].values()]
    return [("SecAgg+ FedAvg", {**acc["federated"], "gap_pp": acc["gap_pp"]})]


@renderer("federated.accuracy")
def federated_accuracy(results: Results) -> str:
    acc = results["federated"]["accuracy"]
    seeds = acc.get("seeds", [0])
    plural = "s" if len(seeds) > 1 else ""
    central = f"centralized (all training rows pooled, 100 epochs), {word(len(seeds))} seed{plural}"
    rows = [[central, *(_pm(acc["central"], k) for k in ("f1", "pr_auc", "threshold")), "–"]]
    for label, cell in _accuracy_rows(acc):
        epochs = cell.get("local_epochs", acc["local_epochs"])
        rows.append(
            [
                f"{label}, {cell.get('rounds', acc['rounds'])} rounds × {epochs} local epoch"
                + ("s" if epochs != 1 else ""),
                *(_pm(cell, k) for k in ("f1", "pr_auc", "threshold")),
                bold(_pm(cell, "gap_pp", 1), cell["gap_pp"] > 1),
            ]
        )
    return table(["model", "F1", "PR-AUC", "threshold", "gap to central, pp"], "lrrrr", rows)


#: Short names of table 1's federated recipes (benchmarks/federated.py ACCURACY_VARIANTS).
LEVERS = {
    "random-start": "a random start",
    "fedadam": "FedAdam",
    "fedavgm": "FedAvgM",
    "fedprox": "FedProx",
    "lr-decay": "the learning-rate decay",
    "one-epoch": "1 local epoch over more rounds",
    "tail-average": "the mean of the last 10 rounds' global models",
}


@renderer("federated.accuracy_levers")
def federated_accuracy_levers(results: Results) -> str:
    """Each recipe's F1 minus FedAvg's on the same seed (paired), mean ± sd over the seeds."""
    variants = results["federated"]["accuracy"].get("variants", {})
    if "fedavg" not in variants or len(variants) < 2:
        return "No other federated recipe was recorded with this run."
    head = [c["f1"] for c in variants["fedavg"]["per_seed"]]
    parts = []
    for name, cell in variants.items():
        if name == "fedavg":
            continue
        diffs = [100 * (c["f1"] - h) for c, h in zip(cell["per_seed"], head, strict=True)]
        mean = statistics.fmean(diffs)
        sd = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
        sign = "+" if mean > 0 and fixed(mean, 1) != "0.0" else ""
        parts.append(f"{LEVERS.get(name, name)} {sign}{fixed(mean, 1)} ± {fixed(sd, 1)} pp")
    return (
        "F1 of each recipe minus FedAvg's on the same seed (paired, mean ± sd over the seeds): "
        + "; ".join(parts)
        + "."
    )


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


@renderer("federated.accuracy_verdict")
def federated_accuracy_verdict(results: Results) -> str:
    """Table 1's target (issue 14 #4): FedAvg's per-seed gap to central training, mean ± sd."""
    acc = results["federated"]["accuracy"]
    head = _accuracy_rows(acc)[0][1]
    seeds = acc.get("seeds", [0])
    plural = "s" if len(seeds) > 1 else ""
    return (
        f"Target (FedAvg within 1 pp of central training): {met(head['gap_pp'] <= 1)}."
        f" FedAvg's gap to central training is {_pm(head, 'gap_pp', 1)} pp (mean ± sd of the"
        f" per-seed differences over {word(len(seeds))} seed{plural}, F1 {_pm(head, 'f1')}"
        f" against {_pm(acc['central'], 'f1')})."
    )


@renderer("federated.accuracy_seeds")
def federated_accuracy_seeds(results: Results) -> str:
    """The headline gap over many seeds, with the 95 % interval of its mean (issue 14 #4)."""
    run = results["federated"]["accuracy_seeds"]
    seeds, fed = run["seeds"], run["federated"]
    low, high = run["gap_pp_ci95"]
    pr_low, pr_high = run["pr_auc_gap_pp_ci95"]
    if low > 1:
        reading = "the interval lies wholly above 1 pp: the gap is real and larger than the target"
    elif high <= 1:
        reading = "the interval lies wholly at or below 1 pp"
    elif low > 0:
        reading = (
            "the interval contains 1 pp but not 0: FedAvg does trail central training, by an"
            " amount these seeds cannot tell from the target"
        )
    else:
        reading = "the interval contains 0 and 1 pp: these seeds cannot tell the gap from either"
    gaps = [c["gap_pp"] for c in fed["per_seed"]]
    table1 = results["federated"]["accuracy"]
    central1 = {c["seed"]: c["f1"] for c in table1["central"].get("per_seed", [])}
    fedavg1 = {
        c["seed"]: c["f1"] for c in table1.get("variants", {}).get("fedavg", {}).get("per_seed", [])
    }
    shared = [i for i, seed in enumerate(seeds) if seed in central1 and seed in fedavg1]
    repeat = ""
    if shared:
        same_central = sum(
            run["central"]["per_seed"][i]["f1"] == central1[seeds[i]] for i in shared
        )
        same_fed = sum(fed["per_seed"][i]["f1"] == fedavg1[seeds[i]] for i in shared)
        repeat = (
            f" Of the {word(len(shared))} seeds table 1 also ran, central training gave the same"
            f" F1 in {word(same_central) if same_central else 'none'} and FedAvg in"
            f" {word(same_fed) if same_fed else 'none'}."
        )
    return (
        f"Over {word(len(seeds))} seeds ({seeds[0]}–{seeds[-1]}, {run['rounds']} rounds ×"
        f" {run['local_epochs']} local epochs): FedAvg F1 {_pm(fed, 'f1')} against"
        f" {_pm(run['central'], 'f1')} central; gap {_pm(fed, 'gap_pp', 1)} pp per seed, 95 %"
        f" confidence interval of the mean [{fixed(low, 1)}, {fixed(high, 1)}] pp; PR-AUC gap"
        f" {_pm(fed, 'pr_auc_gap_pp', 1)} pp, interval [{fixed(pr_low, 1)}, {fixed(pr_high, 1)}]."
        f" Per seed the gap runs from {fixed(min(gaps), 1)} to {fixed(max(gaps), 1)} pp."
        f" Target (within 1 pp): {met(fed['gap_pp'] <= 1)}; {reading}.{repeat}"
    )


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


@renderer("deployment.seconds")
def deployment_seconds(results: Results) -> str:
    """Seconds per round at 3 plants: deployment engine vs in-process grid (issue 13 #8)."""
    data = results["deployment"]
    runs = [
        ("deployment engine, ServerApp polling every 0.25 s", data),
        ("deployment engine, Flower's HttpGrid (3 s polls)", data["before_prompt_grid"]),
    ]
    rows = []
    for label, run in runs:
        rows.append(
            [
                label,
                ", ".join(f"{s:.1f}" for s in run["deployment"]["seconds_per_round"]),
                f"{statistics.median(run['deployment']['seconds_per_round']):.1f}",
                ", ".join(f"{s:.1f}" for s in run["in_process"]["seconds_per_round"]),
                f"{run['median_ratio']:.1f}",
            ]
        )
    return table(
        ["run", "deployed s/round", "median", "in-process s/round", "ratio"], "lrrrr", rows
    )


# --- central vs federated F1 on two dataset schemas (benchmarks/schemas_f1.py) ------------

SCHEMA_METHODS = {
    "central": "central (pooled plant rows)",
    "fedavg": "FedAvg, no SecAgg+",
    "secagg": "FedAvg + SecAgg+",
    "secagg-dp": "SecAgg+ + DP-SGD",
}


@renderer("schemas_f1.table")
def schemas_f1_table(results: Results) -> str:
    r = results["schemas_f1"]
    rows = [
        [
            s["data"],
            SCHEMA_METHODS.get(s["method"], s["method"]),
            f"{s['f1_mean']:.3f} ± {s['f1_sd']:.3f}",
            "–" if s["epsilon"] is None else f"{s['epsilon']:.2f}",
            f"{s['seconds_mean']:.1f}",
        ]
        for s in r["summary"]
    ]
    return table(
        ["schema", "training", f"positive-class F1 (mean ± sd, {r['seeds']} seeds)", "ε", "s"],
        "llrrr",
        rows,
    )
