"""Read and write plant data in the UCI AI4I 2020 CSV layout, checked by its dataset schema."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from edgeshield.errors import StorageError
from edgeshield.usecase._schema import DatasetSchema
from edgeshield.usecase._schema_load import default_schema
from edgeshield.usecase._tabular import conform, read_table

__all__ = ["read_uci_csv", "validate_frame", "write_uci_csv"]


def validate_frame(frame: pd.DataFrame, schema: DatasetSchema | None = None) -> pd.DataFrame:
    """Check that ``frame`` has the schema's columns with usable values; return them in order.

    The schema defaults to AI4I 2020 (the UCI layout). Physical ranges are checked on import
    (:func:`read_uci_csv`, :func:`~edgeshield.usecase.read_table`), not here.

    Raises
    ------
    SchemaError
        A column is missing, a value is not numeric, a label is not 0/1 or a category unknown.
    """
    return conform(frame, schema or default_schema())


def read_uci_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV in the UCI AI4I 2020 layout (the published file or one we wrote).

    The five failure-mode columns may be absent; headers may also be the schema's snake_case
    names; values outside the physical ranges of the AI4I schema are refused.

    Raises
    ------
    StorageError
        The file does not exist or cannot be read.
    SchemaError
        The file is not in the UCI layout, or a value is refused.
    """
    return read_table(path, default_schema())


def write_uci_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` in the UCI CSV layout and return the path.

    The file is written under a temporary name beside ``path`` and renamed when complete, so
    an interrupted or failed write never leaves a truncated CSV that reads as a valid one.
    """
    path = Path(path)
    data = validate_frame(frame)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            data.to_csv(handle, index=False)
        os.replace(tmp_name, path)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write {path}: {exc}") from exc
        raise
    return path
