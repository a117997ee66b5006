"""API watermark: keyed regions of the sensor space whose answers are flipped, tested per model.

Why: a surrogate trained on the API's answers learns some of those flipped labels, which
independent models almost never reproduce; the owner can then show a stolen copy is derived
from its API even when the thief evaded extraction detection. After Szyller, Atli, Marchal,
Asokan, "DAWN: Dynamic Adversarial Watermarking of Neural Networks", ACM Multimedia 2021.

Two changes against DAWN's isolated per-query flips (issue 15):

* **Regions, not points.** The sensor space is cut into keyed cells (product type and a grid
  with keyed offsets, cells 1 K x 1 K x 25 rpm x 2 Nm x 10 min); a keyed hash of the cell
  decides whether every answer in it is flipped (``rate``), recorded unchanged as a *control*
  (``control_rate``), or neither. Near-duplicate rows (a second key asking the same reading
  +0.1 K, a repeated reading) fall in the same cell and get the same answer, so a thief that
  keeps only the answers two keys agree on keeps the marks.
* **A per-model test with controls.** Under the null hypothesis the suspect never saw the API,
  so which of the queried cells are marked and which are controls is a keyed coin the suspect
  cannot know: marked and control cells are exchangeable. The test (a one-sided
  hypergeometric, i.e. Fisher's exact test, one unit per cell) asks whether the suspect
  disagrees with the model's clean answer on marked cells more often than on control cells.
  A constant model disagrees equally on both (the flips need not be balanced by class; the
  comparison is), and no null rate is pooled across other models.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from edgeshield.errors import ConfigError, GuardError
from edgeshield.guard._schema import SensorRecord

__all__ = [
    "CONTROL_RATE",
    "MAX_WATERMARK_RATE",
    "ApiWatermark",
    "CellKind",
    "WatermarkEvidence",
    "canonical_query",
    "verify_api_watermark",
]

MAX_WATERMARK_RATE = 0.005
"""At most 0.5 % of the cells (and about as many answers) are altered."""

CONTROL_RATE = 0.05
"""Share of cells whose (unchanged) answers are recorded as controls."""

CELL_WIDTHS: tuple[float, ...] = (1.0, 1.0, 25.0, 2.0, 10.0)
"""Cell size per sensor: air K, process K, rpm, torque Nm, tool wear min."""

_MIN_SECRET = 32
_SENSORS = (
    "air_temperature_k",
    "process_temperature_k",
    "rotational_speed_rpm",
    "torque_nm",
    "tool_wear_min",
)
_FRAME_SENSORS = (
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
)


class CellKind(IntEnum):
    """What the watermark does with the answers of one cell."""

    NONE = 0
    MARKED = 1
    CONTROL = 2


def canonical_query(record: SensorRecord) -> bytes:
    """Canonical bytes of a record: type and each sensor value rounded to 4 decimals."""
    values = [getattr(record, s) for s in _SENSORS]
    return ("|".join([record.type.value, *(f"{v:.4f}" for v in values)])).encode()


class ApiWatermark:
    """Keyed cells whose answers are flipped (marked) or recorded unchanged (controls).

    Parameters
    ----------
    secret
        At least 32 bytes; whoever knows it can find (and avoid) the marked cells.
    rate
        Fraction of cells marked, in ``(0, 0.005]``.
    control_rate
        Fraction of cells recorded as controls, in ``(0, 0.5]``.
    """

    __slots__ = ("_bound", "_control_bound", "_offsets", "_secret", "control_rate", "rate")

    def __init__(
        self, secret: bytes, *, rate: float = MAX_WATERMARK_RATE, control_rate: float = CONTROL_RATE
    ) -> None:
        if len(secret) < _MIN_SECRET:
            raise ConfigError(f"the watermark secret must be at least {_MIN_SECRET} bytes")
        if not 0.0 < rate <= MAX_WATERMARK_RATE:
            raise ConfigError(f"watermark rate must lie in (0, {MAX_WATERMARK_RATE}], got {rate}")
        if not 0.0 < control_rate <= 0.5:
            raise ConfigError(f"control rate must lie in (0, 0.5], got {control_rate}")
        self._secret = bytes(secret)
        self.rate = rate
        self.control_rate = control_rate
        self._bound = int(rate * 2**64)
        self._control_bound = int((rate + control_rate) * 2**64)
        self._offsets = np.asarray(
            [self._uniform(f"offset/{i}".encode()) * w for i, w in enumerate(CELL_WIDTHS)]
        )

    def _uniform(self, message: bytes) -> float:
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def cell(self, product_type: str, values: Sequence[float] | npt.NDArray[np.float64]) -> bytes:
        """Canonical bytes of the cell holding one reading."""
        bins = np.floor((np.asarray(values, dtype=np.float64) + self._offsets) / CELL_WIDTHS)
        return ("|".join([product_type, *(str(int(b)) for b in bins)])).encode()

    def kind_of_cell(self, cell: bytes) -> CellKind:
        """Whether a cell is marked, a control, or neither."""
        digest = hmac.new(self._secret, b"cell/" + cell, hashlib.sha256).digest()
        u = int.from_bytes(digest[:8], "big")
        if u < self._bound:
            return CellKind.MARKED
        return CellKind.CONTROL if u < self._control_bound else CellKind.NONE

    def cells(self, records: Sequence[SensorRecord]) -> list[bytes]:
        """Cell of each record."""
        return [self.cell(r.type.value, [getattr(r, s) for s in _SENSORS]) for r in records]

    def kinds(self, records: Sequence[SensorRecord]) -> npt.NDArray[np.int64]:
        """:class:`CellKind` of each record's cell."""
        return np.fromiter(
            (self.kind_of_cell(c) for c in self.cells(records)), dtype=np.int64, count=len(records)
        )

    def select(self, records: Sequence[SensorRecord]) -> npt.NDArray[np.bool_]:
        """Mask of the records whose answer is flipped."""
        return np.asarray(self.kinds(records) == CellKind.MARKED)

    def frame_cells(self, frame: pd.DataFrame) -> list[bytes]:
        """Cell of each row of a frame in UCI layout."""
        values = frame.loc[:, list(_FRAME_SENSORS)].to_numpy(np.float64)
        types = frame["Type"].astype(str).to_numpy()
        return [self.cell(str(t), v) for t, v in zip(types, values, strict=True)]

    def __repr__(self) -> str:
        return f"ApiWatermark(rate={self.rate}, control_rate={self.control_rate})"


