"""The renderer of docs/results.md's generated blocks, one module per section of the page.

``_core`` holds the registries, the formatting and the page machinery; each section module
(``demo``, ``demo_runs``, ``usecase``, ``ledger``, ``vault``, ``ownership``, ``guard``,
``federated``) registers its blocks and quoted phrases on import, which importing this package
does.
"""

from . import demo, demo_runs, federated, guard, ledger, ownership, usecase, vault
from ._core import (
    BLOCK,
    DOC,
    QUOTES,
    RENDERERS,
    RESULTS,
    RenderError,
    Results,
    fixed,
    load_results,
    missing_quotes,
    pct,
    quote,
    render,
    render_block,
    renderer,
    short_p,
    table,
)
from .demo import config_defaults

SECTIONS = (demo, demo_runs, usecase, ledger, vault, ownership, guard, federated)

__all__ = [
    "BLOCK",
    "DOC",
    "QUOTES",
    "RENDERERS",
    "RESULTS",
    "SECTIONS",
    "RenderError",
    "Results",
    "config_defaults",
    "fixed",
    "load_results",
    "missing_quotes",
    "pct",
    "quote",
    "render",
    "render_block",
    "renderer",
    "short_p",
    "table",
]
