"""PRADA extraction detection: per client, the distribution of distances between its queries.

Why: benign queries from a real process have minimum distances to earlier queries that look
roughly normally distributed, while synthetic extraction queries (Jacobian augmentation, small
steps around seeds) produce a spiky, non-normal distribution. After Juuti, Szyller, Marchal,
Asokan, "PRADA: Protecting Against DNN Model Stealing Attacks", IEEE EuroS&P 2019.

Per client and per predicted class a *growing set* of queries is kept; each new query's
minimum L2 distance to its class's growing set joins the distance set ``D``, and the query
joins the growing set when that distance exceeds the class threshold
``T_c = max(T_c, mean(D_Gc) - std(D_Gc))``. An alarm is raised when the Shapiro-Wilk statistic
``W`` of (the last ``window`` entries of) ``D`` falls below ``delta``.

Three adaptations to tabular sensor data, measured in ``benchmarks/guard.py``: the growing
sets are kept per (predicted class, product type), because the one-hot type otherwise makes
``D`` bimodal; distances are taken on the five standardized sensors only (the service's choice:
derived features blur the Jacobian attack's small steps); and ``W`` is computed on
``log(D + log_offset)``, because nearest-neighbour distances of real sensor traces are
right-skewed, which pulled benign traces' raw ``W`` below the attack's.

Three changes to the test itself (issue 15, item 8), measured in ``benchmarks/guard_prada.py``.
``D`` pools the distances of every group, and the groups differ in density: predicted failures
are a few % of the rows, so their growing sets are sparse and their distances larger (mean log
distance about 1 above the majority group's in the demo), and product type H (10 %) lies in
between. Pooled, a benign trace is a mixture of log-normals with different means, skewed to the
right: the demo's benign client (400 queries) was flagged in 1 of 4 ``make demo`` runs. So each
group's log distances are *centred on their median in the window* before the test, and groups
with fewer than ``min_group`` distances in the window (whose centre is too noisy to use)
are left out of it. What PRADA looks for, a spike of equal small steps beside the natural
spread, survives the centring because the centre is the median: where the steps are most of a
group's distances, the median sits on them and every group's spike lands at 0 (centred on the
mean, the spikes of different groups fell apart and the reduced demo's Jacobian attacker went
undetected). Second, an alarm also needs the test's p-value below ``alpha``: with a fixed
``delta`` the early tests (50-130 distances, taken while the growing sets still fill and the
first distances of each group are large) flagged benign traces at ``W`` about 0.94, a value the
test does not call significant at that size, while the attacks' early ``W`` lies far lower;
from about 130 distances on, ``W < delta`` implies ``p < alpha``, and ``delta`` alone decides.

Third, far-out distances are left out of the test (Tukey's far-out fence: below
``Q1 - fence * IQR`` or above ``Q3 + fence * IQR`` of the centred window, ``fence`` 3). At 1000
distances Shapiro-Wilk is moved by a handful of points: the benchmark's flagged benign trace
(``W`` 0.945 after 1,700 queries, ``p`` 1e-18, so no correction for repeated testing would have
spared it) had a bulk as normal as any (``W`` 0.993 without its 1 % most extreme values) and six
isolated far-out distances among 996, half of them in the sparse predicted-failure groups, whose
spread is wider. A normal sample loses a point beyond the fence (4.7 standard deviations) with
probability 2e-6, so the test is unchanged where the paper's assumption holds, while the
Jacobian attack's signature lies in the bulk (a spike of equal steps beside the natural spread:
its ``W`` barely moves when its extremes are trimmed).

Incremental: one query costs one vectorized distance computation against its class's growing
set, running sums update the thresholds, and ``W`` (with the group medians) is computed once per
batch on a bounded window; nothing is recomputed over the history. Each distance is stored with
its group, so a state rebuilt from the database takes the same decisions. Natural-query attacks
(Knockoff nets) are by design not caught (Atli et al., "Extraction of Complex DNN Models: Real
Threat or Boogeyman?", AAAI-EDSMLS 2020).
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import stats

from edgeshield.errors import ConfigError

__all__ = ["PradaConfig", "PradaState", "PradaUpdate", "prada_observe"]

_SPIKE_IQR = 0.05
"""Interquartile range (of centred log distances) below which the window's bulk is a spike.

