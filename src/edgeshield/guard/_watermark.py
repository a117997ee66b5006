"""API watermark: keyed regions of the sensor space whose answers are flipped, tested per model.

Why: a surrogate trained on the API's answers learns some of those flipped labels, which
independent models almost never reproduce; the owner can then show a stolen copy is derived
from its API even when the thief evaded extraction detection. After Szyller, Atli, Marchal,
Asokan, "DAWN: Dynamic Adversarial Watermarking of Neural Networks", ACM Multimedia 2021.

Two changes against DAWN's isolated per-query flips (issue 15):

* **Regions, not points.** The input space is cut into keyed cells (the category levels and a
  grid with keyed offsets, one width per numeric input from the schema's ``cell``; AI4I's
  cells are 1 K x 1 K x 25 rpm x 2 Nm x 10 min); a keyed hash of the cell
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
* **A flip budget per client.** A marked or control cell is honoured for a client only if,
  at that client's first query there, one more flip fits its budget (:class:`FlipBudget`);
  the decision is blind to the cell's kind and kept, so a client's answers stay consistent,
  a steady machine sitting in a marked cell is not flipped, and only honoured cells are
  recorded for the test.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel
from scipy import stats

from edgeshield.errors import ConfigError, GuardError
from edgeshield.guard._schema import RequestSchema, request_schema

__all__ = [
    "CONTROL_RATE",
    "MAX_WATERMARK_RATE",
    "ApiWatermark",
    "CellKind",
    "ClientCells",
    "FlipBudget",
    "WatermarkEvidence",
    "budget_cells",
    "canonical_query",
    "verify_api_watermark",
]

MAX_WATERMARK_RATE = 0.005
"""At most 0.5 % of the cells (and about as many answers) are altered."""

CONTROL_RATE = 0.05
"""Share of cells whose (unchanged) answers are recorded as controls."""

CELL_WIDTHS: tuple[float, ...] = (1.0, 1.0, 25.0, 2.0, 10.0)
"""AI4I 2020's cell size per sensor: air K, process K, rpm, torque Nm, tool wear min (each
column's ``cell`` in the shipped schema)."""

SPREAD_FACTOR = 2.0
"""A client's honoured marked cells stay within this multiple of the marked share of the
watermark cells it has queried (so a client repeating a few cells is never honoured)."""

_MIN_SECRET = 32


@dataclass(frozen=True, kw_only=True)
class CellLayout:
    """How a record falls into a cell: its category values, and its numeric inputs binned."""

    categories: tuple[str, ...]
    """Category inputs (names) whose values key the cell as they are."""
    numeric: tuple[str, ...]
    """Numeric inputs (names) cut into bins of ``widths``."""
    widths: tuple[float, ...]
    category_headers: tuple[str, ...]
    numeric_headers: tuple[str, ...]

    @classmethod
    def of(cls, schema: RequestSchema) -> CellLayout:
        """The layout of a request schema, with each numeric input's ``cell`` width.

        A column without ``cell`` gets a hundredth of its declared range.

        Raises
        ------
        ConfigError
            A numeric input has neither a ``cell`` nor a closed range.
        """
        widths: list[float] = []
        for c in schema.numeric:
            if c.cell is not None:
                widths.append(c.cell)
            elif c.minimum is not None and c.maximum is not None and c.maximum > c.minimum:
                widths.append((c.maximum - c.minimum) / 100.0)
            else:
                raise ConfigError(
                    f"the API watermark needs a cell width for column {c.name!r} of dataset "
                    f"schema {schema.dataset.name!r}: declare columns.{c.name}.cell (or a "
                    "closed range), or serve with watermark rate 0"
                )
        return cls(
            categories=tuple(c.name for c in schema.categories),
            numeric=tuple(c.name for c in schema.numeric),
            widths=tuple(widths),
            category_headers=tuple(c.header for c in schema.categories),
            numeric_headers=tuple(c.header for c in schema.numeric),
        )


