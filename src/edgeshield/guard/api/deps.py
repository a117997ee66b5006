"""Dependencies shared by the routes (the FastAPI template's ``deps.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from edgeshield.guard._service import GuardService

__all__ = ["ApiKeyDep", "ServiceDep"]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="The client's API key.")


def get_service(request: Request) -> GuardService:
    """The service this application was created with."""
    service: GuardService = request.app.state.guard
    return service


ServiceDep = Annotated[GuardService, Depends(get_service)]
ApiKeyDep = Annotated[str | None, Depends(_api_key)]
