"""Property-based API testing against the OpenAPI schema (schemathesis), bounded.

schemathesis 4.32's pytest plugin does not run under pytest 9, so the strategies of each
operation are driven by hypothesis directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from guard_kit import Kit, make_service
from hypothesis import HealthCheck, given, settings

from edgeshield.guard import OutputTier, create_app

OPERATOR = "operator-token-for-the-schema-test-0123456789"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_api_conforms_to_its_schema(kit: Kit, tmp_path: Path) -> None:
    """No 5xx, documented status codes, responses matching the schema, for every route."""
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path / 'st.db'}", tiers={"st": OutputTier.REVERSE_SIGMOID}
    )
    operator = {"Authorization": f"Bearer {OPERATOR}"}
    app = create_app(service=service, operator_token=OPERATOR)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=operator)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {
        "/v1/predict",
        "/v1/health",
        "/v1/health/details",
        "/v1/metrics",
    }
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30 if operation.path == "/v1/predict" else 3,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            if case.path == "/v1/predict":
                case.headers = {**(case.headers or {}), "X-API-Key": keys["st"]}
            elif case.path != "/v1/health":
                case.headers = {**(case.headers or {}), **operator}
            response = case.call_and_validate()
            statuses.append(response.status_code)

        run()
    assert 200 in statuses
    assert all(s < 500 for s in statuses)
    service.store.close()
