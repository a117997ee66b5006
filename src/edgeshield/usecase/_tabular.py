"""Bring rows into a schema's layout and check them: types, levels, physical ranges.

Why: import must lose nothing and invent nothing. A value that does not fit its declared type
(a fractional rpm, an unknown category, an empty cell) is refused rather than coerced, and a
value outside its column's physical range (torque -500 Nm, a temperature in Celsius where
kelvin is declared) is refused at import, naming the row and column, before anything is
written: not later by the guard, after a model was trained on it. Row numbers count data rows
from 1 (the header is not a row).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import DataError, SchemaError, StorageError
from edgeshield.usecase._expr import evaluate
from edgeshield.usecase._schema import (
    Column,
    ColumnType,
    CsvDialect,
    DatasetSchema,
    DerivedFeature,
)

__all__ = ["check_physical", "conform", "read_table", "screen", "screen_table"]


@dataclass(frozen=True)
class _Problem:
    """Rows that fail one check, and the message for one such (1-based) row."""

    mask: npt.NDArray[np.bool_]
    message: Callable[[int], str]


def _first(mask: npt.NDArray[np.bool_]) -> int:
    """1-based row number of the first true entry."""
    return int(np.flatnonzero(mask)[0]) + 1


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


def _structure(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Renamed frame with the schema's columns present, in schema order; refuse a missing one."""
    data = _rename(frame, schema)
    missing = [c.header for c in schema.columns if c.required and c.header not in data.columns]
    if missing:
        raise SchemaError(f"missing column(s): {', '.join(repr(c) for c in missing)}")
    return data.loc[:, [c.header for c in schema.columns if c.header in data.columns]]


def _numbers(values: pd.Series) -> npt.NDArray[np.float64]:
    parsed = pd.to_numeric(values, errors="coerce")
    return np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


# Integer columns are stored as int64: 2**63 and beyond do not fit (a float compare is exact here).
_INT64_END = 2.0**63


def _type_problems(values: pd.Series, column: Column) -> list[_Problem]:
    """Each way a column's values can fail its declared type, in the order they are reported."""
    name = column.header
    if column.type.numeric:
        x = _numbers(values)
        finite = np.isfinite(x)
        problems = [
            _Problem(
                ~finite,
                lambda r: f"column {name!r} has an empty or non-numeric value at row {r}",
            )
        ]
        if column.type is not ColumnType.FLOAT:
            problems.append(
                _Problem(
                    finite & (x != np.round(np.where(finite, x, 0.0))),
                    lambda r: (
                        f"column {name!r} holds a fractional value ({x[r - 1]}) at row {r}; "
                        "it takes whole numbers only (nothing is rounded)"
                    ),
                )
            )
        if column.type is ColumnType.INTEGER:
            problems.append(
                _Problem(
                    finite & ((x >= _INT64_END) | (x < -_INT64_END)),
                    lambda r: (
                        f"column {name!r} holds {x[r - 1]:.6g} at row {r}, outside the range "
                        "of a 64-bit integer"
                    ),
                )
            )
        if column.type is ColumnType.BINARY:
            problems.append(
                _Problem(
                    finite & ~np.isin(x, (0.0, 1.0)),
                    lambda r: f"column {name!r} must hold only 0 and 1 (row {r})",
                )
            )
        return problems
    text = values.astype(str)
    empty = values.isna().to_numpy() | (text.str.strip() == "").to_numpy()
    problems = [_Problem(empty, lambda r: f"column {name!r} is empty at row {r}")]
    if column.type is ColumnType.CATEGORY:
        unknown = ~empty & ~text.isin(column.levels).to_numpy()
        found = sorted(set(text[unknown]))
        problems.append(
            _Problem(
                unknown,
                lambda r: (
                    f"column {column.label()} has unknown value(s) {found}; "
                    f"expected {', '.join(column.levels)} (first at row {r})"
                ),
            )
        )
    return problems


def _physical_problems(data: pd.DataFrame, schema: DatasetSchema) -> list[_Problem]:
    """Values outside their physical range, then derived features that are not finite."""
    problems: list[_Problem] = []
    numbers: dict[str, npt.NDArray[np.float64]] = {}
    for column in schema.columns:
        if column.header not in data.columns or not column.type.numeric:
            continue
        x = numbers[column.name] = _numbers(data[column.header])
        if (column.minimum, column.maximum) == (None, None):
            continue
        low = -np.inf if column.minimum is None else column.minimum
        high = np.inf if column.maximum is None else column.maximum
        problems.append(_Problem((x < low) | (x > high), _range_message(column, x)))
    usable = np.logical_and.reduce([np.isfinite(x) for x in numbers.values()]) if numbers else None
    for feature in schema.derived:
        with np.errstate(invalid="ignore", over="ignore"):
            value = numbers[feature.name] = evaluate(feature.expression, numbers, len(data))
        bad = ~np.isfinite(value) if usable is None else usable & ~np.isfinite(value)
        problems.append(_Problem(bad, _derived_message(feature)))
    return problems


def _range_message(column: Column, x: npt.NDArray[np.float64]) -> Callable[[int], str]:
    bounds = f"[{_show(column.minimum)}, {_show(column.maximum)}]"
    unit = f" {column.unit}" if column.unit else ""

    def message(row: int) -> str:
        return (
            f"row {row}, column {column.header!r}: {_show(x[row - 1])} is outside the "
            f"physical range {bounds}{unit}"
        )

    return message


