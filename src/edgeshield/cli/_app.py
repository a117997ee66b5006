"""Root Typer application and the error boundary that turns library errors into one line."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import click
import typer
import typer.main
from typer.core import TyperGroup

from edgeshield.errors import EdgeShieldError

__all__ = ["app", "main", "run"]


@dataclass(frozen=True, kw_only=True)
class _Entry:
    """Where a subcommand lives, and its one-line help for listings that import nothing."""

    module: str
    attribute: str
    help: str
    extra: tuple[str, ...] = ()  # modules that register more commands on the same app


# Each subcommand's module (and the heavy stack it pulls: torch, Flower, web3, z3, ...) is
# imported only when that subcommand runs or shows its own help.
_ENTRIES: dict[str, _Entry] = {
    "data": _Entry(
        module="edgeshield.cli._data",
        attribute="app",
        help="Generate, import and inspect plant sensor data.",
    ),
    "fl": _Entry(
        module="edgeshield.cli._fl",
        attribute="app",
        help="Federated training across plants (Flower).",
    ),
    "guard": _Entry(
        module="edgeshield.cli._guard",
        attribute="app",
        help="The guarded inference service: seal, clients, serve, and the extraction red team.",
    ),
    "ledger": _Entry(
        module="edgeshield.cli._ledger",
        attribute="app",
        help=(
            "Contracts generated from FSM specs: generate, compile, analyse, deploy, call, events."
        ),
        extra=("edgeshield.cli._ledger_frontends",),  # registers ledger from-*, verify
    ),
    "ownership": _Entry(
        module="edgeshield.cli._ownership",
        attribute="app",
        help="Prove model ownership: watermark keys, embedding, calibration, verification.",
    ),
    "vault": _Entry(
        module="edgeshield.cli._vault",
        attribute="app",
        help="Seal models for edge devices: keys, bundles, licences, manifests.",
    ),
    "train": _Entry(
        module="edgeshield.cli._train",
        attribute="train",
        help="Train the failure classifier on 75 % of the rows and report metrics on the rest.",
    ),
    "demo": _Entry(
        module="edgeshield.cli._demo",
        attribute="demo",
        help="Run the whole chain of custody, check every step, and write the evidence report.",
    ),
    "dashboard": _Entry(
        module="edgeshield.cli._dashboard",
        attribute="dashboard",
        help="Serve the runs (steps, plots, ledger events, reports) read-only over HTTP.",
    ),
}


def _load(name: str) -> click.Command:
    """Import subcommand ``name``'s module and build its click command."""
    entry = _ENTRIES[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    for module in entry.extra:
        importlib.import_module(module)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
    else:  # a single command registered on the root
        single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
        single.command(name=name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _LazyGroup(TyperGroup):
    """The root group: lists every subcommand from :data:`_ENTRIES`, imports one on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the subcommand names in their listing order."""
        return list(_ENTRIES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the loaded command, or a help-only stand-in that imports nothing."""
        loaded = super().get_command(ctx, cmd_name)
        if loaded is not None or cmd_name not in _ENTRIES:
            return loaded
        return click.Command(cmd_name, help=_ENTRIES[cmd_name].help)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Load the subcommand about to run, then resolve it as usual."""
        if args and args[0] in _ENTRIES and args[0] not in self.commands:
            self.add_command(_load(args[0]))
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="edgeshield",
    help="EdgeShield: security for distributed machine learning on industrial edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_LazyGroup,
)


@app.callback()
def _root() -> None:
    """EdgeShield: security for distributed machine learning on industrial edge devices."""


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
