"""Read and write plant data in the UCI AI4I 2020 CSV layout, with schema checks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from edgeshield.errors import DataError, SchemaError, StorageError
from edgeshield.usecase import _columns as col

__all__ = ["read_uci_csv", "validate_frame", "write_uci_csv"]

_INTEGER_COLUMNS = (
    col.UDI,
    col.ROTATIONAL_SPEED,
    col.TOOL_WEAR,
    col.MACHINE_FAILURE,
    *col.FAILURE_MODES,
)
_FLOAT_COLUMNS = (col.AIR_TEMPERATURE, col.PROCESS_TEMPERATURE, col.TORQUE)


def validate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Check that ``frame`` has the UCI columns with usable values; return them in UCI order.

    Raises
    ------
    SchemaError
        A column is missing, a value is not numeric, a label is not 0/1 or a type is not L/M/H.
    """
    missing = [c for c in col.UCI_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"missing column(s): {', '.join(repr(c) for c in missing)}")
    out = frame.loc[:, list(col.UCI_COLUMNS)].copy()
    for name in (*_INTEGER_COLUMNS, *_FLOAT_COLUMNS):
        values = pd.to_numeric(out[name], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(f"column {name!r} has a non-numeric value at row {row + 1}")
        if name in _INTEGER_COLUMNS:
            fractional = (values != values.round()).to_numpy()
            if fractional.any():
                row = int(np.flatnonzero(fractional)[0])
                raise SchemaError(
                    f"column {name!r} holds a fractional value ({values.iloc[row]}) at row "
                    f"{row + 1}; it takes whole numbers only (nothing is rounded)"
                )
        out[name] = values.astype(np.int64 if name in _INTEGER_COLUMNS else np.float64)
    for name in (col.MACHINE_FAILURE, *col.FAILURE_MODES):
        if not out[name].isin((0, 1)).all():
            raise SchemaError(f"column {name!r} must hold only 0 and 1")
    out[col.TYPE] = out[col.TYPE].astype(str)
    unknown = sorted(set(out[col.TYPE]) - set(col.PRODUCT_TYPES))
    if unknown:
        raise SchemaError(f"column 'Type' has unknown product type(s) {unknown}; expected L, M, H")
    out[col.PRODUCT_ID] = out[col.PRODUCT_ID].astype(str)
    return out


def read_uci_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV in the UCI AI4I 2020 layout (the published file or one we wrote).

    Raises
    ------
    StorageError
        The file does not exist or cannot be read.
    SchemaError
        The file is not in the UCI layout.
    """
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path} is not a readable CSV file: {exc}") from exc
    if frame.empty:
        raise DataError(f"{path} holds a header but no rows")
    return validate_frame(frame)


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
