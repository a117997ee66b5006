"""A generator faithful to the AI4I 2020 predictive-maintenance data set as the file really is.

The UCI data set (Matzka, "Explainable Artificial Intelligence for Predictive Maintenance
Applications", AI4I 2020) is itself synthetic; this module reproduces the process measured on
the published file rather than the paper's prose (product mix 60/30/10, rotational speed
falling with torque instead of a constant-power rule, tool replacement at about 216 min).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

import edgeshield.usecase._columns as col
from edgeshield.errors import ConfigError
from edgeshield.usecase._rules import (
    heat_dissipation_failure,
    overstrain_failure,
    power_failure,
)

__all__ = ["GeneratorConfig", "dashboard_polls", "generate", "steady_trace"]

# Rotational speed against torque, read off the real file: geometric-mean speed of each 5 Nm
# torque band at the band's mean torque (the residual log-speed sd around it is 0.033).
_SPEED_CURVE_TORQUE_NM = np.array(
    [8.3, 13.3, 17.9, 22.8, 27.8, 32.5, 37.5, 42.4, 47.3, 52.2, 57.1, 61.8, 67.2, 71.7]
)
_SPEED_CURVE_RPM = np.array(
    [2750, 2502, 2117, 1879, 1720, 1618, 1533, 1470, 1423, 1382, 1351, 1318, 1290, 1283.0]
)
_WEAR_STEP_MIN = {"L": 2, "M": 3, "H": 5}
_PRODUCT_ID_BASE = {"L": 47_180, "M": 14_859, "H": 29_999}


@dataclass(frozen=True, kw_only=True)
class GeneratorConfig:
    """Physical parameters of one production line; defaults reproduce the UCI file.

    Parameters
    ----------
    rows
        Number of rows (one per produced part).
    type_mix
        Probabilities of product types L, M, H.
    ambient_offset_k
        Shift of the air temperature around 300 K (a hotter plant cools worse).
    air_temperature_sd_k, temperature_difference_sd_k
        Scale of the air-temperature walk and of the process-minus-air difference.
    temperature_difference_air_correlation
        Correlation of (process - air) with air temperature; the real file has about -0.70.
    torque_mean_nm, torque_sd_nm
        Torque distribution.
    speed_log_noise_sd
        Log-normal noise of rotational speed around the torque curve.
    tool_replacement_mean_min, tool_replacement_sd_min
        Maintenance policy: tool wear at which the tool is replaced.
    tool_failure_probability
        Probability that the tool fails (TWF) at a replacement.
    random_failure_rate
        Probability of a random failure (RNF) per row.
    first_udi
        UDI of the first row.
    """

    rows: int = 10_000
    type_mix: tuple[float, float, float] = (0.6, 0.3, 0.1)
    ambient_offset_k: float = 0.0
    air_temperature_sd_k: float = 2.0
    temperature_difference_sd_k: float = 1.0
    temperature_difference_air_correlation: float = -0.70
    torque_mean_nm: float = 40.0
    torque_sd_nm: float = 10.0
    speed_log_noise_sd: float = 0.034
    tool_replacement_mean_min: float = 216.0
    tool_replacement_sd_min: float = 11.0
    tool_failure_probability: float = 0.39
    random_failure_rate: float = 0.001
    first_udi: int = 1

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise ConfigError(f"rows must be at least 1, got {self.rows}")
        if len(self.type_mix) != 3 or min(self.type_mix) < 0 or sum(self.type_mix) <= 0:
            raise ConfigError(f"type_mix must be three non-negative weights, got {self.type_mix}")
        if not -1.0 <= self.temperature_difference_air_correlation <= 1.0:
            raise ConfigError("temperature_difference_air_correlation must lie in [-1, 1]")
        for name in ("tool_failure_probability", "random_failure_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must lie in [0, 1], got {value}")
        if self.tool_replacement_mean_min <= 0 or self.tool_replacement_sd_min < 0:
            raise ConfigError("tool replacement mean must be positive and sd non-negative")


def _standard_walk(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
    """A Gaussian random walk standardized to mean 0 and sd 1 over its n steps."""
    walk = np.cumsum(rng.standard_normal(n))
    sd = walk.std()
    return (walk - walk.mean()) / sd if sd > 0 else np.zeros(n)


def _orthogonal_to(
    walk: npt.NDArray[np.float64], reference: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Remove from a standardized walk its component along ``reference``, re-standardized.

    Two independent random walks are strongly correlated by chance; this makes the
    correlation of the temperature difference with air temperature the configured one.
    """
    if walk.size < 3 or not reference.any():
        return walk
    residual = walk - (walk @ reference / (reference @ reference)) * reference
    sd = residual.std()
    return (residual - residual.mean()) / sd if sd > 0 else residual