The smallest measured (benchmarks/guard.py's victim, the demo's models): 0.31 in a benign
window, 0.58 in a Jacobian attack's; the floor only keeps the fence from shrinking onto equal
steps.
"""


@dataclass(frozen=True, kw_only=True)
class PradaConfig:
    """Detector parameters.

    Parameters
    ----------
    delta
        Alarm when the Shapiro-Wilk ``W`` of the (group-centred) distance set falls below it.
    alpha
        An alarm also needs the test's p-value below this: it guards the early tests, where
        ``W`` is noisy (see the module docstring); 1 turns the condition off.
    min_group
        A group's distances join the test once the window holds this many of them; each
        group's log distances are centred on their median in the window.
    centre_groups
        Centre each group's log distances (off, with ``alpha`` 1, only to measure the pooled
        test of the paper, as ``benchmarks/guard_prada.py`` does).
    min_distances
        Distances needed before the first test.
    window
        Most recent distances tested (bounds the cost; at most 5000, Shapiro-Wilk's limit).
    log_offset
        ``W`` is computed on ``log(d + log_offset)``.
    test_every
        New distances between two tests (the test runs at most once per batch); bounds the
        cost and the granularity of the detection delay.
    repeat_distance
        A query at most this far (in the encoder's standardized units) from its class's growing
        set is a repeat of an earlier reading and adds no distance: a dashboard asking the same
        row 256 times, or a steady machine whose low-resolution sensors repeat exactly, would
        otherwise fill ``D`` with zeros and a spike that no benign process shows (issue 15).
        The default 0.07 lies between a steady machine read at its sensors' resolution (which
        0.05 still flags) and the demo's Jacobian step of 0.1. An attacker who steps below it
        adds no distance and is not detected by PRADA: quotas and rate limits still bound it
        (docs/threat-model.md).
    fence
        Centred log distances beyond Tukey's far-out fence (``fence`` interquartile ranges
        outside the quartiles of the window) are left out of the test: isolated far-out
        distances (a rare reading, a sparse group) pulled a benign trace's ``W`` below
        ``delta`` at 1000 distances, while a normal sample almost never has one (see the module
        docstring); None tests every distance.
    fence_share
        The fence leaves out at most this share of the window; a window with more far-out
        distances is tested whole (its tail is then its shape, not a few isolated readings;
        benign windows measured at most 2.4 %).
    recent
        How many of a client's latest queries per group are kept (in memory, never stored) for
        the repeat test besides the growing set; 0 keeps none. A steady machine's jittering
        readings or a dashboard re-polling the same machines land near an earlier *query*
        though not always near a growing-set point: without this their small distances piled
        up beside the large ones between machines, and the benchmark flagged every steady
        machine after about 2,000 queries and every dashboard after 140 (issue 15).
    """

    delta: float = 0.95
    alpha: float = 1e-4
    min_group: int = 10
    centre_groups: bool = True
    min_distances: int = 50
    window: int = 1000
    log_offset: float = 1e-3
    test_every: int = 25
    repeat_distance: float = 0.07
    fence: float | None = 3.0
    fence_share: float = 0.05
    recent: int = 256

    def __post_init__(self) -> None:
        if not 0.0 < self.delta < 1.0:
            raise ConfigError(f"delta must lie in (0, 1), got {self.delta}")
        if not 0.0 < self.alpha <= 1.0:
            raise ConfigError(f"alpha must lie in (0, 1], got {self.alpha}")
        if not 1 <= self.min_group <= self.window:
            raise ConfigError("min_group must lie in [1, window]")
        if self.log_offset <= 0:
            raise ConfigError("log_offset must be positive")
        if self.test_every < 1:
            raise ConfigError("test_every must be at least 1")
        if not 0.0 <= self.repeat_distance < 1.0:
            raise ConfigError("repeat_distance must lie in [0, 1)")
        if self.fence is not None and not 0.0 < self.fence < math.inf:
            raise ConfigError(f"fence must be positive and finite (or None), got {self.fence}")
        if not 0.0 <= self.fence_share < 0.5:
            raise ConfigError("fence_share must lie in [0, 0.5)")
        if not 0 <= self.recent <= 4096:
            raise ConfigError("recent must lie in [0, 4096]")
        if not 3 <= self.min_distances <= self.window <= 5000:
            raise ConfigError("need 3 <= min_distances <= window <= 5000")


@dataclass
class _Growing:
    """The growing set of one class and the running moments of its distances."""

    points: npt.NDArray[np.float64]
    size: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    threshold: float = 0.0

    def add(self, point: npt.NDArray[np.float64], distance: float) -> None:
        if self.size == self.points.shape[0]:
            grown = np.empty((max(16, 2 * self.size), self.points.shape[1]))
            grown[: self.size] = self.points[: self.size]
            self.points = grown
        self.points[self.size] = point
        self.size += 1
        self.total += distance
        self.total_sq += distance * distance
        mean = self.total / self.size
        std = math.sqrt(max(self.total_sq / self.size - mean * mean, 0.0))
        self.threshold = max(self.threshold, mean - std)

    def min_distance(self, point: npt.NDArray[np.float64]) -> float:
        diff = self.points[: self.size] - point
        return float(np.sqrt(np.min(np.einsum("ij,ij->i", diff, diff))))


@dataclass
class _Recent:
    """A ring of one group's latest queries: a near-repeat of any of them adds no distance."""

    points: npt.NDArray[np.float64]
    size: int = 0
    position: int = 0

    def push(self, point: npt.NDArray[np.float64]) -> None:
        self.points[self.position] = point
        self.position = (self.position + 1) % self.points.shape[0]
        self.size = min(self.size + 1, self.points.shape[0])

    def min_distance(self, point: npt.NDArray[np.float64]) -> float:
        if self.size == 0:
            return math.inf
        diff = self.points[: self.size] - point
        return float(np.sqrt(np.min(np.einsum("ij,ij->i", diff, diff))))


