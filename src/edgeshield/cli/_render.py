"""Rich rendering helpers shared by the CLI commands."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from edgeshield.usecase import FailureMetrics, Fleet

__all__ = [
    "JsonOption",
    "console",
    "fleet_table",
    "metrics_table",
    "print_json",
    "progress",
    "visible",
]

console = Console()
"""Standard output; tables and summaries go here (wide when piped, so tables stay readable)."""
if not console.is_terminal:
    console = Console(width=160)


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on standard output (for scripts).")
]
"""``--json``: the result as one JSON object, and nothing else on standard output."""


def visible(value: object) -> str:
    r"""Return ``value`` as text with every control or format character made visible.

    Header fields, metadata, file names and paths in error messages come from whoever wrote
    them: terminal escapes (clear-screen, window titles, OSC-8 links), bidi overrides and
    newlines must not reach the terminal, so each becomes a visible ``\x1b``-style escape.
    """
    text = str(value)
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
        else char
        for char in text
    )


def print_json(value: Any) -> None:
    """Write ``value`` as one line of JSON on standard output (never Rich: no markup, no wrap)."""
    import json

    print(json.dumps(value, sort_keys=True, default=str))


@contextmanager
def progress() -> Iterator[Progress]:
    """A progress display on stderr that disappears when the work is done."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        yield bar


def fleet_table(fleet: Fleet) -> Table:
    """Per-plant rows, physical parameters and failure counts by mode."""
    from edgeshield.usecase import FAILURE_MODES, MACHINE_FAILURE  # pandas and torch

    table = Table(title="Plants")
    for name in ("plant", "rows", "ambient ΔK", "mix L/M/H", "tool change", "failure %"):
        table.add_column(name, justify="right" if name != "plant" else "left")
    for mode in FAILURE_MODES:
        table.add_column(mode, justify="right")
    for profile in fleet.profiles:
        frame = fleet.frames[profile.plant_id]
        mix = "/".join(f"{m * 100:.0f}" for m in profile.type_mix)
        table.add_row(
            profile.plant_id,
            str(len(frame)),
            f"{profile.ambient_offset_k:+.2f}",
            mix,
            f"{profile.tool_replacement_mean_min:.0f} min",
            f"{frame[MACHINE_FAILURE].mean() * 100:.2f}",
            *[str(int(frame[m].sum())) for m in FAILURE_MODES],
        )
    return table


def metrics_table(title: str, rows: dict[str, FailureMetrics]) -> Table:
    """Failure precision, recall, F1 and PR-AUC per named evaluation."""
    table = Table(title=title)
    for name in ("on", "rows", "failures", "precision", "recall", "F1", "PR-AUC"):
        table.add_column(name, justify="left" if name == "on" else "right")
    for name, m in rows.items():
        table.add_row(
            name,
            str(m.rows),
            str(m.positives),
            f"{m.precision:.3f}",
            f"{m.recall:.3f}",
            f"{m.f1:.3f}",
            f"{m.pr_auc:.3f}",
        )
    return table
