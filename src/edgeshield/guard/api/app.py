"""The application factory: a :class:`GuardService` behind FastAPI, with clear 4xx bodies.

Why: no app or settings exist at import time (tests and workers each build their own), and
every way a request can be bad ends as a JSON ``{"detail": ...}`` with a 4xx status.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from edgeshield.errors import (
    ConfigError,
    GuardError,
    RequestDeniedError,
    StorageError,
    redact_urls,
)
from edgeshield.guard._clients import ClientRegistry
from edgeshield.guard._ledger_gate import LedgerLicenceGate, gate_from_licence
from edgeshield.guard._model import GuardedModel, open_classifier
from edgeshield.guard._service import GuardService
from edgeshield.guard._settings import GuardSettings
from edgeshield.guard._store import GuardStore
from edgeshield.guard.api._body import BodyLimit
from edgeshield.guard.api.deps import operator_token_hash
from edgeshield.guard.api.routes import health, operator, predict
from edgeshield.vault import DeviceKey, OwnerPublicKey

_log = logging.getLogger(__name__)

__all__ = ["build_service", "create_app"]


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
        licence_gate=_ledger_gate(settings, model),
    )


def _ledger_gate(settings: GuardSettings, model: GuardedModel) -> LedgerLicenceGate | None:
    """The ledger gate the licence asks for; a ledger reference is never ignored."""
    ref = model.licence.ledger
    if settings.rpc_url is None:
        if ref is not None:
            raise ConfigError(
                f"the licence is managed on the ledger (contract {ref.contract_address}): "
                "start with --rpc-url and --device-address"
            )
        return None
    if settings.device_address is None:
        raise ConfigError("--rpc-url needs --device-address (this gateway's ledger account)")
    if ref is None:
        raise ConfigError("--rpc-url given but the licence has no ledger reference")
    from edgeshield.errors import LedgerError
    from edgeshield.ledger import Chain

    try:
        chain = Chain.connect(settings.rpc_url)
    except LedgerError as exc:
        raise GuardError(f"guard cannot start: {exc}") from exc
    return gate_from_licence(
        model.licence, chain, device=settings.device_address, ttl_s=settings.ledger_ttl_s
    )


def create_app(
    settings: GuardSettings | None = None,
    *,
    service: GuardService | None = None,
    max_body_bytes: int | None = None,
    body_timeout_s: float | None = None,
    operator_token: str | None = None,
) -> FastAPI:
    """Build the guard application from settings (or an already built service, for tests).

    Parameters
    ----------
    settings
        Everything the service needs (default: read from the environment).
    service
        An already built service (then ``settings`` only supplies the HTTP limits).
    max_body_bytes, body_timeout_s
        Override the body size limit (413) and the time to receive a body (408).
    operator_token
        Opens the operator surfaces (metrics, health details, OpenAPI, docs) to
        ``Authorization: Bearer <token>``; default: the settings' token, else closed.

    Raises
    ------
    GuardError
        The service cannot start (see :func:`build_service`).
    """
    if service is None:
        settings = settings if settings is not None else GuardSettings()
        service = build_service(settings)
    limit = max_body_bytes or (settings.max_body_bytes if settings is not None else 1_000_000)
    timeout = body_timeout_s or (settings.body_timeout_s if settings is not None else 10.0)
    if operator_token is None and settings is not None and settings.operator_token is not None:
        operator_token = settings.operator_token.get_secret_value()
    if operator_token is not None and len(operator_token) < 32:
        raise ConfigError("the operator token must be at least 32 characters")
    app = FastAPI(
        title="EdgeShield guard",
        version="1",
        description="Guarded inference of the sealed failure classifier.",
        openapi_url=None,  # served by the operator router, behind the operator token
        docs_url=None,
        redoc_url=None,
    )
    app.state.guard = service
    app.state.operator_token_sha256 = operator_token_hash(operator_token)
    app.include_router(predict.predict_router(service.request_schema))
    app.include_router(health.router)
    app.include_router(operator.router)

    @app.exception_handler(RequestDeniedError)
    async def _denied(_: Request, exc: RequestDeniedError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(StorageError)
    async def _storage(_: Request, exc: StorageError) -> JSONResponse:
        _log.error("guard state database unavailable (503): %s", redact_urls(str(exc)))
        return JSONResponse(
            {"detail": "guard state database unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_errors(exc.errors())
        return JSONResponse({"detail": _summary(errors), "errors": errors}, status_code=422)

    app.add_middleware(BodyLimit, limit=limit, timeout_s=timeout)
    return app
