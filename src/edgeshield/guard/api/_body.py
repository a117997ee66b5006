"""Reading request bodies safely: size, time and nesting bounded, the key checked first.

Why: the body is the one input an unauthenticated stranger fully controls. The stdlib JSON
parser recurses once per nesting level, so a 200 KB body of ``[`` overflows the C stack when
another library (``py_ecc``, loaded with the ledger stack) has raised the recursion limit. The
guard therefore (1) authenticates before it reads the body, (2) bounds its size (413, declared
or streamed) and the time to receive it (408), (3) measures the nesting depth without
recursion before :func:`json.loads` sees it, and (4) lowers a raised recursion limit when it
starts serving (:func:`restore_recursion_limit`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any, Final

import numpy as np
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from edgeshield.errors import RequestDeniedError

__all__ = [
    "MAX_JSON_DEPTH",
    "SAFE_RECURSION_LIMIT",
    "AuthenticatedJSONRoute",
    "BodyLimit",
    "json_depth",
    "loads_bounded",
    "restore_recursion_limit",
]

_log = logging.getLogger(__name__)

MAX_JSON_DEPTH: Final = 8
"""Deepest nesting a request body may have (a prediction request needs 3)."""

SAFE_RECURSION_LIMIT: Final = 1000
"""CPython's default recursion limit: deep enough for the service, far from the C stack."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A JSON string, or an unterminated one running to the end: every '"' starts a match, so the
# substitution is one linear pass (no retry from each later quote).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def restore_recursion_limit(limit: int = SAFE_RECURSION_LIMIT) -> int:
    """Lower the interpreter's recursion limit to ``limit`` if a library raised it.

    Returns
    -------
    int
        The limit found before (``py_ecc`` sets 100,000 at import).
    """
    before = sys.getrecursionlimit()
    if before > limit:
        sys.setrecursionlimit(limit)
        _log.info("recursion limit lowered from %d to %d for serving", before, limit)
    return before


def json_depth(data: bytes) -> int:
    """Deepest bracket nesting of a JSON text, measured without recursion.

    String contents are skipped; a text that closes more than it opened counts as infinitely
    deep (it is not JSON, and the parser must not see it).
    """
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    running = np.cumsum(steps)
    if int(running.min()) < 0:
        return sys.maxsize
    return int(running.max())


def loads_bounded(data: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON whose nesting is at most ``max_depth``; 400 otherwise.

    Raises
    ------
    RequestDeniedError
        400: nested deeper than ``max_depth`` (checked before the parser runs).
    ValueError
        Not UTF-8, not JSON, an object with a repeated key (a filter that reads the first
        and a model that reads the last would see different records), or an integer too long
        to convert: always :class:`json.JSONDecodeError`, which FastAPI answers 422.
    """
    if json_depth(data) > max_depth:
        raise RequestDeniedError(
            f"request body nests deeper than {max_depth} levels", status_code=400
        )
    try:
        return json.loads(data, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # a repeated key, or an integer over Python's digit limit
        raise json.JSONDecodeError(str(exc), data.decode("utf-8", "replace"), 0) from exc


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key that appears twice."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r} in a JSON object")
        out[key] = value
    return out


class _BoundedJSONRequest(Request):
    """A request whose ``json()`` goes through :func:`loads_bounded`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = loads_bounded(await self.body())
            except RequestDeniedError as exc:
                # FastAPI turns any other exception from here into a generic 400.
                raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
        return self._json


class AuthenticatedJSONRoute(APIRoute):
    """A route that checks the API key before reading the body, then parses it bounded.

    The application's ``state.guard`` (a :class:`GuardService`) authenticates the
    ``X-API-Key`` header; a missing or unknown key is answered 401 without reading a byte
    of the body.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler: authenticate, then hand on a bounded-JSON request."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            request.app.state.guard.authenticate(request.headers.get("x-api-key"))
            return await handler(_BoundedJSONRequest(request.scope, request.receive))

        return guarded


class _BodyLimitError(HTTPException):
    """413 or 408 while receiving; an ``HTTPException`` so FastAPI's body reader passes it on."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status_code=status, detail=detail)
        self.message = detail


class BodyLimit:
    """ASGI middleware: 413 above ``limit`` bytes (declared or streamed), 408 after ``timeout_s``.

    The timeout covers receiving the whole body, from the first read to the last chunk, so
    a client that declares more than it sends is answered instead of holding a worker.
    """

    def __init__(self, app: ASGIApp, *, limit: int, timeout_s: float = 10.0) -> None:
        self.app = app
        self.limit = limit
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _answer(send, 413, f"request body exceeds the limit of {self.limit} bytes")
            return
        seen = 0
        done = False
        started = False
        deadline: float | None = None
        loop = asyncio.get_running_loop()

        async def limited_receive() -> Message:
            nonlocal seen, done, deadline
            if done:
                return await receive()  # after the body: only a disconnect can come
            if deadline is None:
                deadline = loop.time() + self.timeout_s
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise _BodyLimitError(
                    408, f"request body not received within {self.timeout_s:g} s"
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyLimitError(
                        413, f"request body exceeds the limit of {self.limit} bytes"
                    )
                done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyLimitError as exc:
            if not started:
                await _answer(send, exc.status_code, exc.message)


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
