"""API watermark: a keyed hash of each query selects a few answers whose label is flipped.

Why: a surrogate trained on the API's answers learns some of those flipped labels, which
independent models almost never reproduce; the owner can then show a stolen copy is derived
from its API even when the thief evaded extraction detection. After Szyller, Atli, Marchal,
Asokan, "DAWN: Dynamic Adversarial Watermarking of Neural Networks", ACM Multimedia 2021.

Selection is deterministic per (canonicalized) query, so repeating a query returns the same
answer and the attacker cannot spot the flips by re-asking.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from edgeshield.errors import ConfigError, GuardError
from edgeshield.guard._schema import SensorRecord

__all__ = [
    "MAX_WATERMARK_RATE",
    "ApiWatermark",
    "WatermarkEvidence",
    "canonical_query",
    "null_agreement_rate",
    "verify_api_watermark",
]

MAX_WATERMARK_RATE = 0.005
"""At most 0.5 % of answers are altered."""

_MIN_SECRET = 32


def canonical_query(record: SensorRecord) -> bytes:
    """Canonical bytes of a record: type and each sensor value rounded to 4 decimals."""
    values = (
        record.air_temperature_k,
        record.process_temperature_k,
        record.rotational_speed_rpm,
        record.torque_nm,
        record.tool_wear_min,
    )
    return ("|".join([record.type.value, *(f"{v:.4f}" for v in values)])).encode()


class ApiWatermark:
    """Keyed selection of the answers to flip.

    Parameters
    ----------
    secret
        At least 32 bytes; whoever knows it can find (and avoid) the watermarked queries.
    rate
        Fraction of queries selected, in ``(0, 0.005]``.
    """

    __slots__ = ("_bound", "_secret", "rate")

    def __init__(self, secret: bytes, *, rate: float = MAX_WATERMARK_RATE) -> None:
        if len(secret) < _MIN_SECRET:
            raise ConfigError(f"the watermark secret must be at least {_MIN_SECRET} bytes")
        if not 0.0 < rate <= MAX_WATERMARK_RATE:
            raise ConfigError(f"watermark rate must lie in (0, {MAX_WATERMARK_RATE}], got {rate}")
        self._secret = bytes(secret)
        self.rate = rate
        self._bound = int(rate * 2**64)

    def selects(self, canonical: bytes) -> bool:
        """True when the answer to this canonical query is to be flipped."""
        digest = hmac.new(self._secret, canonical, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") < self._bound

    def select(self, records: Sequence[SensorRecord]) -> npt.NDArray[np.bool_]:
        """Selection mask of a batch."""
        return np.fromiter(
            (self.selects(canonical_query(r)) for r in records), dtype=np.bool_, count=len(records)
        )

    def __repr__(self) -> str:
        return f"ApiWatermark(rate={self.rate})"


@dataclass(frozen=True, kw_only=True)
class WatermarkEvidence:
    """Outcome of testing a suspect on the recorded watermark queries.

    ``p_value`` is the exact binomial probability that a model independent of the API agrees
    with at least ``matches`` of the ``queries`` flipped labels, at the conservative
    (one-sided 99 % Clopper-Pearson upper) null rate measured on independent models.
    """

    queries: int
    matches: int
    null_rate: float
    null_rate_upper: float
    p_value: float

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready form."""
        return {
            "queries": self.queries,
            "matches": self.matches,
            "null_rate": self.null_rate,
            "null_rate_upper": self.null_rate_upper,
            "p_value": self.p_value,
        }


Predict = Callable[[pd.DataFrame], npt.NDArray[np.int64]]


def _answers(predict: Predict, queries: pd.DataFrame) -> npt.NDArray[np.int64]:
    out = np.asarray(predict(queries)).reshape(-1)
    if out.size != len(queries):
        raise GuardError("a model must return one label per watermark query")
    return out.astype(np.int64)


def null_agreement_rate(
    independent: Sequence[Predict], queries: pd.DataFrame, served_labels: npt.NDArray[np.int64]
) -> tuple[float, float, int, int]:
    """Agreement of independent models with the flipped labels: ``(rate, upper, hits, trials)``.

    Why: the test's false-positive rate is only as good as this measurement; the upper bound is
    the one-sided 99 % Clopper-Pearson limit over all models and queries.
    """
    if len(independent) < 1 or len(queries) == 0:
        raise ConfigError("need at least one independent model and one watermark query")
    served = np.asarray(served_labels, dtype=np.int64)
    hits = sum(int(np.sum(_answers(m, queries) == served)) for m in independent)
    trials = len(independent) * len(queries)
    upper = float(stats.beta.ppf(0.99, hits + 1, trials - hits)) if hits < trials else 1.0
    return hits / trials, upper, hits, trials


def verify_api_watermark(
    suspect: Predict,
    queries: pd.DataFrame,
    served_labels: npt.NDArray[np.int64],
    *,
    null_rate_upper: float,
    null_rate: float | None = None,
) -> WatermarkEvidence:
    """Test whether ``suspect`` reproduces the flipped answers of the recorded queries.

    Parameters
    ----------
    suspect
        Label function of the suspected surrogate (rows in UCI layout -> 0/1).
    queries, served_labels
        The watermark queries recorded by the service and the flipped labels it served.
    null_rate_upper
        Conservative agreement rate of independent models (see :func:`null_agreement_rate`).
    null_rate
        The measured rate, reported only.
    """
    if not 0.0 < null_rate_upper < 1.0:
        raise ConfigError("null_rate_upper must lie in (0, 1)")
    if len(queries) == 0 or len(queries) != len(served_labels):
        raise ConfigError("need one served label per watermark query, and at least one query")
    matches = int(np.sum(_answers(suspect, queries) == np.asarray(served_labels)))
    n = len(queries)
    p_value = float(stats.binom.sf(matches - 1, n, null_rate_upper)) if matches else 1.0
    return WatermarkEvidence(
        queries=n,
        matches=matches,
        null_rate=null_rate_upper if null_rate is None else null_rate,
        null_rate_upper=null_rate_upper,
        p_value=p_value,
    )
