"""Review and clear PRADA alarms: the operator's answer to a false alarm.

Why: with ``--alarm-action block`` a false alarm is otherwise a permanent 403 (issue 15). An
operator lists the alarmed clients with the detector's reason, and clears one after review;
the clearing is audited, and the client's distance history is dropped so that the same
readings do not raise the alarm again at the next test (its growing set is kept).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from edgeshield.errors import GuardError
from edgeshield.guard._store import GuardStore, audit_table, clients_table, distances_table

__all__ = ["AlarmReview", "clear_alarm", "review_alarms"]


@dataclass(frozen=True, kw_only=True)
class AlarmReview:
    """One alarmed client: when the alarm came, its reason and the client's query count."""

    client_id: str
    alarm_at: int
    queries: int
    reason: str


def review_alarms(store: GuardStore) -> list[AlarmReview]:
    """Every client with a standing alarm, with the audit log's reason."""
    with store.transaction() as conn:
        rows = conn.execute(
            sa.select(clients_table)
            .where(clients_table.c.alarm_at.is_not(None))
            .order_by(clients_table.c.client_id)
        ).all()
        out = []
        for row in rows:
            reason = conn.execute(
                sa.select(audit_table.c.detail)
                .where(audit_table.c.client_id == row.client_id, audit_table.c.event == "alarm")
                .order_by(audit_table.c.id.desc())
                .limit(1)
            ).scalar()
            out.append(
                AlarmReview(
                    client_id=row.client_id,
                    alarm_at=int(row.alarm_at),
                    queries=int(row.queries),
                    reason=reason or "",
                )
            )
    return out


def clear_alarm(store: GuardStore, client_id: str, *, note: str, at: float | None = None) -> None:
    """Clear a client's alarm after review; the note goes to the audit log.

    Raises
    ------
    GuardError
        The client has no standing alarm, or the note is empty.
    """
    if not note.strip():
        raise GuardError("say why the alarm is cleared (--note)")
    with store.transaction() as conn:
        row = conn.execute(
            sa.select(clients_table).where(clients_table.c.client_id == client_id)
        ).first()
        if row is None or row.alarm_at is None:
            raise GuardError(f"client {client_id!r} has no standing alarm")
        conn.execute(
            clients_table.update()
            .where(clients_table.c.client_id == client_id)
            .values(alarm_at=None)
        )
        conn.execute(distances_table.delete().where(distances_table.c.client_id == client_id))
        GuardStore.audit(
            conn,
            at=time.time() if at is None else at,
            client_id=client_id,
            event_name="cleared",
            records=0,
            total=int(row.queries),
            detail=f"alarm at {row.alarm_at} cleared: {note.strip()}",
        )