class CellKind(IntEnum):
    """What the watermark does with the answers of one cell."""

    NONE = 0
    MARKED = 1
    CONTROL = 2


def canonical_query(record: BaseModel) -> bytes:
    """Canonical bytes of a record: category values and each number rounded to 4 decimals."""
    values = record.model_dump(mode="json", by_alias=True).values()
    return "|".join(v if isinstance(v, str) else f"{v:.4f}" for v in values).encode()


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

    __slots__ = (
        "_bound",
        "_control_bound",
        "_offsets",
        "_secret",
        "_widths",
        "control_rate",
        "layout",
        "rate",
    )

    def __init__(
        self,
        secret: bytes,
        *,
        rate: float = MAX_WATERMARK_RATE,
        control_rate: float = CONTROL_RATE,
        layout: CellLayout | None = None,
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
        self.layout = layout if layout is not None else CellLayout.of(request_schema())
        self._widths = np.asarray(self.layout.widths, dtype=np.float64)
        self._offsets = np.asarray(
            [self._uniform(f"offset/{i}".encode()) * w for i, w in enumerate(self.layout.widths)]
        )

    def _uniform(self, message: bytes) -> float:
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def cell(
        self, categories: Sequence[str], values: Sequence[float] | npt.NDArray[np.float64]
    ) -> bytes:
        """Canonical bytes of the cell holding one reading (category values, numeric inputs)."""
        bins = np.floor((np.asarray(values, dtype=np.float64) + self._offsets) / self._widths)
        return ("|".join([*categories, *(str(int(b)) for b in bins)])).encode()

    def kind_of_cell(self, cell: bytes) -> CellKind:
        """Whether a cell is marked, a control, or neither."""
        digest = hmac.new(self._secret, b"cell/" + cell, hashlib.sha256).digest()
        u = int.from_bytes(digest[:8], "big")
        if u < self._bound:
            return CellKind.MARKED
        return CellKind.CONTROL if u < self._control_bound else CellKind.NONE

    def cell_digest(self, cell: bytes) -> str:
        """Keyed digest of a cell (hex): how the state names a cell without its readings."""
        return hmac.new(self._secret, b"client-cell/" + cell, hashlib.sha256).hexdigest()

    def cells(self, records: Sequence[BaseModel]) -> list[bytes]:
        """Cell of each record."""
        layout = self.layout
        out = []
        for record in records:
            row = record.model_dump(mode="json", by_alias=True)
            out.append(
                self.cell([row[c] for c in layout.categories], [row[n] for n in layout.numeric])
            )
        return out

    def kinds(self, records: Sequence[BaseModel]) -> npt.NDArray[np.int64]:
        """:class:`CellKind` of each record's cell."""
        return np.fromiter(
            (self.kind_of_cell(c) for c in self.cells(records)), dtype=np.int64, count=len(records)
        )

    def select(self, records: Sequence[BaseModel]) -> npt.NDArray[np.bool_]:
        """Mask of the records whose answer is flipped."""
        return np.asarray(self.kinds(records) == CellKind.MARKED)

    def frame_cells(self, frame: pd.DataFrame) -> list[bytes]:
        """Cell of each row of a frame under the dataset schema's headers."""
        values = frame.loc[:, list(self.layout.numeric_headers)].to_numpy(np.float64)
        keys = frame.loc[:, list(self.layout.category_headers)].astype(str).to_numpy()
        return [self.cell(list(k), v) for k, v in zip(keys, values, strict=True)]

    def __repr__(self) -> str:
        return f"ApiWatermark(rate={self.rate}, control_rate={self.control_rate})"


@dataclass(frozen=True, kw_only=True)
class FlipBudget:
    """One client's watermark counters: the budget that decides whether a new cell is honoured.

    Why: each client's altered answers must stay within the watermark rate however its queries
    fall on the cells (a steady machine in one marked cell, a dashboard re-polling machines).
    """

    cells: int = 0
    """Distinct marked or control cells this client has queried (honoured or not)."""
    marked: int = 0
    """Marked cells honoured for this client (its answers there are flipped)."""
    flips: int = 0
    """Answers altered for this client so far (repeats of an honoured marked cell included)."""

    def allows(self, answered: int, *, rate: float, control_rate: float) -> bool:
        """Whether one more flip fits, before knowing the new cell's kind (same for controls).

        ``answered`` counts the client's answered records including the one asking; ``cells``
        must already count the new cell. Two gates: the altered answers, this one included,
        stay within ``rate`` of ``answered``; and the honoured marked cells stay within
        :data:`SPREAD_FACTOR` times the marked share of the watermark cells queried.
        """
        share = SPREAD_FACTOR * rate / (rate + control_rate)
        return self.flips + 1 <= rate * answered and self.marked + 1 <= share * self.cells


def budget_cells(
    kinds: Sequence[int] | npt.NDArray[np.int64],
    digests: Sequence[str],
    known: dict[str, bool],
    budget: FlipBudget,
    *,
    answered: int,
    rate: float,
    control_rate: float,
) -> tuple[npt.NDArray[np.bool_], dict[str, bool], FlipBudget]:
    """Which of a batch's records lie in cells honoured for this client, deciding new cells.

    Why: one rule for the service, the tests and the benchmarks. Records are taken in order;
    a marked or control cell the client has not queried before is honoured when
    :meth:`FlipBudget.allows` says so, a decision blind to its kind, then kept for good.
    ``known`` maps the digests already decided to their decision, ``answered`` counts the
    client's records answered before this batch. Returns the mask of records in honoured
    cells (of either kind), the decisions made here, and the budget after the batch.
    """
    honoured = np.zeros(len(kinds), dtype=np.bool_)
    new: dict[str, bool] = {}
    cells, marked, flips = budget.cells, budget.marked, budget.flips
    for i, (kind, digest) in enumerate(zip(kinds, digests, strict=True)):
        if kind == CellKind.NONE:
            continue
        decided = known.get(digest, new.get(digest))
        if decided is None:
            cells += 1
            now = FlipBudget(cells=cells, marked=marked, flips=flips)
            decided = now.allows(answered + i + 1, rate=rate, control_rate=control_rate)
            new[digest] = decided
            marked += int(decided and kind == CellKind.MARKED)
        honoured[i] = decided
        flips += int(decided and kind == CellKind.MARKED)
    return honoured, new, FlipBudget(cells=cells, marked=marked, flips=flips)


@dataclass(kw_only=True)
class ClientCells:
    """One client's decided cells and budget in memory: the service's rule without a database.

    Why: the tests and benchmarks replay a client's answers with the same code the service
    runs (:func:`budget_cells`), not a copy of it.
    """

    known: dict[str, bool] = field(default_factory=dict)
    budget: FlipBudget = field(default_factory=FlipBudget)
    answered: int = 0

    def serve(
        self, mark: ApiWatermark, clean: npt.NDArray[np.int64], cells: Sequence[bytes]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Served labels of one batch and each record's honoured kind (NONE where not honoured)."""
        kinds = np.asarray([mark.kind_of_cell(c) for c in cells], dtype=np.int64)
        honoured, new, self.budget = budget_cells(
            kinds,
            [mark.cell_digest(c) for c in cells],
            self.known,
            self.budget,
            answered=self.answered,
            rate=mark.rate,
            control_rate=mark.control_rate,
        )
        self.known.update(new)
        self.answered += len(cells)
        effective = np.where(honoured, kinds, CellKind.NONE).astype(np.int64)
        clean = np.asarray(clean, dtype=np.int64)
        return np.where(effective == CellKind.MARKED, 1 - clean, clean), effective


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
