"""``POST /v1/predict``: a batch of sensor records in, hardened predictions out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from edgeshield.guard._schema import PredictResponse, RequestSchema
from edgeshield.guard.api._body import AuthenticatedJSONRoute
from edgeshield.guard.api.deps import ApiKeyDep, ServiceDep

__all__ = ["predict_router"]

_ERROR: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"detail": {"type": "string"}}}
        }
    }
}

_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "body not JSON or nested too deeply", **_ERROR},
    401: {"description": "missing or invalid API key", **_ERROR},
    403: {"description": "client blocked or licence no longer valid", **_ERROR},
    408: {"description": "body not received in time", **_ERROR},
    413: {"description": "batch or body too large", **_ERROR},
    429: {"description": "rate limit or query quota exhausted", **_ERROR},
}


def predict_router(schema: RequestSchema) -> APIRouter:
    """The ``POST /v1/predict`` route for the served model's request schema.

    The body model is the schema's (its fields in OpenAPI); the key is checked before the body
    is read, and the body is parsed with a depth bound.
    """
    router = APIRouter(tags=["predict"], route_class=AuthenticatedJSONRoute)
    body_model = schema.request_model

    def predict(body: Any, service: ServiceDep, api_key: ApiKeyDep) -> PredictResponse:
        """Classify a batch of records (label 1 = the positive class, e.g. failure)."""
        return service.predict(api_key, body.records)

    # the body's type is only known at run time: give FastAPI the generated model
    predict.__annotations__["body"] = body_model
    router.post("/v1/predict", response_model_exclude_none=True, responses=_RESPONSES)(predict)
    return router
