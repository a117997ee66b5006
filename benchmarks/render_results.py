"""Render the generated blocks of docs/results.md from the JSON in benchmarks/results/.

Run: ``.venv/bin/python benchmarks/render_results.py [--check]`` (``make bench`` runs it last).

The page is prose written by people around generated blocks, so that no figure in a table can
drift from the measurement behind it. A block is delimited by marker comments::

    <!-- table: usecase.baseline -->
    ...replaced by RENDERERS["usecase.baseline"](results)...
    <!-- /table -->

(``summary`` instead of ``table`` for a generated sentence). Only the blocks are rewritten; the
prose around them is left as written. Figures that must stay in the prose are listed in
``QUOTES``: ``--check`` verifies that each appears in the page exactly as the JSON renders it.

The renderers live in ``benchmarks/_render/``, one module per section of the page (``demo.py``,
``ledger.py``, ...) on top of ``_core.py`` (registries, formatting, the page). To add a block:
write a function ``(results) -> str`` in its section's module, decorate it with
``@renderer("<json stem>.<name>")``, and put the two marker lines where it belongs in the page.
``results["demo"]`` is the parsed ``benchmarks/results/demo.json``; JSON files that no block uses
are ignored, and a block whose JSON file is missing is an error naming the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The package next to this script, also when the script is loaded by path (the tests do);
# benchmarks/ then leaves sys.path, so that its scripts (demo.py, ledger.py, ...) shadow nothing.
_HERE = str(Path(__file__).resolve().parent)
sys.path.insert(0, _HERE)
try:
    from _render import (
        BLOCK,
        DOC,
        QUOTES,
        RENDERERS,
        RESULTS,
        RenderError,
        config_defaults,
        fixed,
        load_results,
        missing_quotes,
        render,
        render_block,
        short_p,
        table,
    )
finally:
    sys.path.remove(_HERE)

__all__ = [
    "BLOCK",
    "QUOTES",
    "RENDERERS",
    "RenderError",
    "config_defaults",
    "fixed",
    "load_results",
    "main",
    "missing_quotes",
    "render",
    "render_block",
    "short_p",
    "table",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the page differs from what the JSON renders",
    )
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    text = args.doc.read_text()
    results = load_results(args.results)
    try:
        rendered = render(text, results)
    except RenderError as exc:
        print(f"render_results: {exc}", file=sys.stderr)
        return 2
    blocks = len(BLOCK.findall(text))
    missing = missing_quotes(rendered, results)
    for phrase in missing:
        print(f"render_results: the prose does not say {phrase!r}", file=sys.stderr)
    if args.check:
        stale = [
            m["name"]
            for m, n in zip(BLOCK.finditer(text), BLOCK.finditer(rendered), strict=True)
            if m["body"] != n["body"]
        ]
        for name in stale:
            print(f"render_results: block {name!r} differs from its JSON", file=sys.stderr)
        if stale or missing:
            print(
                "render_results: run `make bench` or benchmarks/render_results.py", file=sys.stderr
            )
            return 1
        print(f"{args.doc}: {blocks} generated blocks match the JSON")
        return 0
    if rendered != text:
        args.doc.write_text(rendered)
    print(f"{args.doc}: {blocks} generated blocks rendered")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
