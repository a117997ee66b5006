"""Persisted guard state: quotas, token buckets, detector history, audit log, watermark book.

Why: a restart must lose nothing, an attacker must not reset its history by waiting for one,
and several workers must share one state. Any SQLAlchemy URL works; SQLite (WAL, immediate
transactions) is the default. Counters are exact on any SQL database: a request locks its
client's row (``SELECT ... FOR UPDATE``; SQLite's immediate transactions lock the file), the
licence quota is one conditional ``UPDATE ... WHERE queries + n <= quota RETURNING``, and rows
are created idempotently (a concurrent duplicate insert is rolled back to a savepoint).
The audit table is append-only: the store has no update or delete for it, and on SQLite
triggers refuse both.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from edgeshield.errors import StorageError, redact_urls
from edgeshield.guard._prada import PradaState
from edgeshield.guard._watermark import FlipBudget

_log = logging.getLogger(__name__)

__all__ = ["AuditRecord", "ClientState", "GuardStore", "WatermarkRecord"]

_meta = sa.MetaData()

clients_table = sa.Table(
    "guard_clients",
    _meta,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("queries", sa.BigInteger, nullable=False),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("refilled_at", sa.Float, nullable=False),
    sa.Column("observed", sa.BigInteger, nullable=False),
    sa.Column("alarm_at", sa.BigInteger, nullable=True),
)
licence_table = sa.Table(
    "guard_licence_usage",
    _meta,
    sa.Column("token_id", sa.String(64), primary_key=True),
    sa.Column("queries", sa.BigInteger, nullable=False),
)
audit_table = sa.Table(
    "guard_audit",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False, index=True),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("detail", sa.String(256), nullable=False),
)
points_table = sa.Table(
    "guard_prada_points",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.String(64), nullable=False, index=True),
    sa.Column("cls", sa.Integer, nullable=False),
    sa.Column("distance", sa.Float, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
)
distances_table = sa.Table(
    "guard_prada_distances",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.String(64), nullable=False, index=True),
    # The growing set the distance was measured in: the test centres each group's distances.
    sa.Column("cls", sa.Integer, nullable=False),
    sa.Column("distance", sa.Float, nullable=False),
)
watermark_table = sa.Table(
    "guard_watermark",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("query", sa.String(512), nullable=False),
    sa.Column("served_label", sa.Integer, nullable=False),
)
# Per (client, cell) whether the watermark honours the cell for that client, decided at the
# client's first query there and kept; the cell is named by a keyed digest, not its readings.
watermark_cells_table = sa.Table(
    "guard_watermark_cells",
    _meta,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("cell", sa.String(64), primary_key=True),
    sa.Column("honoured", sa.Boolean, nullable=False),
)
watermark_budget_table = sa.Table(
    "guard_watermark_budget",
    _meta,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("cells", sa.BigInteger, nullable=False),
    sa.Column("marked", sa.BigInteger, nullable=False),
    sa.Column("flips", sa.BigInteger, nullable=False),
)


# Statements built once (the request path runs them thousands of times per second).
def _never_served(url: str) -> str:
    return redact_urls(
        f"no guard state at {url}: give the --db URL that `guard serve` writes"
        " (default sqlite:///guard-state.db, relative to where it runs)"
    )


_SELECT_CLIENT = sa.select(clients_table).where(clients_table.c.client_id == sa.bindparam("cid"))
_LOCK_CLIENT = _SELECT_CLIENT.with_for_update()
_INSERT_CLIENT = clients_table.insert()
_UPDATE_CLIENT = (
    clients_table.update()
    .where(clients_table.c.client_id == sa.bindparam("cid"))
    .values(
        queries=sa.bindparam("queries"),
        tokens=sa.bindparam("tokens"),
        refilled_at=sa.bindparam("refilled_at"),
        observed=sa.bindparam("observed"),
        alarm_at=sa.bindparam("alarm_at"),
    )
)
_SELECT_LICENCE = sa.select(licence_table.c.queries).where(
    licence_table.c.token_id == sa.bindparam("tid")
)
_INSERT_LICENCE = licence_table.insert()
_ADD_LICENCE = (
    licence_table.update()
    .where(licence_table.c.token_id == sa.bindparam("tid"))
    .values(queries=licence_table.c.queries + sa.bindparam("n"))
    .returning(licence_table.c.queries)
)
_ADD_LICENCE_WITHIN = (
    licence_table.update()
    .where(
        licence_table.c.token_id == sa.bindparam("tid"),
        licence_table.c.queries + sa.bindparam("n") <= sa.bindparam("quota"),
    )
    .values(queries=licence_table.c.queries + sa.bindparam("n"))
    .returning(licence_table.c.queries)
)
_INSERT_AUDIT = audit_table.insert()
_INSERT_POINTS = points_table.insert()
_INSERT_DISTANCES = distances_table.insert()
_INSERT_WATERMARK = watermark_table.insert()
_INSERT_CELL = watermark_cells_table.insert()
_SELECT_CELLS = sa.select(watermark_cells_table.c.cell, watermark_cells_table.c.honoured).where(
    watermark_cells_table.c.client_id == sa.bindparam("cid"),
    watermark_cells_table.c.cell.in_(sa.bindparam("cells", expanding=True)),
)
_SELECT_BUDGET = sa.select(watermark_budget_table).where(
    watermark_budget_table.c.client_id == sa.bindparam("cid")
)
_INSERT_BUDGET = watermark_budget_table.insert()
_UPDATE_BUDGET = (
    watermark_budget_table.update()
    .where(watermark_budget_table.c.client_id == sa.bindparam("cid"))
    .values(cells=sa.bindparam("cells"), marked=sa.bindparam("marked"), flips=sa.bindparam("flips"))
)

_APPEND_ONLY = (
    "CREATE TRIGGER IF NOT EXISTS guard_audit_no_update BEFORE UPDATE ON guard_audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS guard_audit_no_delete BEFORE DELETE ON guard_audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
)


@dataclass(frozen=True, kw_only=True)
class ClientState:
    """A client's persisted counters."""

    client_id: str
    queries: int
    tokens: float
    refilled_at: float
    observed: int
    alarm_at: int | None


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """One audit entry: counts and decisions, never raw sensor data."""

    id: int
    at: float
    client_id: str
    event: str
    records: int
    total: int
    detail: str


