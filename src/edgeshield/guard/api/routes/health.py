"""``GET /v1/health``: liveness only, the same answer for everyone."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

__all__ = ["router"]

router = APIRouter(tags=["service"])


class Health(BaseModel):
    """Liveness; what is served and its licence are on the operator surface."""

    status: Literal["ok"]


@router.get("/v1/health")
def health() -> Health:
    """Liveness (no model, licence or client detail: those are for the operator)."""
    return Health(status="ok")
