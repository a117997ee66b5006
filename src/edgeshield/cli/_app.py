"""Root Typer application and the error boundary that turns library errors into one line."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
import typer

import edgeshield.cli._ledger_frontends  # noqa: F401 (registers ledger from-*, verify)
from edgeshield.cli import (
    _dashboard,
    _data,
    _demo,
    _fl,
    _guard,
    _ledger,
    _ownership,
    _train,
    _vault,
)
from edgeshield.errors import EdgeShieldError

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="edgeshield",
    help="EdgeShield: security for distributed machine learning on industrial edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_data.app, name="data")
app.add_typer(_fl.app, name="fl")
app.add_typer(_guard.app, name="guard")
app.add_typer(_ledger.app, name="ledger")
app.add_typer(_ownership.app, name="ownership")
app.add_typer(_vault.app, name="vault")
app.command(name="train")(_train.train)
app.command(name="demo")(_demo.demo)
app.command(name="dashboard")(_dashboard.dashboard)


def _fail(message: str, code: int) -> int:
    """Print one ``error:`` line on stderr and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    return code


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return its exit code; never lets a traceback escape.

    Library errors (:class:`EdgeShieldError`), usage errors and OS errors each become one
    clear line on stderr and a non-zero exit code.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="edgeshield", standalone_mode=False)
    except click.UsageError as exc:
        return _fail(exc.format_message(), 2)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        return _fail("aborted", 130)
    except EdgeShieldError as exc:
        return _fail(str(exc), 1)
    except OSError as exc:
        return _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 1)
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
