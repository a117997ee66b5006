"""The ``edgeshield`` command: thin Typer front end over the packages."""

from __future__ import annotations

from edgeshield.cli._app import app, main, run

__all__ = ["app", "main", "run"]