@dataclass(frozen=True, kw_only=True)
class WatermarkEvidence:
    """Outcome of testing a suspect on the recorded marked and control cells.

    ``p_value`` is the one-sided hypergeometric probability (Fisher's exact test) that a model
    independent of the API disagrees with the clean answer on at least ``matches`` of the
    ``queries`` marked cells, given that it disagrees on ``matches + control_disagreements``
    of the ``queries + controls`` cells tested.
    """

    queries: int
    matches: int
    controls: int
    control_disagreements: int
    p_value: float

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready form."""
        return {
            "queries": self.queries,
            "matches": self.matches,
            "controls": self.controls,
            "control_disagreements": self.control_disagreements,
            "p_value": self.p_value,
        }


Predict = Callable[[pd.DataFrame], npt.NDArray[np.int64]]


def _answers(predict: Predict, queries: pd.DataFrame) -> npt.NDArray[np.int64]:
    out = np.asarray(predict(queries)).reshape(-1)
    if out.size != len(queries):
        raise GuardError("a model must return one label per watermark query")
    return out.astype(np.int64)


def verify_api_watermark(
    suspect: Predict,
    queries: pd.DataFrame,
    served_labels: npt.NDArray[np.int64],
    *,
    watermark: ApiWatermark,
) -> WatermarkEvidence:
    """Test whether ``suspect`` reproduces the flipped answers more than it errs on controls.

    Parameters
    ----------
    suspect
        Label function of the suspected surrogate (rows in UCI layout -> 0/1).
    queries, served_labels
        The marked and control queries recorded by the service and the labels it served.
    watermark
        The service's watermark (its secret says which cells are marked or controls).

    Raises
    ------
    ConfigError
        No recorded marked cell, or one served label per query missing.
    """
    served = np.asarray(served_labels, dtype=np.int64).reshape(-1)
    if len(queries) != len(served):
        raise ConfigError("need one served label per watermark query")
    if len(queries) == 0:
        raise ConfigError("no watermark queries recorded: nothing to test")
    # one unit per cell (the first recorded query), so that cells are the exchangeable units
    first: dict[bytes, int] = {}
    for i, c in enumerate(watermark.frame_cells(queries)):
        first.setdefault(c, i)
    kinds = np.asarray([watermark.kind_of_cell(c) for c in first], dtype=np.int64)
    rows = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    keep = kinds != CellKind.NONE
    rows, kinds = rows[keep], kinds[keep]
    marked = kinds == CellKind.MARKED
    if not marked.any():
        raise ConfigError("no marked cell among the recorded queries: nothing to test")
    clean = np.where(marked, 1 - served[rows], served[rows])
    disagrees = _answers(suspect, queries.iloc[rows].reset_index(drop=True)) != clean
    n_marked, n_total = int(marked.sum()), len(rows)
    matches = int(np.sum(disagrees & marked))
    total = int(np.sum(disagrees))
    p_value = float(stats.hypergeom.sf(matches - 1, n_total, total, n_marked)) if matches else 1.0
    return WatermarkEvidence(
        queries=n_marked,
        matches=matches,
        controls=n_total - n_marked,
        control_disagreements=total - matches,
        p_value=min(1.0, p_value),
    )
