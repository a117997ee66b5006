"""The application factory: a :class:`GuardService` behind FastAPI, with clear 4xx bodies.

Why: no app or settings exist at import time (tests and workers each build their own), and
every way a request can be bad ends as a JSON ``{"detail": ...}`` with a 4xx status.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from edgeshield.errors import ConfigError, GuardError, RequestDeniedError, StorageError
from edgeshield.guard._clients import ClientRegistry
from edgeshield.guard._model import open_classifier
from edgeshield.guard._service import GuardService
from edgeshield.guard._settings import GuardSettings
from edgeshield.guard._store import GuardStore
from edgeshield.guard.api.routes import health, predict
from edgeshield.vault import DeviceKey, OwnerPublicKey

__all__ = ["build_service", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``limit`` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(self.limit, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await _too_large(self.limit, send)


class _BodyTooLargeError(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    body = f'{{"detail":"request body exceeds the limit of {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without the offending input (may hold NaN, not JSON-serializable)."""
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in errors
    ]


def _summary(errors: list[dict[str, Any]]) -> str:
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(x) for x in first["loc"] if x != "body") or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid request: {where}: {first['msg']}{more}"


def build_service(settings: GuardSettings) -> GuardService:
    """Open the bundle and the state database described by ``settings``.

    Raises
    ------
    GuardError
        The bundle, key or licence does not allow starting (the vault error is the cause).
    """
    passphrase = settings.device_key_passphrase
    device_key = DeviceKey.load(
        settings.device_key,
        passphrase=None if passphrase is None else passphrase.get_secret_value(),
    )
    owner = OwnerPublicKey.load(settings.owner_public_key)
    try:
        licence = settings.licence.read_text()
    except OSError as exc:
        raise GuardError(f"guard cannot start: cannot read licence {settings.licence}") from exc
    card = None
    if settings.card is not None:
        try:
            card = json.loads(settings.card.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read model card {settings.card}: {exc}") from exc
    model = open_classifier(
        settings.bundle, device_key=device_key, owner_public_key=owner, licence=licence, card=card
    )
    clients = ClientRegistry.load(settings.clients)
    if not len(clients):
        raise StorageError(f"no API clients in {settings.clients}: add one with guard add-client")
    return GuardService(
        model,
        clients=clients,
        store=GuardStore(settings.database_url),
        watermark_secret=settings.watermark_secret.get_secret_value().encode(),
        config=settings.guard_config(),
    )


def create_app(
    settings: GuardSettings | None = None,
    *,
    service: GuardService | None = None,
    max_body_bytes: int | None = None,
) -> FastAPI:
    """Build the guard application from settings (or an already built service, for tests).

    Raises
    ------
    GuardError
        The service cannot start (see :func:`build_service`).
    """
    if service is None:
        settings = settings if settings is not None else GuardSettings()
        service = build_service(settings)
    limit = max_body_bytes or (settings.max_body_bytes if settings is not None else 1_000_000)
    app = FastAPI(
        title="EdgeShield guard",
        version="1",
        description="Guarded inference of the sealed failure classifier.",
    )
    app.state.guard = service
    app.include_router(predict.router)
    app.include_router(health.router)

    @app.exception_handler(RequestDeniedError)
    async def _denied(_: Request, exc: RequestDeniedError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(StorageError)
    async def _storage(_: Request, exc: StorageError) -> JSONResponse:
        return JSONResponse(
            {"detail": "guard state database unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_errors(exc.errors())
        return JSONResponse({"detail": _summary(errors), "errors": errors}, status_code=422)

    app.add_middleware(BodyLimit, limit=limit)
    return app