@dataclass(frozen=True, kw_only=True)
class WatermarkRecord:
    """A watermarked answer: the query (evidence for the owner) and the flipped label served."""

    client_id: str
    at: float
    query: dict[str, Any]
    served_label: int


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _insert_once(conn: Connection, statement: sa.Insert, values: dict[str, Any]) -> None:
    """Insert a row unless another transaction just did (then its row stands)."""
    try:
        with conn.begin_nested():
            conn.execute(statement, values)
    except IntegrityError:
        pass


def _client_state(row: sa.Row[Any]) -> ClientState:
    """A ``clients`` row as the counters it holds."""
    return ClientState(
        client_id=row.client_id,
        queries=int(row.queries),
        tokens=float(row.tokens),
        refilled_at=float(row.refilled_at),
        observed=int(row.observed),
        alarm_at=None if row.alarm_at is None else int(row.alarm_at),
    )


def _owner_only(path: Path) -> None:
    """Create a new SQLite state file readable by its owner only; warn about a wider one.

    The state holds sensor readings (the watermark evidence, PRADA's points), so a new file is
    made 0600 before SQLite opens it; an existing file's mode is the operator's choice and is
    left alone, with a warning when others may read it.
    """
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    elif path.stat().st_mode & 0o077:
        _log.warning(
            "guard state %s holds sensor readings and is readable by others (mode %o)",
            path,
            path.stat().st_mode & 0o777,
        )


