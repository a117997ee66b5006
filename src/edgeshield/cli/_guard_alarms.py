"""``edgeshield guard alarms``, ``clear-alarm`` and ``links``: review alarms and linked keys."""

from __future__ import annotations

from typing import Annotated

import typer

from edgeshield.cli._render import JsonOption, console, print_json

__all__ = ["alarms_cmd", "clear_alarm_cmd", "links_cmd"]

DbOption = Annotated[
    str, typer.Option("--db-url", "--db", help="SQLAlchemy URL of the guard's state.")
]


def alarms_cmd(db: DbOption = "sqlite:///guard-state.db", as_json: JsonOption = False) -> None:
    """List the clients with a standing extraction alarm and the detector's reason."""
    from edgeshield.guard import GuardStore, review_alarms

    store = GuardStore(db, create=False)
    try:
        reviews = review_alarms(store)
    finally:
        store.close()
    if as_json:
        print_json({"alarms": [vars(r) for r in reviews]})
        return
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
    from edgeshield.guard import GuardStore, clear_alarm

    store = GuardStore(db, create=False)
    try:
        clear_alarm(store, client, note=note)
    finally:
        store.close()
    console.print(f"alarm of {client} cleared")


def links_cmd(
    db: DbOption = "sqlite:///guard-state.db",
    distance: Annotated[
        float, typer.Option(min=0.01, max=5.0, help="Near-duplicate radius (standardized units).")
    ] = 0.3,
    min_shared: Annotated[int, typer.Option(min=1, help="Near-duplicate points needed.")] = 20,
    min_share: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Share of the smaller key's points needed.")
    ] = 0.5,
    flag: Annotated[
        bool,
        typer.Option("--flag", help="Raise an alarm on every linked key."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List keys that ask near-duplicate rows (one thief behind several keys); --flag alarms them.

    A running guard applies its alarm action (log, throttle, block) to a flagged key on its next
    request; ``guard alarms`` shows why, ``guard clear-alarm`` undoes a wrong link.
    """
    from edgeshield.guard import GuardStore, flag_linked, linked_clients

    store = GuardStore(db, create=False)
    try:
        links = linked_clients(store, distance=distance, min_shared=min_shared, min_share=min_share)
        flagged = flag_linked(store, links) if flag else []
    finally:
        store.close()
    if as_json:
        out: dict[str, object] = {"links": [vars(link) for link in links]}
        print_json(out | ({"flagged": flagged} if flag else {}))
        return
    if not links:
        console.print("no linked keys")
    for link in links:
        console.print(
            f"{link.first} <-> {link.second}: {link.shared} near-duplicate points"
            f" ({link.share:.0%} of the smaller key's)"
        )
    if flag:
        console.print(f"alarm raised on: {', '.join(flagged) or 'none (all already alarmed)'}")
