"""Ordinary options from a config file, as Flower reads ``[tool.flwr]``.

Precedence, highest first: the command line, ``EDGESHIELD_<GROUP>_<COMMAND>_<OPTION>``
environment variables (e.g. ``EDGESHIELD_DATA_GENERATE_ROWS=5000``), the config file, the
built-in default. The file is ``$EDGESHIELD_CONFIG`` when set, else ``edgeshield.toml`` in the
working directory when present; its tables follow the command path::

    [data.generate]
    rows = 5000

    [fl.run]
    plants = 6

Secrets (keys, passphrases) are never read from it: they come from files or the environment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import click

from edgeshield.errors import ConfigError

__all__ = ["CONFIG_ENV", "CONFIG_FILE", "ConfigMap", "checked_defaults", "load_config"]

CONFIG_ENV = "EDGESHIELD_CONFIG"
CONFIG_FILE = "edgeshield.toml"
_MAX_BYTES = 1 << 20


class ConfigMap(dict[str, Any]):
    """The file's tables as read, remembering the file they came from (for error messages)."""

    def __init__(self, table: dict[str, Any], source: Path) -> None:
        super().__init__(table)
        self.source = source


def checked_defaults(
    table: object, command: click.Command, ctx: click.Context, source: Path | None
) -> dict[str, Any]:
    """``table`` as click's default map for ``command``, or a :class:`ConfigError`.

    A group's keys must name its subcommands (``add-client`` or ``add_client``) and hold
    tables; a command's keys must name its options (``db-url`` or ``db_url``) and hold values.
    A misspelt option in a security setting must not be ignored in silence.
    """
    where = ".".join(ctx.command_path.split()[1:]) or "top level"
    origin = f"config file {source}" if source is not None else "config file"
    help_hint = f"`{ctx.command_path} --help` lists them"
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: [{where}] must be a table, not {type(table).__name__}")
    params = {p.name for p in command.params if p.name}
    out: dict[str, Any] = {}
    if isinstance(command, click.Group):
        names = set(command.list_commands(ctx))
        for key, value in table.items():
            name = key if key in names else key.replace("_", "-")
            if name in names:
                if not isinstance(value, dict):
                    dotted = name if where == "top level" else f"{where}.{name}"
                    raise ConfigError(
                        f"{origin}: {dotted} = {value!r} must be a table ([{dotted}]) of options"
                    )
                out[name] = value
            elif key.replace("-", "_") in params and not isinstance(value, dict):
                out[key.replace("-", "_")] = value
            else:
                raise ConfigError(f"{origin}: [{where}] has no command {key!r}; {help_hint}")
        return out
    for key, value in table.items():
        name = key.replace("-", "_")
        if isinstance(value, dict):
            raise ConfigError(f"{origin}: [{where}] is a command; {key!r} cannot be a table")
        if name not in params:
            raise ConfigError(f"{origin}: [{where}] has no option {key!r}; {help_hint}")
        out[name] = value
    return out


def load_config(path: Path | None = None) -> ConfigMap | None:
    """The config file's tables, or ``None`` where there is none.

    The tables are checked against the commands as each command runs
    (:func:`checked_defaults`), since the CLI imports only the command it runs.

    Raises
    ------
    ConfigError
        The file named by ``$EDGESHIELD_CONFIG`` is missing, too large or not valid TOML.
    """
    if path is None:
        named = os.environ.get(CONFIG_ENV)
        if named:
            path = Path(named)
            if not path.is_file():
                raise ConfigError(f"{CONFIG_ENV} names {path}, which is not a file")
        else:
            path = Path(CONFIG_FILE)
            if not path.is_file():
                return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    if len(raw) > _MAX_BYTES:
        raise ConfigError(f"config file {path} is larger than {_MAX_BYTES} bytes")
    try:
        table = tomllib.loads(raw.decode("utf-8-sig"))  # a BOM from a Windows editor is fine
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return ConfigMap(table, path)