@dataclass
class PradaState:
    """One client's detector state (rebuilt from the persisted points and distances).

    ``distances`` and ``distance_groups`` are parallel: the last ``window`` distances and the
    group each was measured in.
    """

    dim: int
    window: int
    growing: dict[int, _Growing] = field(default_factory=dict)
    distances: deque[float] = field(default_factory=deque)
    distance_groups: deque[int] = field(default_factory=deque)
    observed: int = 0
    alarm_at: int | None = None
    last_w: float | None = None
    untested: int = 0
    recent: dict[int, _Recent] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.distances = deque(self.distances, maxlen=self.window)
        self.distance_groups = deque(self.distance_groups, maxlen=self.window)
        if len(self.distances) != len(self.distance_groups):
            raise ConfigError("every distance needs its group")

    def add_distance(self, cls: int, distance: float) -> None:
        """Append one distance and its group (also used to rebuild persisted state)."""
        self.distances.append(distance)
        self.distance_groups.append(cls)

    def recent_of(self, cls: int, capacity: int) -> _Recent | None:
        """The ring of ``cls``'s latest queries (in memory only), or None when disabled."""
        if capacity == 0:
            return None
        ring = self.recent.get(cls)
        if ring is None:
            ring = self.recent[cls] = _Recent(points=np.empty((capacity, self.dim)))
        return ring

    def add_point(self, cls: int, point: npt.NDArray[np.float64], distance: float) -> None:
        """Add a point to a class's growing set (also used to rebuild persisted state)."""
        growing = self.growing.get(cls)
        if growing is None:
            growing = self.growing[cls] = _Growing(points=np.empty((16, self.dim)))
        growing.add(np.asarray(point, dtype=np.float64), distance)


@dataclass(frozen=True, kw_only=True)
class PradaUpdate:
    """What one batch changed: rows to persist and the test outcome.

    ``points`` are (group, vector, distance), ``distances`` (group, distance); ``w`` and ``p``
    are the test's statistic and p-value when the batch ran it.
    """

    points: list[tuple[int, npt.NDArray[np.float64], float]]
    distances: list[tuple[int, float]]
    w: float | None
    new_alarm: bool
    p: float | None = None


