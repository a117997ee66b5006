"""Load and validate a dataset schema file; every error names the file, line and key path.

Why: a schema comes from a person writing YAML by hand, so a typo must be caught where it is
(``my.yaml:14: columns.torque.range: ...``) rather than surfacing later as a wrong model.
Unknown keys are refused (a misspelt ``requried: false`` would otherwise be ignored). The
shipped schemas live in ``edgeshield/usecase/schemas/``; ``extends: ai4i2020`` starts from one
of them and replaces whole top-level sections (``csv``, ``mapping``, ...).
"""

from __future__ import annotations

import codecs
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path as FilePath
from typing import Any, NoReturn

from edgeshield._files import read_small_file
from edgeshield.errors import ConfigError, StorageError
from edgeshield.usecase._expr import CONSTANTS, ExprError, names, parse
from edgeshield.usecase._schema import (
    SCHEMA_FORMAT,
    Column,
    ColumnType,
    CsvDialect,
    DatasetSchema,
    DerivedFeature,
    Target,
)
from edgeshield.usecase._schema_yaml import Located, Path, load_located

__all__ = [
    "default_schema",
    "is_default_schema",
    "load_schema",
    "schema_from_dict",
    "shipped_schema_text",
    "shipped_schemas",
]

DEFAULT_SCHEMA = "ai4i2020"
_IDENT = re.compile(r"[a-z][a-z0-9_]{0,62}")
_RESERVED = frozenset({"plant_id", "row_index", *CONSTANTS})
# The plant database's own tables (usecase._storage), beside which a schema's table lives.
_OWN_TABLES = frozenset({"plants", "quarantined_rows"})
_TOP = frozenset(
    {"format", "name", "description", "extends", "csv", "table", "id", "columns", "derived"}
    | {"target", "features", "mapping"}
)
_COLUMN_KEYS = frozenset(
    {"header", "type", "unit", "range", "cell", "levels", "required", "aliases", "sql"}
    | {"description"}
)


class _Checker:
    """Raises positioned :class:`ConfigError` s while reading values out of a document."""

    def __init__(self, doc: Located) -> None:
        self.doc = doc

    def fail(self, path: Path, message: str) -> NoReturn:
        raise ConfigError(f"{self.doc.where(path)}: {message}")

    def get(self, path: Path) -> Any:
        value: Any = self.doc.value
        for part in path:
            value = value[part]
        return value

    def mapping(self, path: Path, allowed: frozenset[str] | None = None) -> dict[str, Any]:
        value = self.get(path)
        if not isinstance(value, dict):
            self.fail(path, "expected a mapping of keys to values")
        for key in value:
            if allowed is not None and key not in allowed:
                self.fail(
                    (*path, key), f"unknown key; expected one of {', '.join(sorted(allowed))}"
                )
        return value

    def text(self, path: Path, *, default: str | None = None) -> str:
        parent = self.get(path[:-1])
        if path[-1] not in parent:
            if default is None:
                self.fail(path, "this key is required")
            return default
        value = parent[path[-1]]
        if not isinstance(value, str) or not value:
            self.fail(path, "expected non-empty text")
        return value

    def identifier(self, path: Path, value: Any) -> str:
        if not isinstance(value, str) or not _IDENT.fullmatch(value):
            self.fail(path, f"{value!r} is not a name: use a-z, 0-9 and _, starting with a letter")
        if value in _RESERVED:
            self.fail(path, f"{value!r} is reserved")
        return value

    def texts(self, path: Path) -> tuple[str, ...]:
        value = self.get(path)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(path, "expected a list of non-empty texts")
        if len(set(value)) != len(value):
            self.fail(path, "the list repeats an entry")
        return tuple(value)


