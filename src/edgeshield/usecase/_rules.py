"""The deterministic failure rules of AI4I 2020 (Matzka, AI4I 2020), checked on the real file.

Heat dissipation, power and overstrain failures are pure functions of the sensor values; the
real file's HDF, PWF and OSF labels follow these rules exactly on every row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "HDF_MAX_SPEED_RPM",
    "HDF_MAX_TEMPERATURE_DIFFERENCE_K",
    "OSF_LIMITS_MIN_NM",
    "PWF_MAX_POWER_W",
    "PWF_MIN_POWER_W",
    "heat_dissipation_failure",
    "mechanical_power_w",
    "overstrain_failure",
    "power_failure",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

HDF_MAX_TEMPERATURE_DIFFERENCE_K = 8.6
HDF_MAX_SPEED_RPM = 1380.0
PWF_MIN_POWER_W = 3500.0
PWF_MAX_POWER_W = 9000.0
OSF_LIMITS_MIN_NM: dict[str, float] = {"L": 11_000.0, "M": 12_000.0, "H": 13_000.0}
"""Overstrain limit (tool wear x torque) per product type."""


def mechanical_power_w(torque_nm: FloatArray, speed_rpm: FloatArray) -> FloatArray:
    """Mechanical power in watts: torque times angular speed."""
    return np.asarray(torque_nm * speed_rpm * (2.0 * np.pi / 60.0), dtype=np.float64)


def heat_dissipation_failure(
    air_k: FloatArray, process_k: FloatArray, speed_rpm: FloatArray
) -> BoolArray:
    """HDF: process minus air temperature below 8.6 K and speed below 1380 rpm.

    The difference is taken in plain floating point, as the original generator did: rounding
    it first would flip labels of rows such as 310.1 K - 301.5 K on the real file.
    """
    difference = process_k - air_k
    return np.asarray(
        (difference < HDF_MAX_TEMPERATURE_DIFFERENCE_K) & (speed_rpm < HDF_MAX_SPEED_RPM)
    )


def power_failure(torque_nm: FloatArray, speed_rpm: FloatArray) -> BoolArray:
    """PWF: mechanical power below 3500 W or above 9000 W."""
    power = mechanical_power_w(torque_nm, speed_rpm)
    return np.asarray((power < PWF_MIN_POWER_W) | (power > PWF_MAX_POWER_W))


def overstrain_failure(
    wear_min: FloatArray, torque_nm: FloatArray, product_type: npt.NDArray[np.str_]
) -> BoolArray:
    """OSF: tool wear times torque above 11,000 / 12,000 / 13,000 min.Nm for L / M / H."""
    limits = np.select(
        [product_type == t for t in OSF_LIMITS_MIN_NM],
        list(OSF_LIMITS_MIN_NM.values()),
        default=np.nan,
    )
    return np.asarray(wear_min * torque_nm > limits)