def _derived_message(feature: DerivedFeature) -> Callable[[int], str]:
    def message(row: int) -> str:
        return f"row {row}: derived feature {feature.name!r} ({feature.source}) is not finite"

    return message


def _convert(data: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Checked values in their final dtypes: int64, float64 or text."""
    out = data.copy()
    for column in schema.columns:
        if column.header not in out.columns:
            continue
        values = out[column.header]
        if column.type is ColumnType.FLOAT:
            out[column.header] = pd.to_numeric(values).astype(np.float64)
        elif column.type.numeric:
            out[column.header] = pd.to_numeric(values).astype(np.int64)
        else:
            out[column.header] = values.astype(str)
    return out


def _raise_first(problems: list[_Problem], suffix: str = "") -> None:
    for problem in problems:
        if problem.mask.any():
            raise SchemaError(problem.message(_first(problem.mask)) + suffix)


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
    data = _structure(frame, schema)
    by_header = {c.header: c for c in schema.columns}
    for header in data.columns:
        _raise_first(_type_problems(data[header], by_header[header]))
    return _convert(data, schema)


def check_physical(frame: pd.DataFrame, schema: DatasetSchema) -> None:
    """Refuse the first value outside its column's physical range, and non-finite features.

    ``frame`` must already be conformed. The message names the row, the column, the value
    and the declared range with its unit.

    Raises
    ------
    SchemaError
        A value lies outside its declared range, or a derived feature is not finite there.
    """
    _raise_first(_physical_problems(frame, schema), "; nothing was imported")


def screen(frame: pd.DataFrame, schema: DatasetSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into conformed good rows and refused ones, each with its first reason.

    Why: ``--on-bad-row quarantine`` keeps the good rows and sets the others aside, with the
    reason, instead of refusing the whole file. Structural faults (a missing column, two
    headers for one column) still refuse everything.

    Returns
    -------
    good, bad
        ``good`` as :func:`conform` returns it; ``bad`` has ``row`` (1-based), ``reason`` and
        ``record`` (the row's raw values as JSON text).
    """
    data = _structure(frame, schema)
    by_header = {c.header: c for c in schema.columns}
    problems = [p for h in data.columns for p in _type_problems(data[h], by_header[h])]
    problems += _physical_problems(data, schema)  # unparsable values count as in range
    reasons = np.full(len(data), "", dtype=object)
    for problem in problems:
        fresh = problem.mask & (reasons == "")
        for index in np.flatnonzero(fresh):
            reasons[index] = problem.message(int(index) + 1)
    bad_mask = reasons != ""
    raw = frame.loc[bad_mask]
    bad = pd.DataFrame(
        {
            "row": np.flatnonzero(bad_mask) + 1,
            "reason": reasons[bad_mask],
            "record": [
                json.dumps({str(k): _jsonable(v) for k, v in record.items()}, sort_keys=True)
                for record in raw.to_dict(orient="records")
            ],
        }
    )
    good = _convert(data.loc[~bad_mask], schema).reset_index(drop=True)
    return good, bad


def _jsonable(value: object) -> object:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None if value is None or np.isnan(value) else str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, int | float | str | bool) else str(value)


def _show(value: float | None) -> str:
    if value is None:
        return "none"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else str(value)


def _read_csv(path: str | Path, schema: DatasetSchema) -> pd.DataFrame:
    """The file's rows as pandas reads them in the schema's dialect (nothing checked yet)."""
    path = Path(path)
    if not path.is_file():
        reason = "not a regular file" if path.exists() else "no such file"
        raise StorageError(f"{reason}: {path}")
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
    _refuse_repeated_headers(path, dialect)
    if len(frame.columns) == 1:
        others = [
            sep for sep in ",;\t|" if sep != dialect.separator and sep in str(frame.columns[0])
        ]
        if others:
            raise SchemaError(
                f"{path} reads as one column with separator {dialect.separator!r}, but its "
                f"header holds {others[0]!r}: declare csv.separator in a schema (--schema)"
            )
    return frame


def _refuse_repeated_headers(path: Path, dialect: CsvDialect) -> None:
    """Refuse a repeated header: pandas reads the copy as ``name.1``, then it is dropped unseen."""
    header = pd.read_csv(
        path, sep=dialect.separator, encoding=dialect.encoding, header=None, nrows=1, dtype=str
    ).iloc[0]
    counts = header.value_counts()
    repeated = [str(name) for name in header.drop_duplicates() if counts[name] > 1]
    if repeated:
        raise SchemaError(
            f"{path} repeats the header(s) {', '.join(repr(h) for h in repeated)}: which column "
            "is meant is ambiguous; rename or remove the copies"
        )


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
    data = conform(_read_csv(path, schema), schema)
    check_physical(data, schema)
    return data


def screen_table(path: str | Path, schema: DatasetSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CSV like :func:`read_table`, but set refused rows aside instead of failing.

    Returns the good rows and the refused ones (see :func:`screen`).

    Raises
    ------
    StorageError, DataError
        As :func:`read_table`.
    SchemaError
        A required column is missing or two headers name one column.
    """
    return screen(_read_csv(path, schema), schema)