def _tool_wear(
    rng: np.random.Generator, types: npt.NDArray[np.str_], config: GeneratorConfig
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Tool wear per row and tool-wear failures at replacements (a sequential process)."""
    n = types.size
    steps = np.vectorize(_WEAR_STEP_MIN.__getitem__, otypes=[np.int64])(types)
    limits = rng.normal(config.tool_replacement_mean_min, config.tool_replacement_sd_min, n)
    fails = rng.random(n) < config.tool_failure_probability
    wear = np.zeros(n, dtype=np.int64)
    twf = np.zeros(n, dtype=np.bool_)
    current, limit_index = 0, 0
    for i in range(n):
        wear[i] = current
        if current >= limits[limit_index]:
            twf[i] = fails[limit_index]
            limit_index += 1
            current = 0
        else:
            current += steps[i]
    return wear, twf


def generate(config: GeneratorConfig | None = None, *, seed: int = 0) -> pd.DataFrame:
    """Generate one production line's rows with the 14 UCI columns.

    Parameters
    ----------
    config
        Physical parameters; ``None`` uses the defaults of the UCI file.
    seed
        Seed of the random generator: the same seed and config give the same rows.

    Returns
    -------
    pandas.DataFrame
        Rows in the UCI CSV layout, one per produced part.
    """
    config = config or GeneratorConfig()
    rng = np.random.default_rng(seed)
    n = config.rows
    mix = np.asarray(config.type_mix, dtype=np.float64)
    types = rng.choice(np.array(col.PRODUCT_TYPES), size=n, p=mix / mix.sum())

    air = 300.0 + config.ambient_offset_k + config.air_temperature_sd_k * _standard_walk(rng, n)
    rho = config.temperature_difference_air_correlation
    air_z = (air - 300.0 - config.ambient_offset_k) / config.air_temperature_sd_k
    own = _orthogonal_to(_standard_walk(rng, n), air_z)
    # A hotter ambient cools worse: the offset lowers the temperature difference too.
    heat_z = air_z + config.ambient_offset_k / config.air_temperature_sd_k
    difference = 10.0 + config.temperature_difference_sd_k * (
        rho * heat_z + np.sqrt(1.0 - rho**2) * own
    )
    air = np.round(air, 1)
    process = np.round(air + difference, 1)

    raw_torque = np.abs(rng.normal(config.torque_mean_nm, config.torque_sd_nm, n))
    torque: npt.NDArray[np.float64] = np.maximum(np.round(raw_torque, 1), 0.1).astype(np.float64)
    log_speed = np.interp(torque, _SPEED_CURVE_TORQUE_NM, np.log(_SPEED_CURVE_RPM))
    speed = np.round(np.exp(log_speed + rng.normal(0.0, config.speed_log_noise_sd, n)))

    wear, twf = _tool_wear(rng, types, config)
    hdf = heat_dissipation_failure(air, process, speed)
    pwf = power_failure(torque, speed)
    osf = overstrain_failure(wear.astype(np.float64), torque, types)
    rnf = rng.random(n) < config.random_failure_rate
    failure = twf | hdf | pwf | osf | rnf

    udi = np.arange(config.first_udi, config.first_udi + n, dtype=np.int64)
    serial = udi + np.vectorize(_PRODUCT_ID_BASE.__getitem__, otypes=[np.int64])(types)
    product_id = np.char.add(types.astype(str), serial.astype(str))
    frame = pd.DataFrame(
        {
            col.UDI: udi,
            col.PRODUCT_ID: product_id,
            col.TYPE: types,
            col.AIR_TEMPERATURE: air,
            col.PROCESS_TEMPERATURE: process,
            col.ROTATIONAL_SPEED: speed.astype(np.int64),
            col.TORQUE: torque,
            col.TOOL_WEAR: wear,
            col.MACHINE_FAILURE: failure.astype(np.int64),
            "TWF": twf.astype(np.int64),
            "HDF": hdf.astype(np.int64),
            "PWF": pwf.astype(np.int64),
            "OSF": osf.astype(np.int64),
            "RNF": rnf.astype(np.int64),
        }
    )
    return frame


def steady_trace(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """One machine polled ``rows`` times at a steady operating point, read at sensor resolution.

    Why: honest traffic that looks nothing like a replayed data set (the extraction detector's
    hardest benign case): readings jitter by the sensors' noise and rounding (0.1 K, 1 rpm,
    0.1 Nm) around one point, and tool wear rises a minute every 60 polls.
    """
    rng = np.random.default_rng(seed)
    base = generate(GeneratorConfig(rows=1), seed=seed)
    frame = pd.concat([base] * rows, ignore_index=True)
    noise = {
        col.AIR_TEMPERATURE: (0.05, 1),
        col.PROCESS_TEMPERATURE: (0.05, 1),
        col.ROTATIONAL_SPEED: (2.0, 0),
        col.TORQUE: (0.1, 1),
    }
    for column, (scale, decimals) in noise.items():
        frame[column] = np.round(frame[column] + rng.normal(0, scale, rows), decimals)
    frame[col.TOOL_WEAR] = base[col.TOOL_WEAR].iloc[0] + np.arange(rows) // 60
    return frame


def dashboard_polls(polls: int, machines: int, *, seed: int = 0) -> pd.DataFrame:
    """A dashboard re-polling the same ``machines`` steady machines ``polls`` times, in order.

    Each poll is ``machines`` consecutive rows (one request), each machine a :func:`steady_trace`.
    """
    traces = [steady_trace(polls, seed=seed * 1000 + m) for m in range(machines)]
    order = [trace.iloc[[p]] for p in range(polls) for trace in traces]
    return pd.concat(order, ignore_index=True)
