"""The failure classifier baseline's blocks (benchmarks/usecase_baseline.py)."""

from __future__ import annotations

from typing import Any

from ._core import (
    Results,
    bold,
    fixed,
    quote,
    renderer,
    t_interval,
    table,
    word,
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


# --- public pretraining before federated DP-SGD (benchmarks/pretraining.py) ------------------

PRETRAINING_START = {
    "none": "random start",
    "ai4i2020": "pretrained on the real AI4I 2020 file",
    "generated": "pretrained on generated public rows",
}


PRETRAINING_TRAINS = {"all": "all layers", "head": "output layer"}


PRETRAINING_MARK = {
    "on": "start pretrained again with the triggers, topped up (demo)",
    "start-finetune": "fine-tuned into the pretrained start, topped up",
    "every-round": "WAFFLE every round",
    "off": "none",
}


def pretraining_server(s: dict[str, Any]) -> str:
    """The server's update rule: plain FedAvg, or the optimizer with its lr and tau."""
    opt, lr, tau = s.get("server_opt", "sgd"), s.get("server_lr", 1.0), s.get("server_tau")
    if opt == "sgd" and lr == 1:
        return "plain (aggregate adopted)"
    name = {"adam": "FedAdam", "yogi": "FedYogi", "sgd": "SGD"}.get(opt, opt)
    return f"{name} η {lr:g}" + ("" if tau is None else f", τ {tau:g}")


@renderer("pretraining.table")
def pretraining_table(results: Results) -> str:
    def mark(s: dict[str, Any]) -> list[str]:
        kind = PRETRAINING_MARK.get(s["watermark"], s["watermark"])
        if s["watermark"] == "off":
            return [kind, "", "", "", ""]
        kind += f", {s.get('triggers') or 50} triggers"
        cost = (
            f"{s['watermark_cost_pp_mean']:.1f} ± {s['watermark_cost_pp_sd']:.1f}"
            if "watermark_cost_pp_mean" in s
            else ""
        )
        return [
            kind,
            f"{s['trigger_accuracy_mean']:.0%}",
            f"{s['detected']}/{s['runs']}" if "detected" in s else "",
            f"{s['null_owned']}/{s['null_models']}"
            + (f" ({s['null_model_p_target']})" if "null_model_p_target" in s else ""),
            cost,
        ]

    rows = [
        [
            PRETRAINING_START.get(s["start"], s["start"]),
            f"{s['drift']:g}",
            "none" if s["dp_noise"] is None else f"{s['dp_noise']:g}",
            PRETRAINING_TRAINS.get(s.get("dp_trainable", "all"), s.get("dp_trainable", "all")),
            str(s.get("malicious", 1)),
            pretraining_server(s),
            ", ".join(s.get("hidden", "32").split("x")),
            str(s.get("bins", 16)),
            "∞"
            if s["epsilon"] is None
            else f"{s['epsilon']:.2f}"
            if s["epsilon"] < 100
            else f"{s['epsilon']:.1e}",
            str(s["runs"]),
            f"{s['f1_mean']:.3f} ± {s['f1_sd']:.3f}",
            f"{s['pr_auc_mean']:.3f}",
            f"{s['f1_ai4i_mean']:.3f}",
            f"{s['central_f1_mean']:.3f}" if "central_f1_mean" in s else "",
            *mark(s),
        ]
        for s in results["pretraining"]["summary"]
    ]
    return table(
        [
            "start",
            "drift",
            "DP noise",
            "DP-SGD trains",
            "sign-flipping plants",
            "server update",
            "hidden layers",
            "bins",
            "ε (every plant)",
            "runs",
            "failure F1 (mean ± sd)",
            "PR-AUC",
            "F1 on AI4I file",
            "central F1",
            "watermark",
            "trigger acc.",
            "detected, p ≤ 1e-6",
            "null models owned at 1/21 (at p ≤ 1e-6)",
            "watermark F1 cost, pp",
        ],
        "lrrlrlrrrrrrrrlrrrr",
        rows,
    )


def _demo_shape_runs(results: Results, watermark: str) -> list[float]:
    """Per-seed F1 of the demo's configuration (the 128-unit, 8-bin rows of the table)."""
    return [
        r["f1"]
        for r in results["pretraining"]["runs"]
        if r["start"] == "ai4i2020"
        and r["drift"] == 1
        and r["dp_noise"] == 2
        and r.get("dp_trainable", "all") == "all"
        and r.get("malicious", 1) == 1
        and r.get("server_opt", "sgd") == "sgd"
        and r.get("server_lr", 1) == 1
        and r.get("hidden") == "128"
        and r.get("bins") == 8
        and r["watermark"] == watermark
        and (watermark == "off" or r.get("triggers") == 100)
    ]


@renderer("pretraining.f1_interval")
def pretraining_f1_interval(results: Results) -> str:
    """The F1 target (issue 14) read with the seeds' uncertainty: a 95 % t interval per mean."""
    parts = []
    for watermark, label in (("on", "with the mark"), ("off", "without it")):
        f1 = _demo_shape_runs(results, watermark)
        if len(f1) < 2:
            continue
        low, high = t_interval(f1)
        parts.append(
            f"{label} {sum(f1) / len(f1):.3f} over {word(len(f1))} seeds, 95 % interval of the"
            f" mean [{low:.3f}, {high:.3f}]" + (" (contains 0.80)" if low <= 0.80 <= high else "")
        )
    return (
        "The F1 target read with the seeds' uncertainty (the demo's configuration, Student's t"
        " over the per-seed F1 in the JSON): " + "; ".join(parts) + "."
    )


@quote
def pretraining_server_seeds(results: Results) -> str:
    """Every server optimizer measured over several seeds, with its per-seed gain over plain."""
    cells = [
        s
        for s in results["pretraining"]["summary"]
        if s.get("server_gain_runs", 0) > 1 and s["watermark"] == "off"
    ]
    phrases = []
    for s in cells:
        gain = f"{s['server_gain_pp_mean']:+.1f}".replace("-", "\u2212")  # the page's minus
        phrases.append(
            f"{pretraining_server(s)} at noise {s['dp_noise']:g}: {s['f1_mean']:.3f} ±"
            f" {s['f1_sd']:.3f} ({gain} ± {s['server_gain_pp_sd']:.1f} pp per seed over the"
            f" plain update, {s['server_gain_runs']} seeds)"
        )
    return "; ".join(phrases)


@renderer("pretraining.removal")
def pretraining_removal(results: Results) -> str:
    """The removal red team against the demo's federated, marked model (runs that ran it)."""
    rows = []
    for s in results["pretraining"]["summary"]:
        if "removal" not in s:
            continue
        runs, n = s["removal_runs"], s.get("triggers") or 50
        for a in s["removal"]:
            rows.append(
                [
                    f"{', '.join(s.get('hidden', '32').split('x'))} / {s.get('bins', 16)}",
                    f"{n}",
                    a["attack"],
                    f"{a['matches_mean']:.1f} of {n}",
                    f"{a['owned']} of {runs}",
                    f"{a['model_p_target']} of {runs}",
                    fixed(a["f1_drop_pp_mean"], 1),
                    bold(f"{a['removed_and_kept_f1']} of {runs}", a["removed_and_kept_f1"] > 0),
                ]
            )
    return table(
        [
            "hidden units / bins",
            "triggers",
            "removal attack",
            "triggers kept (mean)",
            "owned at 1/21",
            "owned at p ≤ 1e-6",
            "F1 drop, pp (mean)",
            "mark removed with F1 kept (≤ 5 pp)",
        ],
        "rrlrrrrr",
        rows,
    )
