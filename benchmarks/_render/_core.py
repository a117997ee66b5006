"""The page's machinery: block and quote registries, table and number formatting, rendering.

Every section module (``demo``, ``ledger``, ...) registers its renderers here on import, so that
``RENDERERS`` and ``QUOTES`` hold every block and quoted phrase of docs/results.md.
"""

# The page's typography (multiplication sign, en dash, minus sign, rho) is rendered as is.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "results.md"

Results = dict[str, Any]
Renderer = Callable[[Results], str]

RENDERERS: dict[str, Renderer] = {}
BLOCK = re.compile(
    r"(?P<open><!-- (?P<kind>table|summary): (?P<name>[\w.-]+) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /(?P=kind) -->)",
    re.DOTALL,
)


class RenderError(Exception):
    """A block that cannot be rendered: unknown name, missing JSON file or missing key."""


def renderer(name: str) -> Callable[[Renderer], Renderer]:
    """Register a block renderer under the name used in the page's marker comment."""

    def register(function: Renderer) -> Renderer:
        if name in RENDERERS:
            raise RenderError(f"block {name!r} registered twice")
        RENDERERS[name] = function
        return function

    return register


# Each entry renders a phrase of the page from the JSON; --check requires it in the page
# (whitespace-insensitive, so the phrase may be wrapped across lines).
QUOTES: list[Renderer] = []


def quote(function: Renderer) -> Renderer:
    """Register a phrase of the prose that quotes a figure from the JSON."""
    QUOTES.append(function)
    return function


# --- formatting ---------------------------------------------------------------------------

ALIGN = {"l": "---", "r": "---:", "c": ":-:"}


def table(header: Sequence[str], align: str, rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; ``align`` has one letter per column: l(eft), r(ight) or c(entre)."""
    if len(align) != len(header):
        raise RenderError(f"{len(header)} columns but alignment {align!r}")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(ALIGN[a] for a in align) + "|"]
    for row in rows:
        if len(row) != len(header):
            raise RenderError(f"row {row!r} has {len(row)} cells, the header {len(header)}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(line.replace("|  |", "| |") for line in lines)


def fixed(x: float, digits: int) -> str:
    """``x`` with ``digits`` decimals and a true minus sign (never "−0.00")."""
    text = f"{x:.{digits}f}"
    if text.startswith("-"):
        text = text[1:] if float(text) == 0 else "−" + text[1:]
    return text


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of independent per-seed figures."""
    import statistics

    from scipy import stats

    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * sd / len(values) ** 0.5
    return mean - half, mean + half


def signed(x: float) -> str:
    """A rounded integer with its sign and thousands separators (+2,371, -82, +0)."""
    return f"{round(x):+,}"


def pct(x: float, digits: int = 1) -> str:
    """A share (0..1) as a percentage with a space before the sign: 0.0480 -> "4.8 %"."""
    return f"{fixed(100 * x, digits)} %"


def short_p(p: float) -> str:
    """A p-value as the page prints it: 0, 8.7e-10, 0.015, 1.0."""
    if p == 0:
        return "0"
    if p >= 0.01:
        text = f"{p:.2g}"
        return text if "." in text else text + ".0"
    return f"{p:.1e}"


WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def word(n: int) -> str:
    """Small counts as words, as the prose writes them ("one round of three")."""
    return WORDS[n] if 0 <= n < len(WORDS) else f"{n:,}"


def bold(text: str, condition: bool) -> str:
    """``text`` in bold when ``condition`` holds (misses and headline figures)."""
    return f"**{text}**" if condition else text


def met(condition: bool) -> str:
    """The page's verdict for a target."""
    return "met" if condition else "**missed**"


def spaced_percent(text: str) -> str:
    """The page's typography for percentages in labels: "10%" -> "10 %"."""
    return re.sub(r"(\d)%", r"\1 %", text)


WORDS_TEENS = {11: "eleven", 12: "twelve", 13: "thirteen", 14: "fourteen", 15: "fifteen"}

# --- the page -----------------------------------------------------------------------------


def load_results(directory: Path = RESULTS) -> Results:
    """Every ``*.json`` in ``directory`` by file stem."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def render_block(name: str, results: Results) -> str:
    """One block's body, with a clear error for an unknown block or a missing figure."""
    if name not in RENDERERS:
        raise RenderError(f"docs/results.md has a block {name!r} that no renderer knows")
    try:
        return RENDERERS[name](results)
    except KeyError as exc:
        stem = name.split(".", 1)[0]
        if stem not in results:
            raise RenderError(
                f"block {name!r} needs benchmarks/results/{stem}.json, which is missing"
            ) from exc
        raise RenderError(f"block {name!r}: {stem}.json has no key {exc}") from exc


def render(text: str, results: Results) -> str:
    """The page with every generated block re-rendered and the prose untouched."""

    def replace(match: re.Match[str]) -> str:
        body = render_block(match["name"], results)
        return f"{match['open']}{body}\n{match['close']}"

    return BLOCK.sub(replace, text)


def missing_quotes(text: str, results: Results) -> list[str]:
    """The prose figures of ``QUOTES`` that the page does not say as the JSON renders them."""
    flat = " ".join(text.split())
    return [q for q in (" ".join(f(results).split()) for f in QUOTES) if q not in flat]