def _number(check: _Checker, path: Path, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        check.fail(path, f"expected a number or null, got {value!r}")
    return float(value)


def _column(check: _Checker, name: str) -> Column:
    path: Path = ("columns", name)
    spec = check.mapping(path, _COLUMN_KEYS)
    raw_type = check.text((*path, "type"))
    try:
        kind = ColumnType(raw_type)
    except ValueError:
        choices = ", ".join(t.value for t in ColumnType)
        check.fail((*path, "type"), f"unknown type {raw_type!r}; expected one of {choices}")
    low = high = None
    if "range" in spec:
        if kind not in (ColumnType.INTEGER, ColumnType.FLOAT):
            check.fail((*path, "range"), "only integer and float columns take a range")
        bounds = spec["range"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            check.fail((*path, "range"), "expected [low, high] (null for an open end)")
        low = _number(check, (*path, "range", 0), bounds[0])
        high = _number(check, (*path, "range", 1), bounds[1])
        if low is not None and high is not None and low > high:
            check.fail((*path, "range"), f"low {low} is above high {high}")
    cell = None
    if "cell" in spec:
        if kind not in (ColumnType.INTEGER, ColumnType.FLOAT):
            check.fail((*path, "cell"), "only integer and float columns take a cell width")
        cell = _number(check, (*path, "cell"), spec["cell"])
        if cell is None or not 0.0 < cell < float("inf"):
            check.fail((*path, "cell"), f"expected a positive finite width, got {spec['cell']!r}")
    levels: tuple[str, ...] = ()
    if kind is ColumnType.CATEGORY:
        if "levels" not in spec:
            check.fail((*path, "levels"), "a category column needs its levels")
        levels = check.texts((*path, "levels"))
        if not levels:
            check.fail((*path, "levels"), "a category column needs at least one level")
    elif "levels" in spec:
        check.fail((*path, "levels"), "only category columns take levels")
    required = spec.get("required", True)
    if not isinstance(required, bool):
        check.fail((*path, "required"), "expected true or false")
    sql = check.identifier((*path, "sql"), spec["sql"]) if "sql" in spec else ""
    return Column(
        name=name,
        header=check.text((*path, "header"), default=name),
        type=kind,
        unit=check.text((*path, "unit"), default=""),
        minimum=low,
        maximum=high,
        cell=cell,
        levels=levels,
        required=required,
        aliases=check.texts((*path, "aliases")) if "aliases" in spec else (),
        sql=sql,
        description=check.text((*path, "description"), default=""),
    )


def _columns(check: _Checker) -> tuple[Column, ...]:
    if "columns" not in check.doc.value:
        check.fail(("columns",), "this key is required")
    names_ = list(check.mapping(("columns",)))
    if not names_:
        check.fail(("columns",), "declare at least one column")
    columns = tuple(_column(check, check.identifier(("columns", n), n)) for n in names_)
    seen: dict[str, str] = {}
    for c in columns:
        for title in dict.fromkeys((c.header, c.name, *c.aliases)):
            if title in seen and seen[title] != c.name:
                check.fail(("columns", c.name), f"header {title!r} also names {seen[title]!r}")
            seen[title] = c.name
    sql = [c.sql_name for c in columns]
    for c in columns:
        if sql.count(c.sql_name) > 1:
            check.fail(("columns", c.name), f"SQL name {c.sql_name!r} is used twice")
    return columns


def _derived(check: _Checker, columns: dict[str, Column]) -> tuple[DerivedFeature, ...]:
    if "derived" not in check.doc.value:
        return ()
    out: list[DerivedFeature] = []
    for name, spec in check.mapping(("derived",)).items():
        path: Path = ("derived", name)
        check.identifier(path, name)
        if name in columns:
            check.fail(path, f"{name!r} is already a column")
        source = spec if isinstance(spec, str) else None
        unit = ""
        if isinstance(spec, dict):
            check.mapping(path, frozenset({"expression", "unit"}))
            source = check.text((*path, "expression"))
            unit = check.text((*path, "unit"), default="")
            path = (*path, "expression")
        if source is None:
            check.fail(path, "expected an expression or {expression: ..., unit: ...}")
        try:
            tree = parse(source)
        except ExprError as exc:
            shown = source if len(source) <= 80 else source[:77] + "..."
            check.fail(path, f"{exc} (character {exc.offset + 1} of {shown!r})")
        known = {c.name for c in columns.values() if c.type.numeric} | {d.name for d in out}
        for used in names(tree):
            if used not in known:
                check.fail(path, f"{used!r} is not a numeric column or an earlier derived feature")
        out.append(DerivedFeature(name=name, source=source, expression=tree, unit=unit))
    return tuple(out)


def _target(check: _Checker, columns: dict[str, Column]) -> Target:
    if "target" not in check.doc.value:
        check.fail(("target",), "this key is required")
    spec = check.mapping(("target",), frozenset({"column", "positive"}))
    name = check.text(("target", "column"))
    column = columns.get(name)
    if column is None:
        check.fail(("target", "column"), f"{name!r} is not a declared column")
    if column.type is ColumnType.TEXT or column.type is ColumnType.FLOAT or not column.required:
        check.fail(
            ("target", "column"), "the target must be a required binary, integer or category"
        )
    if "positive" not in spec:
        check.fail(("target", "positive"), "this key is required")
    positive = spec["positive"]
    if column.type is ColumnType.CATEGORY:
        if positive not in column.levels:
            check.fail(("target", "positive"), f"{positive!r} is not a level of {name!r}")
    elif isinstance(positive, bool) or not isinstance(positive, int):
        check.fail(("target", "positive"), f"expected a whole number, got {positive!r}")
    elif column.type is ColumnType.BINARY and positive not in (0, 1):
        check.fail(("target", "positive"), "a binary target's positive label is 0 or 1")
    return Target(column=name, positive=positive)


def _features(
    check: _Checker, columns: dict[str, Column], derived: set[str], target: str
) -> tuple[str, ...]:
    features = check.texts(("features",)) if "features" in check.doc.value else ()
    if not features:
        check.fail(("features",), "list at least one model input")
    for i, name in enumerate(features):
        column = columns.get(name)
        if name == target:
            check.fail(("features", i), "the target cannot be a model input")
        if column is None and name not in derived:
            check.fail(("features", i), f"{name!r} is neither a column nor a derived feature")
        if column is not None and (column.type is ColumnType.TEXT or not column.required):
            check.fail(("features", i), f"{name!r} is a text or optional column")
    if not any(f in derived or columns[f].type.numeric for f in features):
        check.fail(("features",), "the model needs at least one numeric input")
    return features


def _dialect(check: _Checker) -> CsvDialect:
    if "csv" not in check.doc.value:
        return CsvDialect()
    check.mapping(("csv",), frozenset({"separator", "decimal", "encoding"}))
    separator = check.text(("csv", "separator"), default=",")
    decimal = check.text(("csv", "decimal"), default=".")
    encoding = check.text(("csv", "encoding"), default="utf-8")
    if len(separator) != 1 or separator in "\"'\n\r":
        check.fail(("csv", "separator"), f"expected one character, got {separator!r}")
    if decimal not in (".", ","):
        check.fail(("csv", "decimal"), f"expected '.' or ',', got {decimal!r}")
    if decimal == separator:
        check.fail(("csv", "decimal"), "the decimal mark cannot also be the separator")
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        check.fail(("csv", "encoding"), f"unknown text encoding {encoding!r}")
    if not getattr(info, "_is_text_encoding", True):  # rot13, hex, base64: not text encodings
        check.fail(("csv", "encoding"), f"{encoding!r} is not a text encoding")
    return CsvDialect(separator=separator, decimal=decimal, encoding=encoding)


def _mapping(check: _Checker, columns: dict[str, Column]) -> tuple[tuple[str, str], ...]:
    if "mapping" not in check.doc.value:
        return ()
    pairs = []
    for title, name in check.mapping(("mapping",)).items():
        if name not in columns:
            check.fail(("mapping", title), f"{name!r} is not a declared column")
        pairs.append((title, str(name)))
    return tuple(pairs)


def _named_lists_to_mappings(doc: Located) -> Located:
    """Accept the canonical form's ``columns``/``derived`` lists (``[{name: ..., ...}]``)."""
    if not isinstance(doc.value, dict):
        return doc
    value = dict(doc.value)
    for section in ("columns", "derived"):
        entries = value.get(section)
        if isinstance(entries, list) and all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
        ):
            value[section] = {
                e["name"]: {k: v for k, v in e.items() if k != "name"} for e in entries
            }
    return Located(value, doc.lines, doc.source)


def _canonical(top: dict[str, Any]) -> str:
    """Key-order-free JSON of a schema document: ordered sections become lists of entries."""
    data = {k: v for k, v in top.items() if k != "extends"}
    data["columns"] = [{"name": n, **spec} for n, spec in top["columns"].items()]
    if "derived" in top:
        data["derived"] = [
            {"name": n, **(spec if isinstance(spec, dict) else {"expression": spec})}
            for n, spec in top["derived"].items()
        ]
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _build(doc: Located) -> DatasetSchema:
    check = _Checker(_named_lists_to_mappings(doc))
    top = check.mapping((), _TOP)
    if top.get("format") != SCHEMA_FORMAT:
        check.fail(("format",), f"expected format: {SCHEMA_FORMAT}")
    if "name" not in top:
        check.fail(("name",), "this key is required")
    name = check.identifier(("name",), top["name"])
    columns = _columns(check)
    by_name = {c.name: c for c in columns}
    derived = _derived(check, by_name)
    target = _target(check, by_name)
    features = _features(check, by_name, {d.name for d in derived}, target.column)
    id_column = None
    if "id" in top:
        id_column = check.text(("id",))
        if id_column not in by_name or by_name[id_column].type is not ColumnType.INTEGER:
            check.fail(("id",), f"{id_column!r} is not an integer column")
        if not by_name[id_column].required:
            check.fail(("id",), "the id column must be required")
    table = check.identifier(("table",), top["table"]) if "table" in top else ""
    if table in _OWN_TABLES or table.startswith(("sqlite_", "guard_")):
        check.fail(("table",), f"{table!r} is a table EdgeShield or the database keeps itself")
    return DatasetSchema(
        name=name,
        description=check.text(("description",), default=""),
        columns=columns,
        target=target,
        features=features,
        derived=derived,
        csv=_dialect(check),
        mapping=_mapping(check, by_name),
        id_column=id_column,
        table=table,
        document=_canonical(top),
    )


def shipped_schemas() -> tuple[str, ...]:
    """Names of the schemas shipped with EdgeShield (``extends:`` and ``--schema NAME``)."""
    folder = resources.files("edgeshield.usecase") / "schemas"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")))


def shipped_schema_text(name: str) -> str | None:
    """The YAML text of a shipped schema (comments included), or ``None`` for another name."""
    return _shipped_text(name) if name in shipped_schemas() else None


def _shipped_text(name: str) -> str:
    if name not in shipped_schemas():
        raise ConfigError(f"no shipped schema {name!r}; shipped: {', '.join(shipped_schemas())}")
    return (resources.files("edgeshield.usecase") / "schemas" / f"{name}.yaml").read_text("utf-8")


def _extend(doc: Located) -> Located:
    """Apply ``extends: NAME``: the shipped schema's sections, replaced by the file's own."""
    if not isinstance(doc.value, dict) or "extends" not in doc.value:
        return doc
    base_name = doc.value["extends"]
    if not isinstance(base_name, str) or base_name not in shipped_schemas():
        raise ConfigError(
            f"{doc.where(('extends',))}: expected one of {', '.join(shipped_schemas())}"
        )
    base = load_located(_shipped_text(base_name), f"{base_name}.yaml")
    merged = {**base.value, **{k: v for k, v in doc.value.items() if k != "extends"}}
    return Located(merged, doc.lines, doc.source)


def load_schema(path: str | FilePath) -> DatasetSchema:
    """Load a schema from a YAML file, or a shipped one by name (``"ai4i2020"``).

    Raises
    ------
    StorageError
        The file does not exist or cannot be read.
    ConfigError
        The file is not a valid schema; the message gives ``file:line: key.path``.
    """
    if isinstance(path, str) and path in shipped_schemas():
        return _shipped(path)
    path = FilePath(path)
    try:  # a regular file of at most 1 MiB: /dev/zero or a FIFO is refused, not read
        text = read_small_file(path).decode("utf-8")
    except FileNotFoundError as exc:
        raise StorageError(f"no such schema file: {path}") from exc
    except OSError as exc:
        raise StorageError(f"cannot read schema file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise StorageError(f"cannot read schema file {path}: {exc}") from exc
    return _build(_extend(load_located(text, str(path))))


def schema_from_dict(data: Any, *, source: str = "model card") -> DatasetSchema:
    """Rebuild a schema from its canonical form (:meth:`DatasetSchema.as_dict`)."""
    return _build(_extend(Located(data, {}, source)))


@cache
def _shipped(name: str) -> DatasetSchema:
    return _build(load_located(_shipped_text(name), f"{name}.yaml"))


def default_schema() -> DatasetSchema:
    """The UCI AI4I 2020 schema: the layout EdgeShield reads when no schema is given."""
    return _shipped(DEFAULT_SCHEMA)


def is_default_schema(schema: DatasetSchema | None) -> bool:
    """Whether ``schema`` is AI4I 2020's (``None`` stands for it): same digest, any source.

    Why: what only AI4I has (the generator, its failure physics, public pretraining) is offered
    for this schema alone, however it was loaded (by name, from a file, from a model card).
    """
    return schema is None or schema.digest == default_schema().digest
