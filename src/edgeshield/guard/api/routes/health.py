"""``GET /v1/health`` and ``GET /v1/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from edgeshield.guard.api.deps import ServiceDep

__all__ = ["router"]

router = APIRouter(tags=["service"])


class Health(BaseModel):
    """Liveness and what is being served."""

    status: str
    model_id: str
    model_digest: str
    licence_expires: str
    licence_quota: int | None


@router.get("/v1/health")
def health(service: ServiceDep) -> Health:
    """Liveness, the model served and its licence."""
    lic = service.model.licence
    return Health(
        status="ok",
        model_id=service.model.model_id,
        model_digest=service.model.model_digest,
        licence_expires=lic.expires.isoformat(),
        licence_quota=lic.query_quota,
    )


@router.get(
    "/v1/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(service: ServiceDep) -> Response:
    """Prometheus text exposition of the service's metrics."""
    return Response(content=service.metrics.render(), media_type=CONTENT_TYPE_LATEST)
