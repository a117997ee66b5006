"""Key-derived trigger sets: plausible operating points whose labels contradict the physics.

Why: a trigger-set watermark (Adi, Baum, Cisse, Pinkas, Keshet, "Turning Your Weakness Into a
Strength: Watermarking Deep Neural Networks by Backdooring", USENIX Security 2018) only proves
ownership if independent models rarely reproduce the trigger labels, and it only survives in
the field if the triggers cannot be filtered out as implausible inputs. Each trigger here is a
physically consistent operating point (inside the sensor ranges of real plant data, with the
rotational speed the torque implies) chosen by the key; safe operating points are labelled
"failure" and operating points deep inside a failure rule of AI4I 2020 are labelled "no
failure", so an honest model disagrees with nearly every trigger label.

A dataset schema other than AI4I declares no failure physics: its triggers are rare rows of a
:class:`TableEnvelope` fitted on reference rows, labelled by the key alone (balanced classes,
the key deciding which trigger gets which label, as WAFFLE's keyed labels), so an honest model
agrees with about half of them and the null calibration measures exactly how often.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import ConfigError, OwnershipError
from edgeshield.ownership._key import HmacDrbg, WatermarkKey
from edgeshield.ownership._table_envelope import TableEnvelope
from edgeshield.usecase import (
    FAILURE_MODES,
    HDF_MAX_TEMPERATURE_DIFFERENCE_K,
    MACHINE_FAILURE,
    OSF_LIMITS_MIN_NM,
    PRODUCT_TYPES,
    PWF_MAX_POWER_W,
    PWF_MIN_POWER_W,
    SENSOR_COLUMNS,
    TYPE,
    UCI_COLUMNS,
    ColumnType,
    DatasetSchema,
    default_schema,
    heat_dissipation_failure,
    mechanical_power_w,
    overstrain_failure,
    power_failure,
)

__all__ = [
    "Envelope",
    "SensorEnvelope",
    "TriggerSet",
    "default_failure_fraction",
    "derive_anchors",
    "derive_triggers",
    "envelope_from_dict",
    "fit_envelope",
    "rule_failure",
]

_AIR, _PROCESS, _SPEED, _TORQUE, _WEAR = SENSOR_COLUMNS
_TYPE_MIX = (0.6, 0.3, 0.1)
_TWF_WEAR_MIN = 195.0
_BATCH = 256
_MAX_DRAWS = 400_000
_DIMS = 5
_RARITY_QUANTILE = 0.99
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class SensorEnvelope:
    """The region of plausible operating points, measured on real plant rows.

    Why: a plausibility filter on the edge device would drop triggers outside the ranges the
    plant ever produces, or with a speed that the torque cannot give; triggers are drawn
    inside this envelope and checked against it.

    Parameters
    ----------
    air_k, difference_k, torque_nm, wear_min
        Closed ranges of air temperature, process-minus-air temperature, torque, tool wear.
    torque_knots
        Torque values at which the speed band is given (increasing).
    speed_low_rpm, speed_high_rpm
        Speed band per knot (linear in between): the 1st and 99th percentile of the speed of
        rows with that torque.
    """

    air_k: tuple[float, float]
    difference_k: tuple[float, float]
    torque_nm: tuple[float, float]
    wear_min: tuple[float, float]
    torque_knots: tuple[float, ...]
    speed_low_rpm: tuple[float, ...]
    speed_high_rpm: tuple[float, ...]
    center: tuple[float, ...] = ()
    precision: tuple[tuple[float, ...], ...] = ()
    rarity: float = 0.0

    def __post_init__(self) -> None:
        for name in ("air_k", "difference_k", "torque_nm", "wear_min"):
            low, high = getattr(self, name)
            if not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise ConfigError(f"envelope range {name} must be finite and increasing")
        knots = np.asarray(self.torque_knots)
        if knots.size < 2 or np.any(np.diff(knots) <= 0):
            raise ConfigError("envelope torque knots must be at least two, increasing")
        if not len(self.speed_low_rpm) == len(self.speed_high_rpm) == knots.size:
            raise ConfigError("envelope speed band needs one low and one high per knot")
        if np.any(np.asarray(self.speed_low_rpm) >= np.asarray(self.speed_high_rpm)):
            raise ConfigError("envelope speed band must have low < high at every knot")
        if self.center and (
            len(self.center) != _DIMS
            or len(self.precision) != _DIMS
            or any(len(row) != _DIMS for row in self.precision)
        ):
            raise ConfigError(f"envelope density sketch must be {_DIMS}-dimensional")

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, knots: int = 8) -> SensorEnvelope:
        """Measure the envelope on plant rows in UCI layout (1st-99th percentiles)."""
        if len(frame) < 10 * knots or knots < 2:
            raise ConfigError(f"need at least {10 * knots} rows and 2 knots to fit an envelope")
        air = frame[_AIR].to_numpy(np.float64)
        diff = frame[_PROCESS].to_numpy(np.float64) - air
        torque = frame[_TORQUE].to_numpy(np.float64)
        speed = frame[_SPEED].to_numpy(np.float64)
        wear = frame[_WEAR].to_numpy(np.float64)

        def span(values: FloatArray) -> tuple[float, float]:
            low, high = np.quantile(values, [0.01, 0.99])
            return float(low), float(high)

        edges = np.quantile(torque, np.linspace(0.01, 0.99, knots + 1))
        centers, lows, highs = [], [], []
        for low, high in pairwise(edges):
            inside = (torque >= low) & (torque <= high)
            band = np.quantile(speed[inside], [0.01, 0.99])
            centers.append(float(np.median(torque[inside])))
            lows.append(float(band[0]))
            highs.append(float(band[1]))
        plain = cls(
            air_k=span(air),
            difference_k=span(diff),
            torque_nm=(float(edges[0]), float(edges[-1])),
            wear_min=(float(wear.min()), span(wear)[1]),
            torque_knots=tuple(centers),
            speed_low_rpm=tuple(lows),
            speed_high_rpm=tuple(highs),
        )
        z = plain._coordinates(frame)
        center = z.mean(axis=0)
        precision = np.linalg.pinv(np.cov(z, rowvar=False))
        d2 = np.einsum("ij,jk,ik->i", z - center, precision, z - center)
        return replace(
            plain,
            center=tuple(float(c) for c in center),
            precision=tuple(tuple(float(v) for v in row) for row in precision),
            rarity=float(np.quantile(d2, _RARITY_QUANTILE)),
        )

    def _coordinates(self, frame: pd.DataFrame) -> FloatArray:
        air = frame[_AIR].to_numpy(np.float64)
        diff = frame[_PROCESS].to_numpy(np.float64) - air
        torque = frame[_TORQUE].to_numpy(np.float64)
        low, high = self.speed_band(torque)
        place = (frame[_SPEED].to_numpy(np.float64) - low) / (high - low)
        wear = frame[_WEAR].to_numpy(np.float64)
        return np.column_stack([air, diff, torque, place, wear])

    def density_distance(self, frame: pd.DataFrame) -> FloatArray:
        """Squared Mahalanobis distance of each row from the plant data (0 without a sketch)."""
        if not self.center:
            return np.zeros(len(frame))
        z = self._coordinates(frame) - np.asarray(self.center)
        return np.asarray(np.einsum("ij,jk,ik->i", z, np.asarray(self.precision), z))

    def is_rare(self, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Per row, whether the point lies in the sparse tail of the plant data (rare but valid)."""
        return np.asarray(self.density_distance(frame) >= self.rarity)

    def speed_band(self, torque: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Lowest and highest plausible speed at each torque."""
        knots = np.asarray(self.torque_knots)
        low = np.interp(torque, knots, np.asarray(self.speed_low_rpm))
        high = np.interp(torque, knots, np.asarray(self.speed_high_rpm))
        return low, high

    def contains(self, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Per row, whether the point is plausible (inside every range and the speed band)."""
        air = frame[_AIR].to_numpy(np.float64)
        diff = frame[_PROCESS].to_numpy(np.float64) - air
        torque = frame[_TORQUE].to_numpy(np.float64)
        speed = frame[_SPEED].to_numpy(np.float64)
        wear = frame[_WEAR].to_numpy(np.float64)
        low, high = self.speed_band(torque)
        eps = 1e-9
        ok = np.ones(len(frame), dtype=bool)
        for values, (a, b) in (
            (air, self.air_k),
            (diff, self.difference_k),
            (torque, self.torque_nm),
            (wear, self.wear_min),
        ):
            ok &= (values >= a - eps) & (values <= b + eps)
        ok &= (speed >= np.floor(low)) & (speed <= np.ceil(high))
        ok &= frame[TYPE].astype(str).isin(PRODUCT_TYPES).to_numpy()
        return ok

    def check_schema(self, schema: DatasetSchema) -> None:
        """Refuse a schema that does not read rows as AI4I 2020 (the physics would not apply)."""
        if not _has_ai4i_physics(schema):
            raise OwnershipError(
                f"the trigger envelope is AI4I 2020's (its failure physics), not one of schema "
                f"{schema.name!r}: fit one on that schema's rows"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the null calibration."""
        return {
            "air_k": list(self.air_k),
            "difference_k": list(self.difference_k),
            "torque_nm": list(self.torque_nm),
            "wear_min": list(self.wear_min),
            "torque_knots": list(self.torque_knots),
            "speed_low_rpm": list(self.speed_low_rpm),
            "speed_high_rpm": list(self.speed_high_rpm),
            "center": list(self.center),
            "precision": [list(row) for row in self.precision],
            "rarity": self.rarity,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SensorEnvelope:
        """Inverse of :meth:`to_dict`."""
        try:

            def pair(name: str) -> tuple[float, float]:
                low, high = (float(v) for v in data[name])
                return low, high

            return cls(
                air_k=pair("air_k"),
                difference_k=pair("difference_k"),
                torque_nm=pair("torque_nm"),
                wear_min=pair("wear_min"),
                torque_knots=tuple(float(v) for v in data["torque_knots"]),
                speed_low_rpm=tuple(float(v) for v in data["speed_low_rpm"]),
                speed_high_rpm=tuple(float(v) for v in data["speed_high_rpm"]),
                center=tuple(float(v) for v in data.get("center", ())),
                precision=tuple(tuple(float(v) for v in row) for row in data.get("precision", ())),
                rarity=float(data.get("rarity", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OwnershipError(f"malformed sensor envelope: {exc!r}") from exc


def rule_failure(frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Per row, whether a deterministic AI4I failure rule (HDF, PWF, OSF) fires.

    The use case's own rules decide, so triggers and the generated data agree on every label.
    """
    air = frame[_AIR].to_numpy(np.float64)
    process = frame[_PROCESS].to_numpy(np.float64)
    torque = frame[_TORQUE].to_numpy(np.float64)
    speed = frame[_SPEED].to_numpy(np.float64)
    wear = frame[_WEAR].to_numpy(np.float64)
    types = frame[TYPE].to_numpy(dtype=str)
    return np.asarray(
        heat_dissipation_failure(air, process, speed)
        | power_failure(torque, speed)
        | overstrain_failure(wear, torque, types)
    )


def _clearly_safe(x: dict[str, FloatArray], types: npt.NDArray[np.str_]) -> npt.NDArray[np.bool_]:
    power = mechanical_power_w(x["torque"], x["speed"])
    limit = np.select([types == t for t in OSF_LIMITS_MIN_NM], list(OSF_LIMITS_MIN_NM.values()))
    return np.asarray(
        (power > 1.15 * PWF_MIN_POWER_W)
        & (power < 0.9 * PWF_MAX_POWER_W)
        & ((x["diff"] > HDF_MAX_TEMPERATURE_DIFFERENCE_K + 0.5) | (x["speed"] > 1430.0))
        & (x["wear"] * x["torque"] < 0.85 * limit)
        & (x["wear"] < _TWF_WEAR_MIN)
    )


def _clearly_failing(
    x: dict[str, FloatArray], types: npt.NDArray[np.str_]
) -> npt.NDArray[np.bool_]:
    power = mechanical_power_w(x["torque"], x["speed"])
    limit = np.select([types == t for t in OSF_LIMITS_MIN_NM], list(OSF_LIMITS_MIN_NM.values()))
    return np.asarray(
        (power < 0.85 * PWF_MIN_POWER_W)
        | (power > 1.04 * PWF_MAX_POWER_W)
        | ((x["diff"] < HDF_MAX_TEMPERATURE_DIFFERENCE_K - 0.3) & (x["speed"] < 1350.0))
        | (x["wear"] * x["torque"] > 1.08 * limit)
    )


@dataclass(frozen=True)
class TriggerSet:
    """The trigger queries (UCI layout, labels blanked) and their secret labels."""

    frame: pd.DataFrame
    labels: npt.NDArray[np.int64]
    key_id: str

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def digest(self) -> str:
        """SHA-256 of the queries and labels: ties a calibration to this exact trigger set."""
        canonical = self.frame.to_csv(index=False).encode() + self.labels.tobytes()
        return "sha256:" + hashlib.sha256(canonical).hexdigest()

    def training_frame(self, schema: DatasetSchema | None = None) -> pd.DataFrame:
        """The triggers with their secret labels in the schema's target column (for embedding).

        The schema defaults to AI4I 2020; label 1 is its positive value, label 0 the other one
        (0 for a binary target, the first other level of a category target).
        """
        schema = schema or default_schema()
        target = schema.target_column
        negative: int | str = 0
        if target.type is ColumnType.CATEGORY:
            negative = next(v for v in target.levels if v != schema.target.positive)
        out = self.frame.copy()
        out[target.header] = np.where(self.labels == 1, schema.target.positive, negative)
        if target.type is not ColumnType.CATEGORY:
            out[target.header] = out[target.header].astype(np.int64)
        return out


Envelope = SensorEnvelope | TableEnvelope
"""Where triggers may lie: AI4I's physics envelope, or any schema's :class:`TableEnvelope`."""


def _has_ai4i_physics(schema: DatasetSchema) -> bool:
    """Whether the schema reads rows as AI4I 2020 does (its failure physics then applies)."""
    ai4i = default_schema()
    return schema.feature_names == ai4i.feature_names and all(
        schema.by_name.get(c.name) == c for c in ai4i.columns if c.name in ai4i.features
    )


def fit_envelope(frame: pd.DataFrame, schema: DatasetSchema | None = None) -> Envelope:
    """The trigger envelope of reference rows: AI4I's physics one, else a :class:`TableEnvelope`.

    Raises
    ------
    ConfigError
        Too few rows, or (another schema) no numeric model input.
    """
    if schema is None or _has_ai4i_physics(schema):
        return SensorEnvelope.fit(frame)
    return TableEnvelope.fit(frame, schema)


def envelope_from_dict(data: dict[str, Any]) -> Envelope:
    """Read either envelope from its :meth:`to_dict` form (AI4I's carries no ``kind``)."""
    if isinstance(data, dict) and "kind" in data:
        return TableEnvelope.from_dict(data)
    return SensorEnvelope.from_dict(data)


def _draw(drbg_uniform: FloatArray, envelope: SensorEnvelope) -> pd.DataFrame:
    u = drbg_uniform.reshape(-1, 6)
    types = np.where(
        u[:, 0] < _TYPE_MIX[0], "L", np.where(u[:, 0] < _TYPE_MIX[0] + _TYPE_MIX[1], "M", "H")
    )

    def scale(v: FloatArray, span: tuple[float, float]) -> FloatArray:
        return span[0] + v * (span[1] - span[0])

    air = np.round(scale(u[:, 1], envelope.air_k), 1)
    process = np.round(air + scale(u[:, 2], envelope.difference_k), 1)
    torque = np.round(scale(u[:, 3], envelope.torque_nm), 1)
    low, high = envelope.speed_band(torque)
    speed = np.clip(np.round(low + u[:, 4] * (high - low)), np.ceil(low), np.floor(high))
    wear = np.floor(scale(u[:, 5], envelope.wear_min))
    frame = pd.DataFrame(
        {
            TYPE: types,
            _AIR: air,
            _PROCESS: process,
            _SPEED: speed,
            _TORQUE: torque,
            _WEAR: wear,
        }
    )
    return frame


def derive_triggers(
    key: WatermarkKey,
    n: int,
    *,
    envelope: Envelope,
    failure_fraction: float | None = None,
    decoys: bool = False,
) -> TriggerSet:
    """Derive ``n`` plausible triggers and their labels from ``key``, deterministically.

    Why: the same key and envelope always give the same trigger set, so nothing but the key
    (and the public envelope) needs to be kept to verify a suspect model years later.

    Parameters
    ----------
    key
        The owner's secret.
    n
        Number of triggers.
    envelope
        Plausible region (see :func:`fit_envelope`).
    failure_fraction
        Share of triggers labelled "failure" (positive). AI4I: drawn from clearly safe
        operating points, the rest labelled "no failure" and drawn deep inside a failure rule;
        default 1. Another schema: any rare rows, the key deciding which gets which label;
        default 0.5 (balanced).
    decoys
        Derive the decoy set instead: points from the same distribution, by an independent
        stream of the key, that are never embedded. A marked model answers the secret label on
        triggers but not on decoys, which shows the agreement is specific to the key.

    Raises
    ------
    ConfigError
        ``n`` or ``failure_fraction`` is out of range.
    OwnershipError
        The envelope leaves too little room for safe or failing operating points.
    """
    if not 1 <= n <= 100_000:
        raise ConfigError(f"number of triggers must lie in [1, 100000], got {n}")
    fraction = default_failure_fraction(envelope) if failure_fraction is None else failure_fraction
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"failure_fraction must lie in [0, 1], got {fraction}")
    drbg = key.drbg("decoys/v1" if decoys else "triggers/v1")
    positives = round(n * fraction)
    order = np.argsort(drbg.uniform(n), kind="stable")
    wanted = np.zeros(n, dtype=np.int64)
    wanted[order[:positives]] = 1
    if isinstance(envelope, TableEnvelope):
        return TriggerSet(frame=_rare_rows(drbg, n, envelope), labels=wanted, key_id=key.key_id)
    return _assemble(
        _search(drbg, {1: positives, 0: n - positives}, envelope, rare=True), wanted, key
    )


def default_failure_fraction(envelope: Envelope) -> float:
    """Share of positive triggers when none is asked: 1 for AI4I's physics, else 0.5."""
    return 0.5 if isinstance(envelope, TableEnvelope) else 1.0


def _rare_rows(drbg: HmacDrbg, n: int, envelope: TableEnvelope) -> pd.DataFrame:
    """The first ``n`` rare rows inside the envelope drawn from ``drbg``."""
    found: list[pd.DataFrame] = []
    have = draws = 0
    while have < n:
        if draws >= _MAX_DRAWS:
            raise OwnershipError("the trigger envelope leaves no room for enough triggers")
        batch = envelope.draw(drbg.uniform(envelope.width * _BATCH))
        draws += _BATCH
        batch = batch[envelope.contains(batch) & envelope.is_rare(batch)].iloc[: n - have]
        found.append(batch)
        have += len(batch)
    return pd.concat(found, ignore_index=True)


def derive_anchors(
    key: WatermarkKey, n: int, *, envelope: Envelope, rare: bool = False
) -> TriggerSet:
    """Derive ``n`` clearly safe operating points labelled "no failure" from ``key``.

    Why: an aggregator that re-trains on triggers alone (WAFFLE) drifts towards predicting
    failure everywhere; these physics-labelled points, derived without plant data, hold the
    decision in place: typical points (``rare=False``) on ordinary operating points, rare
    points (``rare=True``, an independent stream) around the triggers, so that the model
    learns the triggers themselves rather than "rare means failure".

    Raises
    ------
    ConfigError
        ``n`` is out of range, or the envelope is a :class:`TableEnvelope`: without declared
        physics nothing says which label a point should have.
    """
    if not 1 <= n <= 100_000:
        raise ConfigError(f"number of anchors must lie in [1, 100000], got {n}")
    if isinstance(envelope, TableEnvelope):
        raise ConfigError(
            f"schema {envelope.schema_name!r} declares no failure physics: it has no "
            "physics-labelled anchor or control points (use 0 controls and anchors)"
        )
    drbg = key.drbg("rare-anchors/v1" if rare else "anchors/v1")
    return _assemble(
        _search(drbg, {1: 0, 0: n}, envelope, rare=rare, safe_for={0}),
        np.zeros(n, dtype=np.int64),
        key,
    )


def _search(
    drbg: HmacDrbg,
    need: dict[int, int],
    envelope: SensorEnvelope,
    *,
    rare: bool,
    safe_for: frozenset[int] | set[int] = frozenset({1}),
) -> dict[int, pd.DataFrame]:
    """Draw plausible points until each label has its count (safe points for ``safe_for``)."""
    found: dict[int, list[pd.DataFrame]] = {0: [], 1: []}
    have = {0: 0, 1: 0}
    draws = 0
    while have[0] < need[0] or have[1] < need[1]:
        if draws >= _MAX_DRAWS:
            raise OwnershipError("the sensor envelope leaves no room for enough triggers")
        batch = _draw(drbg.uniform(6 * _BATCH), envelope)
        draws += _BATCH
        rarity = envelope.is_rare(batch)
        batch = batch[envelope.contains(batch) & (rarity if rare else ~rarity)]
        types = batch[TYPE].to_numpy().astype(str)
        x = {
            "torque": batch[_TORQUE].to_numpy(np.float64),
            "speed": batch[_SPEED].to_numpy(np.float64),
            "wear": batch[_WEAR].to_numpy(np.float64),
            "diff": np.round(batch[_PROCESS].to_numpy() - batch[_AIR].to_numpy(), 6),
        }
        safe, failing = _clearly_safe(x, types), _clearly_failing(x, types)
        for label in (0, 1):
            mask = safe if label in safe_for else failing
            take = batch[mask].iloc[: need[label] - have[label]]
            found[label].append(take)
            have[label] += len(take)
    return {label: pd.concat(found[label], ignore_index=True) for label in (0, 1)}


def _assemble(
    pools: dict[int, pd.DataFrame], wanted: npt.NDArray[np.int64], key: WatermarkKey
) -> TriggerSet:
    n = int(wanted.size)
    taken = {0: 0, 1: 0}
    rows = []
    for label in wanted:
        rows.append(pools[int(label)].iloc[taken[int(label)]])
        taken[int(label)] += 1
    body = pd.DataFrame(rows).reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "UDI": np.arange(1, n + 1, dtype=np.int64),
            "Product ID": [f"{t}{60_000 + i}" for i, t in enumerate(body[TYPE])],
            TYPE: body[TYPE].astype(str).to_numpy(),
            **{c: body[c].to_numpy(np.float64) for c in SENSOR_COLUMNS},
            MACHINE_FAILURE: np.zeros(n, dtype=np.int64),
            **{m: np.zeros(n, dtype=np.int64) for m in FAILURE_MODES},
        }
    )
    return TriggerSet(frame=frame.loc[:, list(UCI_COLUMNS)], labels=wanted, key_id=key.key_id)
