"""The operator surface: metrics, health details and the API description, behind a token.

Why: a client that can read counters after each query learns which of its answers the API
watermark altered and whether it was flagged (issue 15's metrics attack); the model digest,
quota and expiry help it plan. Every route here needs the operator token
(:func:`~edgeshield.guard.api.deps.require_operator`), never a client key.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from edgeshield.guard.api.deps import OperatorDep, ServiceDep

__all__ = ["router"]

router = APIRouter(tags=["operator"], dependencies=[OperatorDep])

_DENIED: dict[int | str, dict[str, Any]] = {
    401: {"description": "operator token missing or wrong"},
    403: {"description": "operator surfaces closed (no operator token configured)"},
}


class HealthDetails(BaseModel):
    """What is being served and its licence."""

    status: str
    pid: int
    model_id: str
    model_digest: str
    licence_expires: str
    licence_quota: int | None


@router.get("/v1/health/details", responses=_DENIED)
def health_details(service: ServiceDep) -> HealthDetails:
    """The model served and its licence (operator only)."""
    lic = service.model.licence
    return HealthDetails(
        status="ok",
        pid=os.getpid(),  # which worker answered (several behind one port)
        model_id=service.model.model_id,
        model_digest=service.model.model_digest,
        licence_expires=lic.expires.isoformat(),
        licence_quota=lic.query_quota,
    )


@router.get(
    "/v1/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}, **_DENIED},
)
def metrics(service: ServiceDep) -> Response:
    """Prometheus text exposition of the service's aggregate metrics (operator only)."""
    return Response(content=service.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> JSONResponse:
    """The OpenAPI description (operator only)."""
    return JSONResponse(request.app.openapi())


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    """Swagger UI (operator only; the browser must send the token)."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="EdgeShield guard")
