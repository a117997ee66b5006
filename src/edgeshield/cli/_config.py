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

from edgeshield.errors import ConfigError

__all__ = ["CONFIG_ENV", "CONFIG_FILE", "load_config"]

CONFIG_ENV = "EDGESHIELD_CONFIG"
CONFIG_FILE = "edgeshield.toml"
_MAX_BYTES = 1 << 20


def _as_default_map(table: dict[str, Any]) -> dict[str, Any]:
    """TOML keys use the option spelling (``db-url``); click's default map uses ``db_url``."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        out[name] = _as_default_map(value) if isinstance(value, dict) else value
    return out


def load_config(path: Path | None = None) -> dict[str, Any] | None:
    """The default map from the config file, or ``None`` where there is none.

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
        table = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return _as_default_map(table)
