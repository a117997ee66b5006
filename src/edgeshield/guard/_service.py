"""The guard's request path without HTTP: authenticate, limit, predict, detect, mark, harden.

Why: the same code serves the FastAPI routes, the tests and the benchmark, and every decision
for a request (quota, bucket, detector, audit) commits in one database transaction, so a
crash or restart never leaves an answered request unaudited or uncounted.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from edgeshield.errors import ConfigError, LicenceError, RequestDeniedError
from edgeshield.guard._clients import ClientRegistry, ClientSpec
from edgeshield.guard._hardening import HardeningConfig, harden
from edgeshield.guard._ledger_gate import LicenceGate
from edgeshield.guard._metrics import GuardMetrics
from edgeshield.guard._model import GuardedModel
from edgeshield.guard._prada import PradaConfig, PradaState, prada_observe
from edgeshield.guard._schema import PredictResponse, RequestSchema, request_schema
from edgeshield.guard._store import GuardStore
from edgeshield.guard._watermark import (
    ApiWatermark,
    CellKind,
    CellLayout,
    FlipBudget,
    budget_cells,
)
from edgeshield.usecase import DatasetSchema, default_schema, feature_matrix
from edgeshield.vault import Clock, system_clock

_log = logging.getLogger(__name__)

__all__ = ["AlarmAction", "GuardConfig", "GuardService", "PradaLayout", "prada_inputs"]

_EPS = 1e-7
#: The longest ``Retry-After`` a rate-limited client is told (a day): a slow bucket's exact
#: wait could exceed any integer the header should carry.
MAX_RETRY_AFTER_S = 86_400
#: How long a refusal is repeated without running the model (seconds; a rate limit's own
#: wait when shorter): a client whose quota or bucket is spent, or that is blocked, costs no
#: inference per request. Short, so an operator's change (quota, clear-alarm) soon applies.
DENIAL_MEMORY_S = 5.0
#: What a client is told when the licence stops the service (the reason goes to the log).
LICENCE_INVALID = "licence no longer valid; contact the operator"


@dataclass(frozen=True)
class PradaLayout:
    """Where PRADA's inputs sit in the encoded matrix of one dataset schema.

    Distances are measured on the standardized numeric *input columns* a client chooses (for
    AI4I the five sensors): derived features are functions of them and would blur the fixed
    step of a synthetic attack. Groups are (predicted class, level of the first category input).
    """

    columns: tuple[int, ...]
    levels: int
    """Levels of the first category input (1 when there is none)."""
    level_start: int
    """Offset of that input's one-hot block from the matrix's end (0 when there is none)."""

    @classmethod
    def of(cls, schema: DatasetSchema | None = None) -> PradaLayout:
        """The layout of a dataset schema (AI4I 2020 when ``None``)."""
        schema = default_schema() if schema is None else schema
        numeric = schema.numeric_features
        columns = tuple(i for i, f in enumerate(numeric) if f in schema.by_name)
        if not columns:  # only derived numeric features: use them all
            columns = tuple(range(len(numeric)))
        one_hot = sum(len(c.levels) for c in schema.category_features)
        if not columns:
            columns = tuple(range(-one_hot, 0))
        if not schema.category_features:
            return cls(columns, 1, 0)
        return cls(columns, len(schema.category_features[0].levels), one_hot)


def prada_inputs(
    encoded: npt.NDArray[np.floating[Any]],
    labels: npt.NDArray[np.int64],
    layout: PradaLayout | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """PRADA's vectors (standardized input columns) and groups (predicted class, category).

    One place, so that benchmarks replay exactly what the service feeds the detector.
    """
    layout = PradaLayout.of() if layout is None else layout
    vectors = encoded[:, list(layout.columns)].astype(np.float64)
    if layout.level_start == 0:
        return vectors, labels.astype(np.int64)
    end = encoded.shape[1] - layout.level_start + layout.levels
    block = encoded[:, encoded.shape[1] - layout.level_start : end]
    groups = labels * layout.levels + np.argmax(block, axis=1)
    return vectors, groups


class AlarmAction(StrEnum):
    """What happens to a client once PRADA raises an alarm."""

    LOG = "log"
    THROTTLE = "throttle"
    BLOCK = "block"


@dataclass(frozen=True, kw_only=True)
class GuardConfig:
    """Service behaviour.

    Parameters
    ----------
    max_batch
        Records per request (larger batches get 413).
    alarm_action, throttle_factor
        Reaction to an extraction alarm; throttling scales the client's rate and burst.
    detect
        Run PRADA (off only to measure its cost).
    prada
        Detector parameters.
    hardening
        Parameters of the output tiers.
    watermark_rate
        Share of cells the API watermark marks, and the cap on each client's share of altered
        answers at every new honoured cell (its flip budget); 0 disables it.
    """

    max_batch: int = 256
    alarm_action: AlarmAction = AlarmAction.THROTTLE
    throttle_factor: float = 0.1
    detect: bool = True
    prada: PradaConfig = field(default_factory=PradaConfig)
    hardening: HardeningConfig = field(default_factory=HardeningConfig)
    watermark_rate: float = 0.005

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch <= 1024:
            raise ConfigError(f"max_batch must lie in [1, 1024], got {self.max_batch}")
        if not 0.0 < self.throttle_factor <= 1.0:
            raise ConfigError("throttle_factor must lie in (0, 1]")
        if not 0.0 <= self.watermark_rate <= 0.005:
            raise ConfigError("watermark_rate must lie in [0, 0.005]")


@dataclass(frozen=True, kw_only=True)
class _Refusal:
    """A client's last refusal, repeated without inference for a request no smaller."""

    spec: ClientSpec  # the client's settings it was decided under (a reload forgets it)
    records: int
    until: float
    retry_at: float | None  # when the rate limit lets a request of ``records`` through
    error: RequestDeniedError
    detail: str
    total: int


