"""The failure classifier baseline's blocks (benchmarks/usecase_baseline.py)."""

from __future__ import annotations

from ._core import (
    Results,
    renderer,
    table,
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
