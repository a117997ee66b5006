"""The report's figures, drawn from the step records (never from anything not measured)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from edgeshield.demo._context import StepRecord
from edgeshield.demo._verdict import positive_label

__all__ = ["draw_plots"]

_LABEL_LEVELS = 4
"""Heights above its lane at which an event label may sit before it is left out."""


def _legend_outside(ax: Any) -> None:
    """The legend to the right of the axes, never over the data."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _training(step: StepRecord, directory: Path, positive: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    rounds = step.figures["rounds"]
    xs = [r["round"] for r in rounds]
    fig, ax = plt.subplots(figsize=(8.0, 3.4))
    for plant in rounds[0]["plants"]:
        ax.plot(xs, [r["plants"][plant]["f1"] for r in rounds], marker="o", ms=3, label=plant)
    ax.plot(xs, [r["test_f1"] for r in rounds], color="black", lw=2.5, label="all plants (test)")
    ax.set(
        xlabel="round", ylabel=f"{positive} F1", title="Federated training, per plant", ylim=(0, 1)
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend_outside(ax)
    out["training"] = _save(fig, directory / "training.png")
    if "fedavg" in step.figures:
        fig, ax = plt.subplots(figsize=(5.2, 3.2))
        names = ["FedAvg + SecAgg+", "bucketed SecAgg+\n+ median"]
        values = [step.figures["fedavg"]["test"]["f1"], step.figures["test"]["f1"]]
        ax.bar(names, values, color=["#c0392b", "#27ae60"])
        for i, v in enumerate(values):
            ax.text(i, v + 0.02, f"{v:.3f}", ha="center")
        ax.set(
            ylabel=f"{positive} F1 (test rows)", ylim=(0, 1), title="Poisoning plant vs aggregator"
        )
        out["aggregators"] = _save(fig, directory / "aggregators.png")
    return out


def _ownership(step: StepRecord, directory: Path) -> dict[str, Path]:
    figures = step.figures
    nulls = figures["released"].get("null_counts", [])
    fig, ax = plt.subplots(figsize=(8.0, 3.2))
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
    _legend_outside(ax)
    return {"ownership": _save(fig, directory / "ownership.png")}


def _extraction(step: StepRecord, directory: Path) -> dict[str, Path]:
    figures = step.figures
    # The guarded curve is drawn last, with larger hollow markers: where both runs saw the
    # same answers the two curves coincide, and the guarded one must stay visible.
    curves = (
        ("without defences", figures.get("undefended_points", []), "#7f8c8d", 5, None),
        ("with defences", figures["attacker_points"], "#c0392b", 10, "none"),
    )
    fig, ax = plt.subplots(figsize=(9.0, 3.6))
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
            f"refused once it held {refused} answers",
            (last["queries"], last["macro_agreement"]),
            xytext=(8, 8),
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
    _legend_outside(ax)
    return {"extraction": _save(fig, directory / "extraction.png")}


def _event_labels(events: list[dict[str, Any]], lanes: list[str]) -> list[tuple[int, int, str]]:
    """One label per contract and event name, at its first block, with a count (Attest, 8 times).

    Why: a round's CommitRound, Attest and CloseRound repeat every round; one label each keeps
    the plot readable, the dots show every event and the table below lists them all.
    """
    counts = Counter((e["contract"], e["event"]) for e in events)
    first: dict[tuple[str, str], int] = {}
    for e in events:
        first.setdefault((e["contract"], e["event"]), int(e["block"]))
    return sorted(
        (first[key], lanes.index(key[0]), key[1] + (f" \u00d7{n}" if n > 1 else ""))
        for key, n in counts.items()
    )


def _place_labels(fig: Any, ax: Any, labels: list[tuple[int, int, str]]) -> None:
    """Annotate each label at the lowest height above its lane where it overlaps no other.

    The layout is fixed first and the labels are left out of it, so that the boxes checked
    here are the boxes saved; a label with no free height is left out (its dot remains).
    """
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    for block, lane, text in labels:
        for level in range(_LABEL_LEVELS):
            note = ax.annotate(text, (block, lane), xytext=(2, 5 + 9 * level), fontsize=6.5,
                               textcoords="offset points", annotation_clip=False)  # fmt: skip
            note.set_in_layout(False)
            box = note.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            note.remove()


def _ledger(events: list[dict[str, Any]], directory: Path) -> dict[str, Path]:
    if not events:
        return {}
    contracts = sorted({e["contract"] for e in events})
    fig, ax = plt.subplots(figsize=(8.0, 1.2 + 0.9 * len(contracts)))
    for row, contract in enumerate(contracts):
        mine = [e for e in events if e["contract"] == contract]
        ax.scatter([e["block"] for e in mine], [row] * len(mine), s=18)
    ax.set_yticks(range(len(contracts)), contracts)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="block", title="Ledger timeline", ylim=(-0.5, len(contracts) - 0.1))
    _place_labels(fig, ax, _event_labels(events, contracts))
    return {"ledger": _save(fig, directory / "ledger.png")}  # labels are out of the layout


def draw_plots(
    steps: list[StepRecord], events: list[dict[str, Any]], directory: Path
) -> dict[str, Path]:
    """Draw every figure whose step ran; return name -> PNG path."""
    directory.mkdir(parents=True, exist_ok=True)
    by_key = {s.key: s for s in steps}
    out: dict[str, Path] = {}
    if "federated" in by_key:
        positive = positive_label({s.key: s.figures for s in steps})
        out.update(_training(by_key["federated"], directory, positive))
    if "serve" in by_key:
        out.update(_extraction(by_key["serve"], directory))
    if "prove" in by_key:
        out.update(_ownership(by_key["prove"], directory))
    out.update(_ledger(events, directory))
    return out
