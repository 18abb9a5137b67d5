"""The API against its own OpenAPI document (issue #12), with schemathesis: every operation,
generated requests (bounded per operation) with a real tenant key and the tenant's own id in
the path. No 5xx; every status, content type and body as documented."""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import event_dict
from tests.integration.conftest import StackEnv, auth, write_directly

TENANT = "t1"
EXAMPLES_PER_OPERATION = 40
CALLS: list[int] = []
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz(loaded: Any, base: str, headers: dict[str, str]) -> list[str]:
    """Every operation of the document, driven by hypothesis; returns the operations run."""
    ran = []
    for result in loaded.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/stream"):
            continue  # an event stream never ends; tests/integration/test_live.py covers it

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            if case.path_parameters and "tenant_id" in case.path_parameters:
                case.path_parameters["tenant_id"] = TENANT  # the key's own tenant: past a 403
            response = case.call_and_validate(base_url=base, headers=headers, checks=CHECKS)
            CALLS.append(response.status_code)

        check()
        ran.append(f"{operation.method.upper()} {operation.path}")
    return ran


async def test_every_operation_answers_as_documented_and_never_5xx(env: StackEnv, api: str) -> None:
    await write_directly(
        env,
        [
            event_dict("purchased", tenant=TENANT, asset="pc-1"),
            event_dict("taken_back", tenant=TENANT, asset="pc-1"),
        ],
    )
    headers = await auth(env, TENANT)
    loaded = await asyncio.to_thread(schemathesis.openapi.from_url, f"{api}/openapi.json")
    ran = await asyncio.to_thread(_fuzz, loaded, api, headers)
    assert {
        "POST /v1/tenants/{tenant_id}/events",
        "POST /v1/tenants/{tenant_id}/adapters/{tool}",
        "GET /v1/tenants/{tenant_id}/kpis",
        "GET /v1/tenants/{tenant_id}/assets/{asset_id}",
        "GET /v1/tenants/{tenant_id}/status",
        "GET /v1/status",
    } <= set(ran)
    # it got past authentication and validation, not only refused (281 calls when written)
    assert len(CALLS) > 150 and {200, 404, 422} <= set(CALLS)
