"""Root Typer application and the error boundary that turns library errors into one line."""

from __future__ import annotations

import importlib
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType
from typing import Any

import click
import typer
import typer.main
from typer.core import TyperGroup

from edgeshield.cli._config import ConfigMap, checked_defaults, load_config
from edgeshield.errors import EdgeShieldError, redact_urls

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
    "evaluate": _Entry(
        module="edgeshield.cli._train",
        attribute="evaluate",
        help="Evaluate a saved model on labelled rows: failure precision, recall, F1 and PR-AUC.",
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
    _plain_help(command)
    return command


class _PlainFormatter(click.HelpFormatter):
    """click's formatter, minus the backslashes Typer puts before ``[`` for Rich markup."""

    def write_dl(
        self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        super().write_dl(
            [(term, text.replace("\\[", "[")) for term, text in rows], col_max, col_spacing
        )


class _PlainContext(click.Context):
    """click's context with plain help and the config file's table checked for its command."""

    formatter_class = _PlainFormatter

    def __init__(self, command: click.Command, *args: Any, **kwargs: Any) -> None:
        super().__init__(command, *args, **kwargs)
        self.config_source: Path | None = (
            self.default_map.source
            if isinstance(self.default_map, ConfigMap)
            else getattr(self.parent, "config_source", None)
        )
        if self.default_map is not None:
            self.default_map = checked_defaults(self.default_map, command, self, self.config_source)


def _plain_help(command: click.Command) -> None:
    """Help that wraps instead of cutting: click's formatter, no per-option env var names.

    Rich's option table cut long option names, defaults and env var names with "…" at 80
    columns (issue 20); the env var rule is stated once in the root help instead.
    """
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    command.context_class = _PlainContext
    for param in command.params:
        if isinstance(param, click.Option):
            param.show_envvar = False
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _plain_help(sub)


class _LazyGroup(TyperGroup):
    """The root group: lists every subcommand from :data:`_ENTRIES`, imports one on use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_help(self)

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
    rich_markup_mode=None,
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "EDGESHIELD"},
    epilog="Every option can also come from an EDGESHIELD_<GROUP>_<COMMAND>_<OPTION> variable "
    "(e.g. EDGESHIELD_DATA_GENERATE_ROWS) or from edgeshield.toml ($EDGESHIELD_CONFIG); the "
    "command line wins. Secrets come only from files or the environment.",
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


def _fail(message: str, code: int) -> int:
    """Print one ``error:`` line on stderr; return the exit code.

    Credentials in URLs are masked, and control characters (a path holding a newline or a
    terminal escape) are made visible, so the line is one line and the terminal stays as it was.
    """
    from edgeshield.cli._render import visible

    print(f"error: {visible(redact_urls(message))}", file=sys.stderr)
    return code


class _Interrupts:
    """Which signal, if any, interrupted the command (Typer hides it behind exit code 130)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signum
        # Libraries log their own teardown (Flower's workers print Ray's ActorDiedError with a
        # traceback once Ray is shut down): the command is ending, one error line says so.
        logging.disable(logging.CRITICAL)
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
    unraisable = sys.unraisablehook
    inside = threading.Event()
    inside.set()

    def again(signum: int) -> None:
        if inside.is_set():  # never after the command ended and the handlers were put back
            signal.pthread_kill(threading.main_thread().ident or 0, signum)

    def redeliver(event: Any) -> None:
        # An interrupt raised inside a garbage-collection callback or __del__ is printed and
        # dropped by Python, and the command would go on; deliver it again to the code itself.
        if previous and seen.signal is not None and isinstance(event.exc_value, KeyboardInterrupt):
            # From another thread a moment later: raised here, it would be dropped again.
            # A real signal to the main thread, so that a blocking call there is woken too.
            later = threading.Timer(0.05, again, args=(seen.signal,))
            later.daemon = True
            later.start()
            return
        unraisable(event)

    sys.unraisablehook = redeliver
    try:
        yield seen
    finally:
        inside.clear()
        sys.unraisablehook = unraisable
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        if seen.signal is not None:
            logging.disable(logging.NOTSET)


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
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare group: its help, not an error
        print(exc.format_message())
        return 2
    except click.UsageError as exc:  # Typer's nested groups add the suggestion twice
        return _fail(re.sub(r"( Did you mean [^?]+\?)(\1)+", r"\1", exc.format_message()), 2)
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
    except ModuleNotFoundError as exc:  # a command of an extra this install does not have
        return _fail(_missing_extra(exc), 1)
    except RecursionError:  # a hostile file (YAML, JSON, an expression) nested thousands deep
        return _fail(
            f"input nested too deeply to read (over {sys.getrecursionlimit()} levels); "
            "check the structure of the files given",
            1,
        )
    except Exception as exc:  # the last line of defence: a bug still gets one line, not a dump
        if os.environ.get("EDGESHIELD_DEBUG"):
            raise
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return _fail(
            f"unexpected {exc.__class__.__name__}: {detail} (set EDGESHIELD_DEBUG=1 for details)",
            1,
        )
    return result if isinstance(result, int) else 0


# The top-level package of each optional stack, and the extra that installs it.
_EXTRA_OF = {
    **dict.fromkeys(("flwr", "ray", "opacus", "matplotlib", "pyshacl", "z3"), "vendor"),
    **dict.fromkeys(
        ("torch", "pandas", "scipy", "sklearn", "sqlalchemy", "psycopg", "pydantic", "yaml",
         "fastapi", "uvicorn", "httpx", "prometheus_client", "web3", "eth_tester", "lark",
         "rdflib"),
        "edge",
    ),
}  # fmt: skip


def _missing_extra(exc: ModuleNotFoundError) -> str:
    """One line naming the missing module and the extra that installs it."""
    top = (exc.name or "").split(".")[0]
    extra = _EXTRA_OF.get(top)
    if extra is None:
        return f"missing module {exc.name!r} ({exc}); reinstall edgeshield with `make setup`"
    return (
        f"this command needs {top!r}, which this install lacks: "
        f"pip install 'edgeshield[{extra}]' (or `make setup` for everything)"
    )


def main() -> None:
    """Console-script entry point.

    After an interrupt, threads a library left waiting (Flower's simulation keeps its ServerApp
    thread and workers alive once Ray is gone) would hold the process open for good; the
    command has cleaned up by then, so the process ends at once with the interrupt's code.
    """
    code = run()
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM) and _waiting_threads():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _waiting_threads() -> list[threading.Thread]:
    """Live non-daemon threads other than the main one: those the interpreter would join."""
    main_thread = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main_thread and not t.daemon]
