"""The demo's Markdown report: what ran, what it measured, and what it proves."""

from __future__ import annotations

from pathlib import Path

from edgeshield.demo._scenario import DemoResult
from edgeshield.usecase import FAILURE_MODES, MACHINE_FAILURE, FailureMetrics

__all__ = ["write_report"]


def _metrics_rows(rows: dict[str, FailureMetrics]) -> list[str]:
    lines = [
        "| on | rows | failures | precision | recall | F1 | PR-AUC |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {m.rows} | {m.positives} | {m.precision:.3f} | {m.recall:.3f} "
            f"| {m.f1:.3f} | {m.pr_auc:.3f} |"
        )
    return lines


def write_report(result: DemoResult) -> Path:
    """Write ``report.md`` into the run directory and return its path."""
    lines = ["# EdgeShield demo report", "", "## Steps", ""]
    lines += [f"- **{name}**: {outcome}" for name, outcome in result.steps]
    lines += [
        "",
        "## Plants",
        "",
        "| plant | rows | ambient offset (K) | mix L/M/H | tool change (min) | failure % | "
        + " | ".join(FAILURE_MODES)
        + " |",
        "|---|---:|---:|---|---:|---:|" + "---:|" * len(FAILURE_MODES),
    ]
    for p in result.fleet.profiles:
        frame = result.fleet.frames[p.plant_id]
        counts = " | ".join(str(int(frame[m].sum())) for m in FAILURE_MODES)
        mix = "/".join(f"{m * 100:.0f}" for m in p.type_mix)
        lines.append(
            f"| {p.plant_id} | {len(frame)} | {p.ambient_offset_k:+.2f} | {mix} "
            f"| {p.tool_replacement_mean_min:.0f} | {frame[MACHINE_FAILURE].mean() * 100:.2f} "
            f"| {counts} |"
        )
    lines += ["", "## Failure classifier (held-out 25 % of every plant)", ""]
    lines += _metrics_rows({"all plants": result.overall, **result.per_plant})
    lines += [
        "",
        f"Decision threshold {result.classifier.threshold:.3f}, chosen on held-out training rows.",
        f"Training data digest `{result.classifier.data_sha256}`.",
        "",
    ]
    path = result.run_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
