"""``edgeshield dashboard``: serve the demo's runs in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgeshield.cli._render import console
from edgeshield.demo import create_dashboard
from edgeshield.errors import ConfigError

__all__ = ["dashboard"]


def dashboard(
    runs_dir: Annotated[Path, typer.Option(help="Where `edgeshield demo` wrote its runs.")] = Path(
        "runs"
    ),
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8050,
) -> None:
    """Serve the runs (steps, plots, ledger events, reports) read-only over HTTP."""
    import uvicorn

    if runs_dir.exists() and not runs_dir.is_dir():
        raise ConfigError(f"--runs-dir is not a directory: {runs_dir}")
    console.print(f"EdgeShield dashboard on http://{host}:{port}/ (runs from {runs_dir})")
    uvicorn.run(create_dashboard(runs_dir), host=host, port=port, ws="none", log_level="warning")
