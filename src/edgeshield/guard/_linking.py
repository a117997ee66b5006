"""Link API keys that ask near-duplicate rows: one thief behind several keys (issue 15).

Why: PRADA and the quotas work per key, so a thief who asks the same rows through two keys and
keeps the answers both agree on looks like two ordinary clients. The growing-set points that
PRADA persists per key are enough to see it: two keys of one licence sharing many points within
``distance`` of each other are reported as linked, for the operator to review (the same
licence's clients are the only ones a guard serves, so linking is per licence).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from edgeshield.errors import ConfigError
from edgeshield.guard._store import GuardStore, clients_table, points_table

_log = logging.getLogger(__name__)

__all__ = ["ClientLink", "flag_linked", "linked_clients"]


@dataclass(frozen=True, kw_only=True)
class ClientLink:
    """Two keys and the share of the smaller one's points that the other nearly repeats."""

    first: str
    second: str
    shared: int
    share: float


def _points(store: GuardStore) -> dict[str, npt.NDArray[np.float64]]:
    out: dict[str, list[npt.NDArray[np.float64]]] = {}
    with store.transaction() as conn:
        for row in conn.execute(
            sa.select(points_table.c.client_id, points_table.c.vector).order_by(points_table.c.id)
        ):
            out.setdefault(row.client_id, []).append(np.frombuffer(row.vector, dtype="<f8"))
    return {k: np.vstack(v) for k, v in out.items()}


def linked_clients(
    store: GuardStore, *, distance: float = 0.3, min_shared: int = 20, min_share: float = 0.5
) -> list[ClientLink]:
    """Pairs of keys whose detector points nearly repeat each other's.

    Parameters
    ----------
    distance
        Two points closer than this (standardized units) are near-duplicates.
    min_shared, min_share
        A pair is linked when at least ``min_shared`` points, and at least ``min_share`` of the
        smaller key's points, have a near-duplicate in the other key's.
    """
    if distance <= 0 or min_shared < 1 or not 0 < min_share <= 1:
        raise ConfigError("need distance > 0, min_shared >= 1 and min_share in (0, 1]")
    points = _points(store)
    links = []
    for a, b in combinations(sorted(points), 2):
        small, large = sorted((points[a], points[b]), key=len)
        near = 0
        for i in range(0, len(small), 256):
            chunk = small[i : i + 256]
            d2 = (
                np.sum(chunk**2, axis=1)[:, None]
                - 2 * chunk @ large.T
                + np.sum(large**2, axis=1)[None, :]
            )
            near += int(np.sum(np.min(d2, axis=1) <= distance**2))
        share = near / len(small)
        if near >= min_shared and share >= min_share:
            links.append(ClientLink(first=a, second=b, shared=near, share=share))
    return links


def flag_linked(
    store: GuardStore, links: list[ClientLink], *, at: float | None = None
) -> list[str]:
    """Raise an alarm on every linked key without one, so the alarm action applies to it.

    The service reads a client's alarm from the database on its next request, so a running
    guard throttles or blocks the flagged keys at once; ``guard alarms`` shows the reason and
    ``guard clear-alarm`` undoes a wrong link after review. Returns the keys newly flagged.
    """
    now = time.time() if at is None else at
    partners: dict[str, list[ClientLink]] = {}
    for link in links:
        partners.setdefault(link.first, []).append(link)
        partners.setdefault(link.second, []).append(link)
    flagged = []
    with store.transaction() as conn:
        for client_id in sorted(partners):
            row = conn.execute(
                sa.select(clients_table).where(clients_table.c.client_id == client_id)
            ).first()
            if row is None or row.alarm_at is not None:
                continue
            others = ", ".join(
                f"{x.second if x.first == client_id else x.first} ({x.shared} near-duplicate"
                f" points, {x.share:.0%} of the smaller key's)"
                for x in partners[client_id]
            )
            conn.execute(
                clients_table.update()
                .where(clients_table.c.client_id == client_id)
                .values(alarm_at=int(row.queries))
            )
            store.audit(
                conn,
                at=now,
                client_id=client_id,
                event_name="alarm",
                records=0,
                total=int(row.queries),
                detail=f"linked keys: asks the rows of {others}",
            )
            flagged.append(client_id)
            _log.warning("client %s flagged: linked keys %s", client_id, others)
    return flagged
