"""EdgeShield's HTTP/1.1 protocol for uvicorn: bounded request heads, read in bounded time.

Why: uvicorn's default parser (httptools) accepts request heads of any size, and its cost grows
faster than the size: one unauthenticated 100 MB header kept the event loop busy for about 20 s
of CPU. Neither parser times out a request head that never completes, so a client could hold
connections (and file descriptors) open forever. This protocol is uvicorn's h11 one with
h11's limit on an incomplete head (``MAX_HEAD_BYTES``: a larger head gets 400 and the
connection closes) and a deadline for every request head (``HEAD_TIMEOUT_S``, from the
connection or the previous response on: the connection closes when it passes). The guard
serves with it, and so do the SuperLink's listeners; the guard's body has its own limit and
deadline (``BodyLimit``: 413 / 408).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

__all__ = ["HEAD_TIMEOUT_S", "MAX_HEAD_BYTES", "PROTOCOL", "BoundedHTTPProtocol"]

#: The largest request line plus headers accepted (h11's default in uvicorn, 16 KiB; the
#: supervisor passes it explicitly).
MAX_HEAD_BYTES = 16 * 1024
#: Seconds a client has to send a whole request head once a request may start.
HEAD_TIMEOUT_S = 10.0
#: What ``uvicorn --http`` takes to use this protocol (the multi-worker supervisor).
PROTOCOL = "edgeshield._http:BoundedHTTPProtocol"


class BoundedHTTPProtocol(H11Protocol):
    """uvicorn's h11 protocol with a head-size limit and a head-read deadline."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole head arrived (or the peer erred)
            self._disarm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_head_deadline()  # the next request on this connection, if any

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(HEAD_TIMEOUT_S, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
