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

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import click

from edgeshield._files import read_small_file
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
    params = {p.name: p for p in command.params if p.name}
    out: dict[str, Any] = {}
    given: dict[str, str] = {}

    def once(name: str, key: str) -> None:
        if name in given:  # `db-url` and `db_url`: one of them was dropped in silence
            raise ConfigError(f"{origin}: [{where}] sets {name} twice ({given[name]}, {key})")
        given[name] = key

    if isinstance(command, click.Group):
        names = set(command.list_commands(ctx))
        for key, value in table.items():
            name = key if key in names else key.replace("_", "-")
            if name in names:
                once(name, key)
                if not isinstance(value, dict):
                    dotted = name if where == "top level" else f"{where}.{name}"
                    raise ConfigError(
                        f"{origin}: {dotted} = {value!r} must be a table ([{dotted}]) of options"
                    )
                out[name] = value
            elif (option := key.replace("-", "_")) in params and not isinstance(value, dict):
                once(option, key)
                out[option] = _typed(params[option], key, value, f"{origin}: [{where}]")
            else:
                raise ConfigError(f"{origin}: [{where}] has no command {key!r}; {help_hint}")
        return out
    for key, value in table.items():
        name = key.replace("-", "_")
        if isinstance(value, dict):
            raise ConfigError(f"{origin}: [{where}] is a command; {key!r} cannot be a table")
        if name not in params:
            raise ConfigError(f"{origin}: [{where}] has no option {key!r}; {help_hint}")
        once(name, key)
        out[name] = _typed(params[name], key, value, f"{origin}: [{where}]")
    return out


def _typed(param: click.Parameter, key: str, value: object, where: str) -> object:
    try:
        return _checked_value(param, value)
    except TypeError as exc:
        raise ConfigError(f"{where} {key} = {_toml(value)}: {exc}") from exc


def _toml(value: object) -> str:
    """``value`` roughly as the file wrote it (``true``, ``1979-05-27``, ``[1, 2]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else repr(value)


def _checked_value(param: click.Parameter, value: object) -> object:
    """``value`` if TOML gave a kind of value ``param`` takes, else a TypeError saying which.

    Why: click would truncate 1.9 to 1, take ``true`` as 1, or fail deep inside on an array.
    """
    if isinstance(value, list):
        if not param.multiple and param.nargs == 1:
            raise TypeError("one value expected, not an array")
        for item in value:
            _checked_scalar(param, item)
        return value
    _checked_scalar(param, value)
    return value


def _checked_scalar(param: click.Parameter, value: object) -> None:
    kind = param.type
    if isinstance(value, str):
        return  # click parses text as it parses the command line
    if isinstance(kind, click.types.BoolParamType):
        if not isinstance(value, bool):
            raise TypeError("true or false expected")
    elif isinstance(kind, click.types.IntParamType):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("a whole number expected")
    elif isinstance(kind, click.types.FloatParamType):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("a number expected")
    elif not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError("a string expected")


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
    try:  # bounded: a 2 GiB file was read whole before its size was checked
        raw = read_small_file(path, limit=_MAX_BYTES)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        table = tomllib.loads(raw.decode("utf-8-sig"))  # a BOM from a Windows editor is fine
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return ConfigMap(table, path)
