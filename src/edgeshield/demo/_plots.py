"""The report's figures, drawn from the step records (never from anything not measured)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from edgeshield.demo._context import StepRecord

__all__ = ["draw_plots"]


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _training(step: StepRecord, directory: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    rounds = step.figures["rounds"]
    xs = [r["round"] for r in rounds]
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for plant in rounds[0]["plants"]:
        ax.plot(xs, [r["plants"][plant]["f1"] for r in rounds], marker="o", ms=3, label=plant)
    ax.plot(xs, [r["test_f1"] for r in rounds], color="black", lw=2.5, label="all plants (test)")
    ax.set(xlabel="round", ylabel="failure F1", title="Federated training, per plant", ylim=(0, 1))
    ax.legend(fontsize=7, ncol=2)
    out["training"] = _save(fig, directory / "training.png")
    if "fedavg" in step.figures:
        fig, ax = plt.subplots(figsize=(5.2, 3.2))
        names = ["FedAvg + SecAgg+", "bucketed SecAgg+\n+ median"]
        values = [step.figures["fedavg"]["test"]["f1"], step.figures["test"]["f1"]]
        ax.bar(names, values, color=["#c0392b", "#27ae60"])
        for i, v in enumerate(values):
            ax.text(i, v + 0.02, f"{v:.3f}", ha="center")
        ax.set(ylabel="failure F1 (test rows)", ylim=(0, 1), title="Poisoning plant vs aggregator")
        out["aggregators"] = _save(fig, directory / "aggregators.png")
    return out


def _ownership(step: StepRecord, directory: Path) -> dict[str, Path]:
    figures = step.figures
    nulls = figures["released"].get("null_counts", [])
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    if nulls:
        ax.hist(nulls, bins=range(0, max(nulls) + 2), color="#95a5a6", label="independent models")
    queries = figures["released"]["queries"]
    for name, colour in (
        ("released", "#27ae60"),
        ("stolen_fine_tuned", "#2980b9"),
        ("surrogate_triggers", "#8e44ad"),
    ):
        ax.axvline(figures[name]["matches"], color=colour, lw=2, label=name.replace("_", " "))
    critical = figures["released"].get("critical_matches")
    if critical is not None:
        ax.axvline(critical, color="black", ls="--", lw=1, label="decision at FPR 1e-3")
    ax.set(
        xlabel=f"triggers answered with the key's label (of {queries})",
        ylabel="models",
        title="Trigger agreement against the measured null distribution",
        xlim=(-1, queries + 1),
    )
    ax.legend(fontsize=7)
    return {"ownership": _save(fig, directory / "ownership.png")}


def _extraction(step: StepRecord, directory: Path) -> dict[str, Path]:
    figures = step.figures
    # The guarded curve is drawn last, with larger hollow markers: where both runs saw the
    # same answers the two curves coincide, and the guarded one must stay visible.
    curves = (
        ("without defences", figures.get("undefended_points", []), "#7f8c8d", 5, None),
        ("with defences", figures["attacker_points"], "#c0392b", 10, "none"),
    )
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for condition, points, colour, size, face in curves:
        if not points:
            continue
        qs = [p["queries"] for p in points]
        style: dict[str, Any] = {"color": colour, "ms": size, "mfc": face, "mew": 1.5}
        macro = [p["macro_agreement"] for p in points]
        ax.plot(qs, macro, marker="o", label=f"{condition}: macro agreement", **style)
        failures = [p["failure_agreement"] for p in points]
        label = f"{condition}: agreement on failures"
        ax.plot(qs, failures, marker="s", ls="--", label=label, **style)
    alarm = figures.get("attacker_alarm_at")
    if alarm is not None:
        ax.axvline(alarm, color="black", ls=":", lw=1, label=f"PRADA alarm ({alarm} queries)")
    refused = figures.get("attacker_refused_at")
    if refused is not None and figures["attacker_points"]:
        last = figures["attacker_points"][-1]
        ax.annotate(
            f"refused at {refused} queries",
            (last["queries"], last["macro_agreement"]),
            xytext=(8, -14),
            textcoords="offset points",
            fontsize=7,
            color="#c0392b",
        )
    ax.set(
        xlabel="attacker queries answered",
        ylabel="surrogate fidelity to the victim",
        ylim=(0, 1.05),
        title="Jacobian extraction with and without the guard's defences",
    )
    ax.legend(fontsize=6.5, loc="lower right")
    return {"extraction": _save(fig, directory / "extraction.png")}


def _ledger(events: list[dict[str, Any]], directory: Path) -> dict[str, Path]:
    if not events:
        return {}
    contracts = sorted({e["contract"] for e in events})
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    for row, contract in enumerate(contracts):
        mine = [e for e in events if e["contract"] == contract]
        ax.scatter([e["block"] for e in mine], [row] * len(mine), s=18)
        for e in mine:
            if e["event"] not in ("Attested",):
                ax.annotate(e["event"], (e["block"], row), fontsize=6, rotation=35,
                            xytext=(2, 4), textcoords="offset points")  # fmt: skip
    ax.set_yticks(range(len(contracts)), contracts)
    ax.set(xlabel="block", title="Ledger timeline", ylim=(-0.6, len(contracts) - 0.2))
    return {"ledger": _save(fig, directory / "ledger.png")}


def draw_plots(
    steps: list[StepRecord], events: list[dict[str, Any]], directory: Path
) -> dict[str, Path]:
    """Draw every figure whose step ran; return name -> PNG path."""
    directory.mkdir(parents=True, exist_ok=True)
    by_key = {s.key: s for s in steps}
    out: dict[str, Path] = {}
    if "federated" in by_key:
        out.update(_training(by_key["federated"], directory))
    if "serve" in by_key:
        out.update(_extraction(by_key["serve"], directory))
    if "prove" in by_key:
        out.update(_ownership(by_key["prove"], directory))
    out.update(_ledger(events, directory))
    return out
