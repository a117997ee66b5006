"""The request and response schema of ``POST /v1/predict``, generated from the dataset schema.

Why: every record is checked (types, finite values, physical ranges, no extra or missing
fields) before it reaches the model, so bad input becomes a clear 4xx and never a 500. The
fields and ranges come from the served model's :class:`~edgeshield.usecase.DatasetSchema`
(:func:`request_schema`), so a guard serves a model of any declared data set and publishes
its fields in OpenAPI; AI4I 2020's are the defaults (:data:`SensorRecord`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

from edgeshield.errors import GuardError
from edgeshield.usecase import (
    Column,
    ColumnType,
    DatasetSchema,
    default_schema,
    is_default_schema,
)

__all__ = [
    "MAX_BATCH",
    "SENSOR_RANGES",
    "OutputTier",
    "PredictRequest",
    "PredictResponse",
    "Prediction",
    "RequestSchema",
    "SensorRecord",
    "records_frame",
    "records_from_frame",
    "request_schema",
]

MAX_BATCH: Final = 1024
"""Hard upper bound on records per request (the service's own limit may be lower)."""


class OutputTier(StrEnum):
    """How much of the model's output a client sees (output hardening, per client)."""

    FULL = "full"
    LABEL_ONLY = "label"
    TOP_K = "top-k"
    ROUNDED = "rounded"
    REVERSE_SIGMOID = "reverse-sigmoid"


def _field(column: Column) -> tuple[Any, Any]:
    """The pydantic type and field of one input column (the column's name is the JSON key)."""
    if column.type is ColumnType.CATEGORY:
        levels = StrEnum(f"{column.name}_levels", [(v, v) for v in column.levels])  # type: ignore[misc]
        return levels, Field(alias=column.name, description=column.description or column.name)
    unit = f" [{column.unit}]" if column.unit else ""
    low = "-inf" if column.minimum is None else f"{column.minimum:g}"
    high = "inf" if column.maximum is None else f"{column.maximum:g}"
    # strict: a number, never a string ("60") or a boolean (true); integers are accepted
    return float, Field(
        alias=column.name,
        ge=column.minimum,
        le=column.maximum,
        strict=True,
        allow_inf_nan=False,
        description=f"{column.name}{unit} in [{low}, {high}]",
    )


@dataclass(frozen=True, eq=False)
class RequestSchema:
    """What ``POST /v1/predict`` accepts for one dataset schema, and how records become rows.

    Build one with :func:`request_schema`. ``record_model`` validates one record (a JSON object
    keyed by the input columns' names), ``request_model`` a batch ``{"records": [...]}``.
    """

    dataset: DatasetSchema
    inputs: tuple[Column, ...]
    """The columns a client sends, in the dataset schema's order."""
    record_model: type[BaseModel]
    request_model: type[BaseModel]

    @property
    def numeric(self) -> tuple[Column, ...]:
        """Numeric input columns (what PRADA and the watermark's cells measure)."""
        return tuple(c for c in self.inputs if c.type is not ColumnType.CATEGORY)

    @property
    def categories(self) -> tuple[Column, ...]:
        """Category input columns (they key PRADA's groups and the watermark's cells)."""
        return tuple(c for c in self.inputs if c.type is ColumnType.CATEGORY)

    @property
    def ranges(self) -> dict[str, tuple[float | None, float | None]]:
        """Accepted range (inclusive; ``None`` = open) of each numeric input, by name."""
        return {c.name: (c.minimum, c.maximum) for c in self.numeric}

    def as_json(self, record: BaseModel) -> dict[str, Any]:
        """The record as its client sent it (column names as keys)."""
        return record.model_dump(mode="json", by_alias=True)

    def frame(self, records: Sequence[BaseModel]) -> pd.DataFrame:
        """Rows under the dataset schema's headers, ready for the classifier."""
        rows = [self.as_json(r) for r in records]
        return pd.DataFrame({c.header: [row[c.name] for row in rows] for c in self.inputs})

    def records(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """JSON-ready records from a frame under the schema's headers (what clients send)."""
        columns: dict[str, list[Any]] = {}
        for c in self.inputs:
            if c.type is ColumnType.CATEGORY:
                columns[c.name] = frame[c.header].astype(str).tolist()
            else:
                values: npt.NDArray[np.float64] = frame[c.header].to_numpy(np.float64)
                columns[c.name] = [float(v) for v in values]
        return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]

    def validate(self, rows: Sequence[Mapping[str, Any]]) -> list[BaseModel]:
        """Records validated from JSON-like rows (a pydantic ``ValidationError`` if one is bad)."""
        return [self.record_model.model_validate(r) for r in rows]


_BUILT: dict[str, RequestSchema] = {}


def _build(dataset: DatasetSchema) -> RequestSchema:
    inputs = dataset.input_columns
    if not inputs:
        raise GuardError(f"dataset schema {dataset.name!r} declares no model inputs to serve")
    fields = {f"c{i}": _field(c) for i, c in enumerate(inputs)}
    title = "SensorRecord" if is_default_schema(dataset) else "Record"
    record = create_model(  # type: ignore[call-overload]
        title,
        __config__=ConfigDict(extra="forbid", frozen=True, populate_by_name=False),
        __doc__=f"One record of dataset schema {dataset.name!r}: its model inputs.",
        **fields,
    )
    request = create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        __doc__="A batch of records to classify.",
        records=(Annotated[list[record], Field(min_length=1, max_length=MAX_BATCH)], ...),
    )
    return RequestSchema(dataset, inputs, record, request)


def request_schema(dataset: DatasetSchema | None = None) -> RequestSchema:
    """The request schema of a dataset schema (AI4I 2020 when ``None``); built once per schema.

    Raises
    ------
    GuardError
        The schema has no model inputs a client could send.
    """
    dataset = default_schema() if dataset is None else dataset
    built = _BUILT.get(dataset.digest)
    if built is None:
        built = _BUILT.setdefault(dataset.digest, _build(dataset))
    return built


_AI4I: Final = request_schema()

SensorRecord: Final[type[BaseModel]] = _AI4I.record_model
"""One AI4I 2020 sensor reading (product type and five sensors, in physical units)."""

PredictRequest: Final[type[BaseModel]] = _AI4I.request_model
"""A batch of AI4I 2020 sensor records."""

SENSOR_RANGES: Final[dict[str, tuple[float, float]]] = {
    name: (float(low), float(high))
    for name, (low, high) in _AI4I.ranges.items()
    if low is not None and high is not None
}
"""Physically plausible range of each AI4I sensor field (inclusive); outside it a request is 422."""


class Prediction(BaseModel):
    """The answer for one record; what is filled in depends on the client's output tier."""

    label: int = Field(description="1 = the schema's positive class (failure), 0 = the other")
    probabilities: list[float] | None = Field(
        default=None,
        description="[P(negative), P(positive)] (tiers full, rounded, reverse-sigmoid)",
    )
    confidence: float | None = Field(
        default=None, description="probability of the returned label (tier top-k)"
    )


class PredictResponse(BaseModel):
    """The answers for a batch, in request order."""

    model_id: str
    tier: OutputTier
    predictions: list[Prediction]


def records_frame(records: Sequence[BaseModel]) -> pd.DataFrame:
    """Frame in the UCI column layout (type and sensors) for AI4I 2020 records."""
    return _AI4I.frame(records)


def records_from_frame(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready AI4I 2020 records from a frame in UCI layout (what clients send)."""
    return _AI4I.records(frame)
