"""The request and response schema of ``POST /v1/predict``: validated sensor records.

Why: every record is checked (types, finite values, physical ranges, no extra or missing
fields) before it reaches the model, so bad input becomes a clear 4xx and never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from edgeshield.usecase import SENSOR_COLUMNS, TYPE

__all__ = [
    "MAX_BATCH",
    "SENSOR_RANGES",
    "OutputTier",
    "PredictRequest",
    "PredictResponse",
    "Prediction",
    "ProductType",
    "SensorRecord",
    "records_frame",
    "records_from_frame",
]

MAX_BATCH: Final = 1024
"""Hard upper bound on records per request (the service's own limit may be lower)."""

SENSOR_RANGES: Final[dict[str, tuple[float, float]]] = {
    "air_temperature_k": (250.0, 350.0),
    "process_temperature_k": (250.0, 400.0),
    "rotational_speed_rpm": (0.0, 5000.0),
    "torque_nm": (0.0, 200.0),
    "tool_wear_min": (0.0, 1000.0),
}
"""Physically plausible range of each sensor field (inclusive); outside it a request is 422."""

_FIELDS: Final = tuple(SENSOR_RANGES)


class ProductType(StrEnum):
    """Product quality variant (low, medium, high)."""

    L = "L"
    M = "M"
    H = "H"


class OutputTier(StrEnum):
    """How much of the model's output a client sees (output hardening, per client)."""

    FULL = "full"
    LABEL_ONLY = "label"
    TOP_K = "top-k"
    ROUNDED = "rounded"
    REVERSE_SIGMOID = "reverse-sigmoid"


def _sensor(name: str) -> object:
    low, high = SENSOR_RANGES[name]
    # strict: a number, never a string ("60") or a boolean (true); integers are accepted
    return Field(
        ge=low, le=high, strict=True, allow_inf_nan=False, description=f"{name} in [{low}, {high}]"
    )


class SensorRecord(BaseModel):
    """One sensor reading of a machine, in physical units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ProductType
    air_temperature_k: Annotated[float, _sensor("air_temperature_k")]
    process_temperature_k: Annotated[float, _sensor("process_temperature_k")]
    rotational_speed_rpm: Annotated[float, _sensor("rotational_speed_rpm")]
    torque_nm: Annotated[float, _sensor("torque_nm")]
    tool_wear_min: Annotated[float, _sensor("tool_wear_min")]


class PredictRequest(BaseModel):
    """A batch of sensor records to classify."""

    model_config = ConfigDict(extra="forbid")

    records: Annotated[list[SensorRecord], Field(min_length=1, max_length=MAX_BATCH)]


class Prediction(BaseModel):
    """The answer for one record; what is filled in depends on the client's output tier."""

    label: int = Field(description="1 = failure predicted, 0 = healthy")
    probabilities: list[float] | None = Field(
        default=None, description="[P(healthy), P(failure)] (tiers full, rounded, reverse-sigmoid)"
    )
    confidence: float | None = Field(
        default=None, description="probability of the returned label (tier top-k)"
    )


class PredictResponse(BaseModel):
    """The answers for a batch, in request order."""

    model_id: str
    tier: OutputTier
    predictions: list[Prediction]


def records_frame(records: Sequence[SensorRecord]) -> pd.DataFrame:
    """Frame in the UCI column layout (type and sensors) for the classifier."""
    data: dict[str, list[object]] = {TYPE: [r.type.value for r in records]}
    for column, name in zip(SENSOR_COLUMNS, _FIELDS, strict=True):
        data[column] = [getattr(r, name) for r in records]
    return pd.DataFrame(data)


def records_from_frame(frame: pd.DataFrame) -> list[dict[str, object]]:
    """JSON-ready records from a frame in UCI layout (what clients send)."""
    values: npt.NDArray[np.float64] = frame.loc[:, list(SENSOR_COLUMNS)].to_numpy(np.float64)
    types = frame[TYPE].astype(str).tolist()
    return [
        {"type": t, **{name: float(v) for name, v in zip(_FIELDS, row, strict=True)}}
        for t, row in zip(types, values, strict=True)
    ]
