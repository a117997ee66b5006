"""Bring rows into a schema's layout and check them: types, levels, physical ranges.

Why: import must lose nothing and invent nothing. A value that does not fit its declared type
(a fractional rpm, an unknown category, an empty cell) is refused rather than coerced, and a
value outside its column's physical range (torque -500 Nm, a temperature in Celsius where
kelvin is declared) is refused at import, naming the row and column, before anything is
written: not later by the guard, after a model was trained on it. Row numbers count data rows
from 1 (the header is not a row).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from edgeshield.errors import DataError, SchemaError, StorageError
from edgeshield.usecase._expr import evaluate
from edgeshield.usecase._schema import Column, ColumnType, DatasetSchema

__all__ = ["check_physical", "conform", "read_table"]


def _first(mask: pd.Series | np.ndarray) -> int:
    """1-based row number of the first true entry."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 1


def _rename(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Map the frame's headers onto the schema's; refuse two headers for one column."""
    accepted = schema.header_map
    renamed: dict[str, str] = {}
    for title in frame.columns:
        target = accepted.get(str(title).strip())
        if target is None:
            continue
        if target in renamed.values():
            other = next(k for k, v in renamed.items() if v == target)
            raise SchemaError(f"columns {other!r} and {title!r} both map to {target!r}")
        renamed[str(title)] = target
    return frame.loc[:, list(renamed)].rename(columns=renamed)


def _numeric(values: pd.Series, column: Column) -> pd.Series:
    parsed = pd.to_numeric(values, errors="coerce")
    as_float = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(as_float)
    if bad.any():
        raise SchemaError(
            f"column {column.header!r} has an empty or non-numeric value at row {_first(bad)}"
        )
    if column.type is ColumnType.FLOAT:
        return parsed.astype(np.float64)
    fractional = as_float != np.round(as_float)
    if fractional.any():
        row = _first(fractional)
        raise SchemaError(
            f"column {column.header!r} holds a fractional value ({as_float[row - 1]}) at row "
            f"{row}; it takes whole numbers only (nothing is rounded)"
        )
    if column.type is ColumnType.BINARY and not np.isin(as_float, (0.0, 1.0)).all():
        raise SchemaError(f"column {column.header!r} must hold only 0 and 1")
    return parsed.astype(np.int64)


def _textual(values: pd.Series, column: Column) -> pd.Series:
    empty = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        raise SchemaError(f"column {column.header!r} is empty at row {_first(empty)}")
    out = values.astype(str)
    if column.type is ColumnType.CATEGORY:
        unknown = sorted(set(out) - set(column.levels))
        if unknown:
            raise SchemaError(
                f"column {column.label()} has unknown value(s) {unknown}; "
                f"expected {', '.join(column.levels)}"
            )
    return out


def conform(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The frame's schema columns under their headers, in schema order, with checked types.

    Headers are matched by header, name, alias or the schema's mapping; other columns are
    dropped; an optional column may be absent. Ranges are not checked here (see
    :func:`check_physical`), so data already inside EdgeShield reads back unchanged.

    Raises
    ------
    SchemaError
        A required column is missing, or a value does not fit its column's type.
    """
    data = _rename(frame, schema)
    missing = [c.header for c in schema.columns if c.required and c.header not in data.columns]
    if missing:
        raise SchemaError(f"missing column(s): {', '.join(repr(c) for c in missing)}")
    present = [c for c in schema.columns if c.header in data.columns]
    out = data.loc[:, [c.header for c in present]].copy()
    for column in present:
        convert = _numeric if column.type.numeric else _textual
        out[column.header] = convert(out[column.header], column)
    return out


def check_physical(frame: pd.DataFrame, schema: DatasetSchema) -> None:
    """Refuse the first value outside its column's physical range, and non-finite features.

    ``frame`` must already be conformed. The message names the row, the column, the value
    and the declared range with its unit.

    Raises
    ------
    SchemaError
        A value lies outside its declared range, or a derived feature is not finite there.
    """
    for column in schema.columns:
        if column.header not in frame.columns or (column.minimum, column.maximum) == (None, None):
            continue
        values = frame[column.header].to_numpy(dtype=np.float64)
        low = -np.inf if column.minimum is None else column.minimum
        high = np.inf if column.maximum is None else column.maximum
        outside = (values < low) | (values > high)
        if outside.any():
            row = _first(outside)
            bounds = f"[{_show(column.minimum)}, {_show(column.maximum)}]"
            unit = f" {column.unit}" if column.unit else ""
            raise SchemaError(
                f"row {row}, column {column.header!r}: {_show(values[row - 1])} is outside the "
                f"physical range {bounds}{unit}; nothing was imported"
            )
    names: dict[str, np.ndarray] = {
        c.name: frame[c.header].to_numpy(dtype=np.float64)
        for c in schema.columns
        if c.type.numeric and c.header in frame.columns
    }
    for feature in schema.derived:
        values = evaluate(feature.expression, names, len(frame))
        names[feature.name] = values
        bad = ~np.isfinite(values)
        if bad.any():
            raise SchemaError(
                f"row {_first(bad)}: derived feature {feature.name!r} ({feature.source}) is not "
                "finite; nothing was imported"
            )


def _show(value: float | None) -> str:
    if value is None:
        return "none"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else str(value)


def read_table(path: str | Path, schema: DatasetSchema) -> pd.DataFrame:
    """Read a CSV in the schema's dialect, conform it and check its physical ranges.

    Raises
    ------
    StorageError
        The file does not exist or cannot be read.
    DataError
        The file is not CSV in the declared dialect and encoding, or holds no rows.
    SchemaError
        A column is missing or a value is refused (see :func:`conform`, :func:`check_physical`).
    """
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"no such file: {path}")
    dialect = schema.csv
    try:
        frame = pd.read_csv(
            path, sep=dialect.separator, decimal=dialect.decimal, encoding=dialect.encoding
        )
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not readable as {dialect.encoding}: {exc.reason}") from exc
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path} is not a readable CSV file: {exc}") from exc
    if frame.empty:
        raise DataError(f"{path} holds a header but no rows")
    if len(frame.columns) == 1:
        others = [
            sep for sep in ",;\t|" if sep != dialect.separator and sep in str(frame.columns[0])
        ]
        if others:
            raise SchemaError(
                f"{path} reads as one column with separator {dialect.separator!r}, but its "
                f"header holds {others[0]!r}: declare csv.separator in a schema (--schema)"
            )
    data = conform(frame, schema)
    check_physical(data, schema)
    return data
