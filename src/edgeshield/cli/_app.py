"""Root Typer application and the error boundary that turns library errors into one line."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from types import FrameType

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
from edgeshield.cli._config import load_config
from edgeshield.errors import EdgeShieldError

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="edgeshield",
    help="EdgeShield: security for distributed machine learning on industrial edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "EDGESHIELD"},
)


def _edgeshield_version() -> str:
    try:
        return version("edgeshield")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        print(f"edgeshield {_edgeshield_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        is_eager=True,
        callback=_print_version,
    ),
) -> None:
    """EdgeShield: security for distributed machine learning on industrial edge devices."""


app.add_typer(_data.app, name="data")
app.add_typer(_fl.app, name="fl")
app.add_typer(_guard.app, name="guard")
app.add_typer(_ledger.app, name="ledger")
app.add_typer(_ownership.app, name="ownership")
app.add_typer(_vault.app, name="vault")
app.command(name="train")(_train.train)
app.command(name="evaluate")(_train.evaluate)
app.command(name="demo")(_demo.demo)
app.command(name="dashboard")(_dashboard.dashboard)


def _fail(message: str, code: int) -> int:
    """Print one ``error:`` line on stderr and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    return code


class _Interrupts:
    """Which signal, if any, interrupted the command (Typer hides it behind exit code 130)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signum
        raise KeyboardInterrupt


@contextmanager
def _catch_interrupts() -> Iterator[_Interrupts]:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt, remembering that one arrived.

    Commands clean up on KeyboardInterrupt (temporary outputs removed, Ray shut down); the
    flag lets :func:`run` print one ``error: interrupted`` line instead of a silent 130.
    Outside the main thread (tests driving ``run`` from a worker) handlers cannot be set.
    """
    seen = _Interrupts()
    previous: dict[signal.Signals, object] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, seen.handle)
    except ValueError:
        pass
    try:
        yield seen
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return its exit code; never lets a traceback escape.

    Library errors (:class:`EdgeShieldError`), usage errors and OS errors each become one
    clear line on stderr and a non-zero exit code; an interrupt becomes one
    ``error: interrupted`` line and exit code 130 (SIGINT) or 143 (SIGTERM).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    with _catch_interrupts() as interrupts:
        try:
            result = _invoke(args)
        except KeyboardInterrupt:
            interrupts.signal = interrupts.signal or int(signal.SIGINT)
            result = 130
    if interrupts.signal is not None:
        name = signal.Signals(interrupts.signal).name
        return _fail(f"interrupted ({name})", 128 + interrupts.signal)
    return result


def _invoke(args: list[str]) -> int:
    """Run the Typer app once and map every failure to one line and a code."""
    try:
        defaults = load_config()
        result = app(args=args, prog_name="edgeshield", standalone_mode=False, default_map=defaults)
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
    except Exception as exc:  # the last line of defence: a bug still gets one line, not a dump
        if os.environ.get("EDGESHIELD_DEBUG"):
            raise
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return _fail(
            f"unexpected {exc.__class__.__name__}: {detail} (set EDGESHIELD_DEBUG=1 for details)",
            1,
        )
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
