"""Column names of the UCI AI4I 2020 predictive-maintenance data set, and the model features."""

from __future__ import annotations

from typing import Final

UDI: Final = "UDI"
PRODUCT_ID: Final = "Product ID"
TYPE: Final = "Type"
AIR_TEMPERATURE: Final = "Air temperature [K]"
PROCESS_TEMPERATURE: Final = "Process temperature [K]"
ROTATIONAL_SPEED: Final = "Rotational speed [rpm]"
TORQUE: Final = "Torque [Nm]"
TOOL_WEAR: Final = "Tool wear [min]"
MACHINE_FAILURE: Final = "Machine failure"

FAILURE_MODES: Final[tuple[str, ...]] = ("TWF", "HDF", "PWF", "OSF", "RNF")
"""Tool wear, heat dissipation, power, overstrain and random failure, in the UCI order."""

SENSOR_COLUMNS: Final[tuple[str, ...]] = (
    AIR_TEMPERATURE,
    PROCESS_TEMPERATURE,
    ROTATIONAL_SPEED,
    TORQUE,
    TOOL_WEAR,
)

UCI_COLUMNS: Final[tuple[str, ...]] = (
    UDI,
    PRODUCT_ID,
    TYPE,
    *SENSOR_COLUMNS,
    MACHINE_FAILURE,
    *FAILURE_MODES,
)
"""The 14 columns of the published CSV, in order."""

PRODUCT_TYPES: Final[tuple[str, ...]] = ("L", "M", "H")
"""Low, medium and high product quality variants."""