def _logit(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


class GuardService:
    """Serves one sealed model to registered clients, with every defence.

    Parameters
    ----------
    model
        The classifier opened from its bundle, with its licence.
    clients
        Registered API clients.
    store
        Persisted state (shared by all workers).
    watermark_secret
        Key of the API watermark's selection (at least 32 bytes).
    config
        Service behaviour.
    clock
        Wall-clock seconds for token buckets and the audit log.
    licence_clock
        Source of the current time for the licence window (checked on every request).
    licence_gate
        The licence's live state, e.g. a :class:`LedgerLicenceGate` on the ModelLicence
        contract: while it returns a reason, every request is refused with 403.
    """

    def __init__(
        self,
        model: GuardedModel,
        *,
        clients: ClientRegistry,
        store: GuardStore,
        watermark_secret: bytes,
        config: GuardConfig | None = None,
        clock: Callable[[], float] = time.time,
        licence_clock: Clock = system_clock,
        licence_gate: LicenceGate | None = None,
    ) -> None:
        self.model = model
        self._licence_gate = licence_gate
        self.clients = clients
        self.store = store
        self.config = config or GuardConfig()
        schema = model.classifier.schema
        self.request_schema: RequestSchema = request_schema(schema)
        self._prada_layout = PradaLayout.of(schema)
        self.watermark = (
            ApiWatermark(
                watermark_secret,
                rate=self.config.watermark_rate,
                layout=CellLayout.of(self.request_schema),
            )
            if self.config.watermark_rate > 0
            else None
        )
        if self.config.watermark_rate == 0 and len(watermark_secret) < 32:
            raise ConfigError("the watermark secret must be at least 32 bytes")
        self.metrics = GuardMetrics()
        self._last_licence_problem: str | None = None
        self._clock = clock
        self._licence_clock = licence_clock
        self._lock = threading.Lock()
        self._prada: dict[str, PradaState] = {}
        self._refused: dict[str, _Refusal] = {}
        quota = model.licence.query_quota
        used = store.ensure_licence(model.licence.token_id)  # survives restarts
        self.metrics.licence_remaining.set(-1 if quota is None else max(0, quota - used))

    # -- checks --------------------------------------------------------------------------

    def authenticate(self, api_key: str | None) -> ClientSpec:
        """The client owning ``api_key``; 401 when it is missing or unknown."""
        if not api_key:
            raise RequestDeniedError(
                "missing API key: send it in the X-API-Key header",
                status_code=401,
                headers={"WWW-Authenticate": "ApiKey"},
            )
        spec = self.clients.authenticate(api_key)
        if spec is None:
            raise RequestDeniedError(
                "invalid API key", status_code=401, headers={"WWW-Authenticate": "ApiKey"}
            )
        return spec

    def _check_licence(self) -> None:
        lic = self.model.licence
        try:
            lic.check(
                device=self.model.device,
                model_digest=self.model.model_digest,
                clock=self._licence_clock,
            )
        except LicenceError as exc:
            self._licence_problem(str(exc))  # the reason goes to the operator's log
            raise RequestDeniedError(LICENCE_INVALID, status_code=403) from exc
        if self._licence_gate is not None:
            reason = self._licence_gate()
            if reason is not None:
                self._licence_problem(reason)
                raise RequestDeniedError(LICENCE_INVALID, status_code=403)
        self._last_licence_problem = None

    def _licence_problem(self, reason: str) -> None:
        """Log why requests are refused, once per reason (not once per refused request)."""
        if reason != self._last_licence_problem:
            _log.warning("licence no longer valid, refusing every request: %s", reason)
            self._last_licence_problem = reason

    def _prada_state(self, conn: object, client_id: str, observed: int) -> PradaState:
        cached = self._prada.get(client_id)
        if cached is not None and cached.observed == observed:
            return cached
        state = self.store.load_prada(
            conn,  # type: ignore[arg-type]
            client_id,
            dim=len(self._prada_layout.columns),
            window=self.config.prada.window,
        )
        state.observed = observed
        if cached is not None:  # another worker moved on: keep this one's recent queries
            state.recent = cached.recent
        self._prada[client_id] = state
        return state

    def _honoured_kinds(
        self, conn: Connection, client_id: str, records: Sequence[BaseModel], *, answered: int
    ) -> npt.NDArray[np.int64]:
        """Each record's cell kind where the cell is honoured for this client, else NONE.

        Why: the per-client flip budget (:func:`budget_cells`) decides a client's new cells
        once, in this transaction; the stored decision stands when another worker won a race.
        """
        mark = self.watermark
        assert mark is not None
        cells = mark.cells(records)
        kinds = np.asarray([mark.kind_of_cell(c) for c in cells], dtype=np.int64)
        watched = kinds != CellKind.NONE
        if not watched.any():
            return kinds
        digests = [mark.cell_digest(c) if w else "" for c, w in zip(cells, watched, strict=True)]
        known = self.store.watermark_cells(conn, client_id, [d for d in digests if d])
        budget = self.store.watermark_budget(conn, client_id)

        def decide(
            known: dict[str, bool],
        ) -> tuple[npt.NDArray[np.bool_], dict[str, bool], FlipBudget]:
            return budget_cells(
                kinds,
                digests,
                known,
                budget,
                answered=answered,
                rate=mark.rate,
                control_rate=mark.control_rate,
            )

        honoured, new, after = decide(known)
        if new:
            stood = self.store.decide_watermark_cells(conn, client_id, new)
            if stood != new:  # another worker decided first: answer as it did
                honoured, _, after = decide(known | stood)
        self.store.update_watermark_budget(conn, client_id, after)
        return np.where(honoured, kinds, CellKind.NONE).astype(np.int64)

    # -- the request path ----------------------------------------------------------------

    def predict(self, api_key: str | None, records: Sequence[BaseModel]) -> PredictResponse:
        """Answer a batch for the client owning ``api_key``, or raise :class:`RequestDeniedError`.

        Raises
        ------
        RequestDeniedError
            401 (key), 403 (blocked client or licence), 413 (batch), 429 (quota or rate).
        """
        started = time.perf_counter()
        try:
            response = self._predict(api_key, records)
        except RequestDeniedError as exc:
            self.metrics.requests.labels(status=str(exc.status_code)).inc()
            raise
        self.metrics.requests.labels(status="200").inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        return response

    def _predict(self, api_key: str | None, records: Sequence[BaseModel]) -> PredictResponse:
        spec = self.authenticate(api_key)
        n = len(records)
        if n > self.config.max_batch:
            raise RequestDeniedError(
                f"batch of {n} records exceeds the limit of {self.config.max_batch}",
                status_code=413,
            )
        self._check_licence()
        self._repeat_refusal(spec, n)
        classifier = self.model.classifier
        x = feature_matrix(self.request_schema.frame(records), classifier.schema)
        encoded = classifier.encoder.transform_matrix(x)
        p = classifier.model.predict_proba(encoded)
        labels = (p >= classifier.threshold).astype(np.int64)
        vectors, groups = prada_inputs(encoded, labels, self._prada_layout)
        with self._lock:
            denial, served_p, served_labels = self._commit(
                spec, records, p, labels, vectors, groups
            )
        if denial is not None:
            raise denial
        predictions = harden(
            served_p,
            served_labels,
            spec.tier,
            threshold=classifier.threshold,
            config=self.config.hardening,
        )
        return PredictResponse(
            model_id=self.model.model_id, tier=spec.tier, predictions=predictions
        )

    def _repeat_refusal(self, spec: ClientSpec, n: int) -> None:
        """Refuse again, before the model runs, what was refused moments ago (audited)."""
        last = self._refused.get(spec.client_id)
        if last is None:
            return
        now = self._clock()
        if last.spec != spec or now >= last.until:
            self._refused.pop(spec.client_id, None)
            return
        if n < last.records:
            return
        error = last.error
        if last.retry_at is not None:
            wait = min(max(1, math.ceil(last.retry_at - now)), MAX_RETRY_AFTER_S)
            error = RequestDeniedError(
                str(error), status_code=error.status_code, headers={"Retry-After": str(wait)}
            )
        with self.store.transaction() as conn:
            self.store.audit(
                conn,
                at=now,
                client_id=spec.client_id,
                event_name="denied",
                records=n,
                total=last.total,
                detail=f"{error.status_code}: {last.detail}",
            )
        raise error

    def _commit(
        self,
        spec: ClientSpec,
        records: Sequence[BaseModel],
        p: npt.NDArray[np.float64],
        labels: npt.NDArray[np.int64],
        vectors: npt.NDArray[np.float64],
        groups: npt.NDArray[np.int64],
    ) -> tuple[RequestDeniedError | None, npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        n = len(records)
        now = self._clock()
        cid = spec.client_id
        lic = self.model.licence
        with self.store.transaction() as conn:
            state = self.store.client(conn, cid, burst=spec.burst, now=now)
            alarmed = state.alarm_at is not None
            rate, burst = spec.rate_per_s, spec.burst
            if alarmed and self.config.alarm_action is AlarmAction.THROTTLE:
                rate *= self.config.throttle_factor
                burst = max(1.0, burst * self.config.throttle_factor)
            tokens = min(burst, state.tokens + rate * max(0.0, now - state.refilled_at))
            denial: RequestDeniedError | None = None
            why = ""  # the audit's reason where it says more than the client is told
            remember = DENIAL_MEMORY_S
            retry_at: float | None = None
            used = 0
            if alarmed and self.config.alarm_action is AlarmAction.BLOCK:
                # Says no more than a revoked client would see: whether a client was flagged
                # is for the operator (audit log), not for the client.
                denial = RequestDeniedError(
                    f"client {cid} is blocked; contact the operator", status_code=403
                )
            elif spec.quota is not None and state.queries + n > spec.quota:
                denial = RequestDeniedError(
                    f"client query quota exhausted ({state.queries} of {spec.quota} used)",
                    status_code=429,
                )
            elif n > burst:
                denial = RequestDeniedError(
                    f"batch of {n} records exceeds this client's burst of {int(burst)}",
                    status_code=429,
                )
            elif tokens < n:
                remember = min(remember, (n - tokens) / rate)
                retry_at = now + (n - tokens) / rate
                wait = min(math.ceil((n - tokens) / rate), MAX_RETRY_AFTER_S)
                denial = RequestDeniedError(
                    f"rate limit: {rate:g} records/s; retry in {wait} s",
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )
            else:
                # One conditional UPDATE: exact however many workers share the database.
                total = self.store.consume_licence(conn, lic.token_id, n, quota=lic.query_quota)
                used = 0 if total is None else total
                if total is None:
                    spent = self.store.licence_used(conn, lic.token_id)
                    # the licence's quota and the other clients' use are the operator's
                    # (audit log, /v1/health/details), not the client's
                    denial = RequestDeniedError(
                        "licence query quota exhausted; contact the operator", status_code=429
                    )
                    why = f"licence query quota exhausted ({spent} of {lic.query_quota} used)"
            if denial is not None:
                self.store.update_client(conn, replace(state, tokens=tokens, refilled_at=now))
                self.store.audit(
                    conn,
                    at=now,
                    client_id=cid,
                    event_name="denied",
                    records=n,
                    total=state.queries,
                    detail=f"{denial.status_code}: {why or denial}",
                )
                self._refused[cid] = _Refusal(
                    spec=spec,
                    records=n,
                    until=now + remember,
                    retry_at=retry_at,
                    error=denial,
                    detail=why or str(denial),
                    total=state.queries,
                )
                return denial, p, labels
            self._refused.pop(cid, None)
            after = replace(state, tokens=tokens - n, refilled_at=now, queries=state.queries + n)
            if self.config.detect:
                prada = self._prada_state(conn, cid, state.observed)
                update = prada_observe(prada, vectors, groups, self.config.prada)
                self.store.save_prada(conn, cid, update.points, update.distances)
                after = replace(after, observed=prada.observed)
                if update.new_alarm and state.alarm_at is None:
                    after = replace(after, alarm_at=prada.alarm_at)
                    _log.warning(
                        "client %s: extraction alarm after %d queries (PRADA W=%.4f < %s, "
                        "p=%.1e); action %s",
                        cid,
                        prada.alarm_at,
                        update.w,
                        self.config.prada.delta,
                        update.p,
                        self.config.alarm_action.value,
                    )
                    self.store.audit(
                        conn,
                        at=now,
                        client_id=cid,
                        event_name="alarm",
                        records=n,
                        total=state.queries + n,
                        detail=f"PRADA W={update.w:.4f} < {self.config.prada.delta} "
                        f"(p={update.p:.1e}) after "
                        f"{prada.alarm_at} queries; action {self.config.alarm_action.value}",
                    )
                    self.metrics.alarms.inc()
            served_p, served_labels = p, labels
            if self.watermark is not None:
                kinds = self._honoured_kinds(conn, cid, records, answered=state.queries)
                mask = kinds == CellKind.MARKED
                if mask.any():
                    threshold = self.model.classifier.threshold
                    shift = float(_logit(np.asarray([threshold]))[0])
                    mirrored = 1.0 / (1.0 + np.exp(-(2.0 * shift - _logit(p))))
                    served_p = np.where(mask, mirrored, p)
                    served_labels = np.where(mask, 1 - labels, labels)
                # honoured marked answers and the unchanged honoured control answers: the
                # owner's test needs both; cells not honoured for this client are not recorded
                self.store.record_watermark(
                    conn,
                    cid,
                    now,
                    [
                        (self.request_schema.as_json(records[int(i)]), int(served_labels[i]))
                        for i in np.flatnonzero(kinds != CellKind.NONE)
                    ],
                )
            self.store.update_client(conn, after)
            self.store.audit(
                conn,
                at=now,
                client_id=cid,
                event_name="query",
                records=n,
                total=state.queries + n,
            )
        self.metrics.records.inc(n)
        if lic.query_quota is not None:
            self.metrics.licence_remaining.set(lic.query_quota - used)
        return None, served_p, served_labels
