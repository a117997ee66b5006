"""Dependencies shared by the routes (the FastAPI template's ``deps.py``)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from edgeshield.errors import RequestDeniedError
from edgeshield.guard._service import GuardService

__all__ = ["ApiKeyDep", "OperatorDep", "ServiceDep", "operator_token_hash"]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="The client's API key.")
_operator = HTTPBearer(auto_error=False, description="The operator token (not a client key).")


def operator_token_hash(token: str | None) -> bytes | None:
    """What the application keeps of the operator token: its SHA-256, or ``None`` (closed)."""
    return None if token is None else hashlib.sha256(token.encode("utf-8")).digest()


def get_service(request: Request) -> GuardService:
    """The service this application was created with."""
    service: GuardService = request.app.state.guard
    return service


def require_operator(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_operator)],
) -> None:
    """Let only the operator through: ``Authorization: Bearer <operator token>``.

    Raises
    ------
    RequestDeniedError
        401 without a valid operator token (client API keys never qualify); 403 when the
        service was started without one (the operator surfaces are then closed).
    """
    expected: bytes | None = request.app.state.operator_token_sha256
    if expected is None:
        raise RequestDeniedError(
            "operator surfaces are closed: start the guard with EDGESHIELD_GUARD_OPERATOR_TOKEN",
            status_code=403,
        )
    given = None if credentials is None else operator_token_hash(credentials.credentials)
    if given is None or not hmac.compare_digest(given, expected):
        raise RequestDeniedError(
            "operator token required", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )


ServiceDep = Annotated[GuardService, Depends(get_service)]
ApiKeyDep = Annotated[str | None, Depends(_api_key)]
OperatorDep = Depends(require_operator)
