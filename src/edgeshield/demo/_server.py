"""A uvicorn server on a free loopback port, in a background thread, for the demo's service."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from edgeshield.errors import GuardError

__all__ = ["LocalServer"]


class LocalServer:
    """Serve ``app`` on ``127.0.0.1`` until :meth:`stop` (or the end of a ``with`` block)."""

    def __init__(self, app: FastAPI, *, start_timeout_s: float = 30.0) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            ws="none",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._timeout = start_timeout_s

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server's thread is still alive (it may hold the port)."""
        return self._thread.is_alive()

    def start(self) -> LocalServer:
        """Start serving and wait until the server accepts connections.

        A server that does not come up in time is stopped before the error is raised, so a
        failed start leaves no thread behind.
        """
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise GuardError(f"the guard service did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Ask the server to exit and wait for it (nothing to do if it never started)."""
        self._server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(timeout=self._timeout)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
