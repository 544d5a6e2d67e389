"""Property-based requests from /openapi.json: no server errors, responses match the schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.helpers import MOVIES_RUN

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_server_errors_and_schema_conformance(api: Any) -> None:
    """Every generated request gets a documented answer with a valid body, never a 5xx."""
    # Give generated requests something to find: a run of owner A.
    api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/events"):
            continue  # an event stream does not end while its run is live

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            nonlocal tried
            tried += 1
            case.call_and_validate(headers=api.a, checks=CHECKS)

        check()
    assert tried > 100
    assert api.client.get("/healthz").status_code == 200
