"""A dataset schema: what the columns of a plant's data are, and what the model learns from.

Why: the protections (federated training, watermark, sealing, guarded serving) do not depend
on one data set; only the plumbing does. A :class:`DatasetSchema` declares that plumbing once:
columns with types, units and physical ranges, the target and its positive label, derived
features, the CSV dialect and how a file's headers map onto the columns. It is loaded from a
small YAML file (:func:`~edgeshield.usecase.load_schema`); the UCI AI4I 2020 layout is the
shipped default (:func:`~edgeshield.usecase.default_schema`).

Inside EdgeShield a data frame carries each column under its ``header`` (for AI4I the UCI
titles such as ``"Air temperature [K]"``); expressions, SQL columns and feature names use the
column's ``name``, a lower-case identifier.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from edgeshield.usecase._expr import Expr, names

__all__ = ["Column", "ColumnType", "CsvDialect", "DatasetSchema", "DerivedFeature", "Target"]

SCHEMA_FORMAT = "edgeshield.dataset-schema/1"


class ColumnType(enum.Enum):
    """What values a column holds; decides parsing, checks, SQL type and feature encoding."""

    INTEGER = "integer"
    """Whole numbers; a fractional value is refused, never rounded."""
    FLOAT = "float"
    """Finite real numbers."""
    BINARY = "binary"
    """0 or 1 (labels and flags)."""
    CATEGORY = "category"
    """One of the declared ``levels``; one-hot encoded when it is a feature."""
    TEXT = "text"
    """Free text such as a product id; never a feature."""

    @property
    def numeric(self) -> bool:
        """Whether values are numbers (usable in expressions and as numeric features)."""
        return self in (ColumnType.INTEGER, ColumnType.FLOAT, ColumnType.BINARY)


@dataclass(frozen=True, kw_only=True)
class Column:
    """One declared column of the data."""

    name: str
    """Identifier used by expressions, features and SQL (``[a-z][a-z0-9_]*``)."""
    header: str
    """The column's title in frames and in the canonical CSV."""
    type: ColumnType
    unit: str = ""
    minimum: float | None = None
    """Lowest physically possible value (inclusive); ``None`` for no lower bound."""
    maximum: float | None = None
    """Highest physically possible value (inclusive); ``None`` for no upper bound."""
    cell: float | None = None
    """Width of the guard's API-watermark cells along this column, in its unit (``None``: a
    hundredth of the declared range; a served model input with an open range must declare it)."""
    levels: tuple[str, ...] = ()
    """The allowed values of a category column, in one-hot order."""
    required: bool = True
    """An optional column may be absent from a file (it is then absent from the frame)."""
    aliases: tuple[str, ...] = ()
    """Other headers accepted for this column on import (the ``name`` always is)."""
    sql: str = ""
    """SQL column name; empty means ``name``."""
    description: str = ""

    @property
    def sql_name(self) -> str:
        """The column's name in the database table."""
        return self.sql or self.name

    def label(self) -> str:
        """How messages name the column: its header, with the description when there is one."""
        return f"{self.header!r} ({self.description})" if self.description else repr(self.header)


@dataclass(frozen=True, kw_only=True)
class DerivedFeature:
    """A feature computed from columns, such as AI4I's temperature difference or power."""

    name: str
    source: str
    """The expression as written in the schema."""
    expression: Expr
    unit: str = ""

    @property
    def reads(self) -> tuple[str, ...]:
        """The names (columns or earlier derived features) the expression reads."""
        return names(self.expression)


@dataclass(frozen=True, kw_only=True)
class Target:
    """The label column and which of its values is the positive class."""

    column: str
    positive: int | str


@dataclass(frozen=True, kw_only=True)
class CsvDialect:
    """How a CSV file is written: field separator, decimal mark and text encoding."""

    separator: str = ","
    decimal: str = "."
    encoding: str = "utf-8"


@dataclass(frozen=True, kw_only=True)
class DatasetSchema:
    """A validated dataset schema; build one with :func:`~edgeshield.usecase.load_schema`."""

    name: str
    description: str
    columns: tuple[Column, ...]
    target: Target
    features: tuple[str, ...]
    """Model inputs by name: numeric columns, derived features and category columns."""
    derived: tuple[DerivedFeature, ...] = ()
    csv: CsvDialect = CsvDialect()
    mapping: tuple[tuple[str, str], ...] = ()
    """Extra ``(file header, column name)`` pairs accepted on import."""
    id_column: str | None = None
    """A whole-number column that identifies a row within a plant (its SQL key)."""
    table: str = ""
    """SQL table of the rows; empty means ``rows_<name>``."""
    document: str = ""
    """The canonical JSON form the schema was built from (what its digest covers)."""

    @cached_property
    def by_name(self) -> dict[str, Column]:
        """Columns by name."""
        return {c.name: c for c in self.columns}

    def column(self, name: str) -> Column:
        """The column called ``name`` (a ``KeyError`` if there is none)."""
        return self.by_name[name]

    @property
    def target_column(self) -> Column:
        """The declared label column."""
        return self.by_name[self.target.column]

    @property
    def table_name(self) -> str:
        """The SQL table holding this schema's rows."""
        return self.table or f"rows_{self.name}"

    @cached_property
    def numeric_features(self) -> tuple[str, ...]:
        """Numeric model inputs (columns and derived features), in declared order."""
        return tuple(
            f for f in self.features if f not in self.by_name or self.by_name[f].type.numeric
        )

    @cached_property
    def input_columns(self) -> tuple[Column, ...]:
        """The columns a model reads, directly or through derived features, in column order."""
        derived = {d.name: d for d in self.derived}
        wanted: set[str] = set()

        def visit(name: str) -> None:
            if name in derived:
                for used in derived[name].reads:
                    visit(used)
            else:
                wanted.add(name)

        for feature in self.features:
            visit(feature)
        return tuple(c for c in self.columns if c.name in wanted)

    @cached_property
    def category_features(self) -> tuple[Column, ...]:
        """Category columns the model sees one-hot encoded, in declared order."""
        return tuple(
            self.by_name[f]
            for f in self.features
            if f in self.by_name and self.by_name[f].type is ColumnType.CATEGORY
        )

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the raw feature matrix's columns: numeric first, then one-hot levels."""
        one_hot = [f"{c.name}_{level}" for c in self.category_features for level in c.levels]
        return (*self.numeric_features, *one_hot)

    @cached_property
    def header_map(self) -> dict[str, str]:
        """Every header accepted on import, mapped to the column's frame header."""
        accepted: dict[str, str] = {}
        for c in self.columns:
            for title in (c.header, c.name, *c.aliases):
                accepted[title] = c.header
        for title, name in self.mapping:
            accepted[title] = self.by_name[name].header
        return accepted

    def as_dict(self) -> dict[str, Any]:
        """The canonical JSON-ready form (what a model card embeds)."""
        data: dict[str, Any] = json.loads(self.document)
        return data

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical form: two schemas with the same digest read data alike."""
        return "sha256:" + hashlib.sha256(self.document.encode()).hexdigest()