class GuardStore:
    """The guard's state in one SQL database.

    Parameters
    ----------
    url
        Any SQLAlchemy URL (``sqlite:///path/guard.db`` by default in the service).
    create
        Create the tables (the service). The review commands pass False: a state the
        service never wrote (a mistyped path) is an error, not an empty all-clear.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        try:
            parsed = sa.engine.make_url(url)
            is_sqlite = parsed.get_backend_name() == "sqlite"
            kwargs: dict[str, Any] = {}
            if is_sqlite:
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
                if parsed.database in (None, "", ":memory:"):
                    # One in-memory database shared by every thread (requests are serialized).
                    kwargs["poolclass"] = sa.pool.StaticPool
                elif not create and not Path(parsed.database).is_file():
                    raise StorageError(_never_served(url))
                else:
                    _owner_only(Path(parsed.database))
            self.engine = sa.create_engine(url, **kwargs)
            if not create and not sa.inspect(self.engine).has_table(clients_table.name):
                self.engine.dispose()
                raise StorageError(_never_served(url))
            if is_sqlite:
                _sqlite_setup(self.engine)
            _meta.create_all(self.engine)
            columns = {c["name"] for c in sa.inspect(self.engine).get_columns(distances_table.name)}
            if is_sqlite:
                with self.engine.begin() as conn:
                    for statement in _APPEND_ONLY:
                        conn.exec_driver_sql(statement)
        except (SQLAlchemyError, ValueError, OSError) as exc:
            raise StorageError(
                redact_urls(f"cannot open guard state database {url}: {exc}")
            ) from exc
        if "cls" not in columns:
            self.engine.dispose()
            raise StorageError(
                redact_urls(
                    f"the guard state database {url} keeps PRADA distances without their group:"
                    " it was written by an older version; start the service on a new state"
                    " database"
                )
            )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic unit of work; SQL errors become :class:`StorageError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"guard state database error: {exc}") from exc

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    # -- counters ------------------------------------------------------------------------

    @staticmethod
    def client(conn: Connection, client_id: str, *, burst: float, now: float) -> ClientState:
        """The client's row, locked until the transaction ends; created with a full bucket.

        Concurrent first requests of one client (several workers) create the row once.
        """
        row = conn.execute(_LOCK_CLIENT, {"cid": client_id}).one_or_none()
        if row is None:
            _insert_once(
                conn,
                _INSERT_CLIENT,
                {
                    "client_id": client_id,
                    "queries": 0,
                    "tokens": burst,
                    "refilled_at": now,
                    "observed": 0,
                    "alarm_at": None,
                },
            )
            row = conn.execute(_LOCK_CLIENT, {"cid": client_id}).one()
        return _client_state(row)

    @staticmethod
    def update_client(conn: Connection, state: ClientState) -> None:
        """Write all of a client's counters."""
        conn.execute(
            _UPDATE_CLIENT,
            {
                "cid": state.client_id,
                "queries": state.queries,
                "tokens": state.tokens,
                "refilled_at": state.refilled_at,
                "observed": state.observed,
                "alarm_at": state.alarm_at,
            },
        )

    @staticmethod
    def licence_used(conn: Connection, token_id: str) -> int:
        """Records served so far under a licence (all clients); 0 before the first."""
        value = conn.execute(_SELECT_LICENCE, {"tid": token_id}).scalar_one_or_none()
        return 0 if value is None else int(value)

    def ensure_licence(self, token_id: str) -> int:
        """Create the licence's usage row if absent (idempotent) and return its use so far."""
        with self.transaction() as conn:
            if conn.execute(_SELECT_LICENCE, {"tid": token_id}).scalar_one_or_none() is None:
                _insert_once(conn, _INSERT_LICENCE, {"token_id": token_id, "queries": 0})
            return self.licence_used(conn, token_id)

    @staticmethod
    def consume_licence(
        conn: Connection, token_id: str, records: int, *, quota: int | None
    ) -> int | None:
        """Count ``records`` against the licence if the quota allows; the new total or ``None``.

        One conditional ``UPDATE ... RETURNING``: the check and the increment are one atomic
        statement, so concurrent workers can never overshoot the quota.
        """
        if conn.execute(_SELECT_LICENCE, {"tid": token_id}).scalar_one_or_none() is None:
            _insert_once(conn, _INSERT_LICENCE, {"token_id": token_id, "queries": 0})
        if quota is None:
            total = conn.execute(_ADD_LICENCE, {"tid": token_id, "n": records}).scalar_one()
        else:
            total = conn.execute(
                _ADD_LICENCE_WITHIN, {"tid": token_id, "n": records, "quota": quota}
            ).scalar_one_or_none()
        return None if total is None else int(total)

    # -- audit ---------------------------------------------------------------------------

    @staticmethod
    def audit(
        conn: Connection,
        *,
        at: float,
        client_id: str,
        event_name: str,
        records: int,
        total: int,
        detail: str = "",
    ) -> None:
        """Append one audit record."""
        conn.execute(
            _INSERT_AUDIT,
            {
                "at": at,
                "client_id": client_id,
                "event": event_name,
                "records": records,
                "total": total,
                "detail": detail[:256],
            },
        )

    def audit_log(self, client_id: str | None = None) -> list[AuditRecord]:
        """All audit records, oldest first (optionally of one client)."""
        query = sa.select(audit_table).order_by(audit_table.c.id)
        if client_id is not None:
            query = query.where(audit_table.c.client_id == client_id)
        with self.transaction() as conn:
            rows = conn.execute(query).all()
        return [
            AuditRecord(
                id=r.id,
                at=r.at,
                client_id=r.client_id,
                event=r.event,
                records=r.records,
                total=r.total,
                detail=r.detail,
            )
            for r in rows
        ]

    def client_state(self, client_id: str) -> ClientState | None:
        """A client's persisted counters, if it ever queried."""
        with self.transaction() as conn:
            row = conn.execute(_SELECT_CLIENT, {"cid": client_id}).one_or_none()
        return None if row is None else _client_state(row)

    # -- detector ------------------------------------------------------------------------

    @staticmethod
    def save_prada(
        conn: Connection,
        client_id: str,
        points: list[tuple[int, npt.NDArray[np.float64], float]],
        distances: list[tuple[int, float]],
    ) -> None:
        """Append a batch's new growing-set points and (group, distance) pairs."""
        if points:
            conn.execute(
                _INSERT_POINTS,
                [
                    {
                        "client_id": client_id,
                        "cls": c,
                        "distance": d,
                        "vector": np.asarray(v, dtype="<f8").tobytes(),
                    }
                    for c, v, d in points
                ],
            )
        if distances:
            conn.execute(
                _INSERT_DISTANCES,
                [{"client_id": client_id, "cls": c, "distance": d} for c, d in distances],
            )

    @staticmethod
    def load_prada(conn: Connection, client_id: str, *, dim: int, window: int) -> PradaState:
        """Rebuild a client's detector state from the persisted rows."""
        state = PradaState(dim=dim, window=window)
        for row in conn.execute(
            sa.select(points_table.c.cls, points_table.c.distance, points_table.c.vector)
            .where(points_table.c.client_id == client_id)
            .order_by(points_table.c.id)
        ):
            vector = np.frombuffer(row.vector, dtype="<f8")
            if vector.shape != (dim,):
                raise StorageError(
                    f"the guard state holds {vector.size}-value PRADA points, this detector uses"
                    f" {dim}: it was written by another version; start the service on a new"
                    " state database"
                )
            state.add_point(int(row.cls), vector, row.distance)
        recent = conn.execute(
            sa.select(distances_table.c.cls, distances_table.c.distance)
            .where(distances_table.c.client_id == client_id)
            .order_by(distances_table.c.id.desc())
            .limit(window)
        ).all()
        for row in reversed(recent):
            state.add_distance(int(row.cls), float(row.distance))
        return state

    # -- watermark -----------------------------------------------------------------------

    @staticmethod
    def record_watermark(
        conn: Connection, client_id: str, at: float, rows: list[tuple[dict[str, Any], int]]
    ) -> None:
        """Record watermarked answers (query and flipped label served)."""
        if rows:
            conn.execute(
                _INSERT_WATERMARK,
                [
                    {
                        "client_id": client_id,
                        "at": at,
                        "query": json.dumps(q, sort_keys=True),
                        "served_label": label,
                    }
                    for q, label in rows
                ],
            )

    @staticmethod
    def watermark_budget(conn: Connection, client_id: str) -> FlipBudget:
        """A client's watermark counters (created at zero once; the client row is locked)."""
        row = conn.execute(_SELECT_BUDGET, {"cid": client_id}).one_or_none()
        if row is None:
            _insert_once(
                conn, _INSERT_BUDGET, {"client_id": client_id, "cells": 0, "marked": 0, "flips": 0}
            )
            row = conn.execute(_SELECT_BUDGET, {"cid": client_id}).one()
        return FlipBudget(cells=int(row.cells), marked=int(row.marked), flips=int(row.flips))

    @staticmethod
    def update_watermark_budget(conn: Connection, client_id: str, budget: FlipBudget) -> None:
        """Write a client's watermark counters."""
        conn.execute(
            _UPDATE_BUDGET,
            {
                "cid": client_id,
                "cells": budget.cells,
                "marked": budget.marked,
                "flips": budget.flips,
            },
        )

    @staticmethod
    def watermark_cells(conn: Connection, client_id: str, cells: list[str]) -> dict[str, bool]:
        """The stored decisions (honoured or not) among ``cells`` (keyed digests) of a client."""
        if not cells:
            return {}
        rows = conn.execute(_SELECT_CELLS, {"cid": client_id, "cells": sorted(set(cells))})
        return {r.cell: bool(r.honoured) for r in rows}

    def decide_watermark_cells(
        self, conn: Connection, client_id: str, decisions: dict[str, bool]
    ) -> dict[str, bool]:
        """Store new (cell, honoured) decisions once each and return the decisions that stand.

        Why: two workers deciding the same client's cell at once must agree; the first insert
        wins and both read it back.
        """
        for cell, honoured in decisions.items():
            _insert_once(
                conn, _INSERT_CELL, {"client_id": client_id, "cell": cell, "honoured": honoured}
            )
        return self.watermark_cells(conn, client_id, list(decisions))

    def watermark_records(self, client_id: str | None = None) -> list[WatermarkRecord]:
        """All watermarked answers, oldest first (optionally of one client)."""
        query = sa.select(watermark_table).order_by(watermark_table.c.id)
        if client_id is not None:
            query = query.where(watermark_table.c.client_id == client_id)
        with self.transaction() as conn:
            rows = conn.execute(query).all()
        return [
            WatermarkRecord(
                client_id=r.client_id,
                at=r.at,
                query=json.loads(r.query),
                served_label=int(r.served_label),
            )
            for r in rows
        ]