def _group_centred(state: PradaState, config: PradaConfig) -> npt.NDArray[np.float64]:
    """The window's log distances, each centred on its group's median; small groups left out.

    Why: groups differ in density (predicted failures are rare, so their growing sets are
    sparse), and pooling their raw log distances gives a skewed mixture that is not a sign of
    extraction (see the module docstring).
    """
    n = len(state.distances)
    data = np.log(np.fromiter(state.distances, dtype=np.float64, count=n) + config.log_offset)
    if not config.centre_groups:
        return data
    groups = np.fromiter(state.distance_groups, dtype=np.int64, count=n)
    keys, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    # The median, not the mean: where an attacker's equal small steps are most of a group's
    # distances, the median sits on them, so the steps of every group land together at 0
    # (the mean put each group's spike elsewhere and smeared them into a near-normal set).
    centres = np.array([np.median(data[inverse == k]) for k in range(keys.size)])
    kept = counts[inverse] >= config.min_group
    centred: npt.NDArray[np.float64] = (data - centres[inverse])[kept]
    return centred


def _within_fence(
    data: npt.NDArray[np.float64], fence: float | None, most: float
) -> npt.NDArray[np.float64]:
    """The values inside Tukey's far-out fence: a few isolated outliers are not extraction.

    Nothing is left out when the bulk is itself a spike (interquartile range below
    ``_SPIKE_IQR``: the fence would shrink onto the equal steps PRADA looks for) or when more
    than ``most`` of the window lies outside (then the tail is the distribution's shape).
    """
    if fence is None or data.size < 4:
        return data
    q1, q3 = np.quantile(data, [0.25, 0.75])
    if q3 - q1 < _SPIKE_IQR:
        return data
    spread = fence * (q3 - q1)
    kept: npt.NDArray[np.float64] = data[(data >= q1 - spread) & (data <= q3 + spread)]
    if data.size - kept.size > most * data.size:
        return data
    return kept


def _shapiro(data: npt.NDArray[np.float64]) -> tuple[float, float] | None:
    if data.size < 3 or np.ptp(data) == 0.0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.shapiro(data)
    return float(result.statistic), float(result.pvalue)


def prada_observe(
    state: PradaState,
    vectors: npt.NDArray[np.float64],
    groups: npt.NDArray[np.int64],
    config: PradaConfig,
) -> PradaUpdate:
    """Feed one batch of a client's queries (feature vectors and growing-set groups).

    ``groups`` name the growing set of each query (the service uses predicted class and
    product type).

    The state is updated in place; the returned update lists what to persist.
    """
    points: list[tuple[int, npt.NDArray[np.float64], float]] = []
    distances: list[tuple[int, float]] = []
    for x, c in zip(np.asarray(vectors, dtype=np.float64), groups, strict=True):
        cls = int(c)
        growing = state.growing.get(cls)
        state.observed += 1
        recent = state.recent_of(cls, config.recent)
        if growing is None or growing.size == 0:
            state.add_point(cls, x, 0.0)
            points.append((cls, x, 0.0))
            if recent is not None:
                recent.push(x)
            continue
        d = growing.min_distance(x)
        repeat = d <= config.repeat_distance or (
            recent is not None and recent.min_distance(x) <= config.repeat_distance
        )
        if recent is not None:
            recent.push(x)
        if repeat:
            continue
        state.add_distance(cls, d)
        distances.append((cls, d))
        if d > growing.threshold:
            growing.add(x, d)
            points.append((cls, x, d))
    new_alarm = False
    w = p = None
    state.untested += len(distances)
    if len(state.distances) >= config.min_distances and state.untested >= config.test_every:
        state.untested = 0
        data = _within_fence(_group_centred(state, config), config.fence, config.fence_share)
        test = _shapiro(data) if data.size >= config.min_distances else None
        if test is not None:
            w, p = test
        state.last_w = w
        if (
            w is not None
            and p is not None
            and w < config.delta
            and p < config.alpha
            and state.alarm_at is None
        ):
            state.alarm_at = state.observed
            new_alarm = True
    return PradaUpdate(points=points, distances=distances, w=w, new_alarm=new_alarm, p=p)
