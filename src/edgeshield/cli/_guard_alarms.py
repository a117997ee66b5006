"""``edgeshield guard alarms`` and ``guard clear-alarm``: review and clear PRADA alarms."""

from __future__ import annotations

from typing import Annotated

import typer

from edgeshield.cli._render import console

__all__ = ["alarms_cmd", "clear_alarm_cmd"]

DbOption = Annotated[str, typer.Option("--db", help="SQLAlchemy URL of the guard's state.")]


def alarms_cmd(db: DbOption = "sqlite:///guard-state.db") -> None:
    """List the clients with a standing extraction alarm and the detector's reason."""
    from edgeshield.guard import GuardStore
    from edgeshield.guard._alarms import review_alarms

    store = GuardStore(db)
    try:
        reviews = review_alarms(store)
    finally:
        store.close()
    if not reviews:
        console.print("no standing alarms")
    for r in reviews:
        console.print(f"{r.client_id}: alarm after {r.alarm_at} of {r.queries} queries; {r.reason}")


def clear_alarm_cmd(
    client: Annotated[str, typer.Option("--client", help="Client id.")],
    note: Annotated[str, typer.Option("--note", help="Why the alarm is cleared (audited).")],
    db: DbOption = "sqlite:///guard-state.db",
) -> None:
    """Clear a reviewed false alarm (audited; the client's distance history is dropped)."""
    from edgeshield.guard import GuardStore
    from edgeshield.guard._alarms import clear_alarm

    store = GuardStore(db)
    try:
        clear_alarm(store, client, note=note)
    finally:
        store.close()
    console.print(f"alarm of {client} cleared")
