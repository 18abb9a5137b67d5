"""Hostile and careless HTTP clients (issue #12): every bad request gets a documented 4xx
naming the field, never a 500, and no key sees another tenant's figures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from projections.postgres.api_keys import create_key, list_keys
from projections.postgres.connection import connect
from projections.postgres.migrate import migrate
from services.demo.up import DEMO_KEY_SOURCE, _demo_key
from tests.factories import event_dict
from tests.integration.conftest import StackEnv, auth, write_directly
from tests.services.intake.test_adapter_fuzz import REPORTED


async def _operator(env: StackEnv) -> dict[str, str]:
    conn = await connect(env.dsn)
    try:
        await migrate(conn)
        key, _ = await create_key(conn, "", "ops", operator=True)
    finally:
        await conn.close()
    return {"Authorization": f"Bearer {key}"}


def _is_rejected(body: Any) -> bool:
    """The documented ``Rejected`` shape: a string detail and a list of field errors."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("detail"), str)
        and isinstance(body.get("errors", []), list)
        and all({"field", "reason"} <= set(e) for e in body.get("errors", []))
    )


async def test_status_is_operator_only_and_tenants_see_only_themselves(
    env: StackEnv, api: str
) -> None:
    await write_directly(
        env,
        [event_dict("purchased", tenant="t1", asset=f"a{i}") for i in range(3)]
        + [event_dict("purchased", tenant="t2", asset="b")],
    )
    t1, operator = await auth(env, "t1"), await _operator(env)
    async with httpx.AsyncClient(base_url=api) as client:
        refused = await client.get("/v1/status", headers=t1)
        assert refused.status_code == 403 and _is_rejected(refused.json())
        assert "operator" in refused.json()["detail"]
        everything = await client.get("/v1/status", headers=operator)
        assert everything.status_code == 200
        assert everything.json()["assets"] == 4
        mine = await client.get("/v1/tenants/t1/status", headers=t1)
        assert mine.status_code == 200
        assert (mine.json()["assets"], mine.json()["events_in_log"]) == (3, 3)
        assert mine.json()["assets_by_status"] == {"in_use": 3}
        other = await client.get("/v1/tenants/t2/status", headers=t1)
        assert other.status_code == 403
        # an operator key reads no tenant's data
        assert (await client.get("/v1/tenants/t1/fleet", headers=operator)).status_code == 403


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/tenants/t1/kpis?from=0000-01&to=2024-01", "from"),
        ("/v1/tenants/t1/kpis?from=2024-01&to=9999-12", "to"),
        ("/v1/tenants/t1/kpis?from=2024-01&to=2024-02&category=%00", "category"),
        ("/v1/tenants/t1/kpis?from=2024-01&to=2024-02&supplier=a%00b", "supplier"),
        ("/v1/tenants/t1/kpis?from=2024-01&to=2024-02&org_unit=%1b[31m", "org_unit"),
        ("/v1/tenants/t1/assets/a%00b", "asset_id"),
        ("/v1/tenants/t1/kpis?from=2024-13&to=2024-02", "from"),
    ],
)
async def test_malformed_parameters_are_422_naming_them(
    env: StackEnv, api: str, path: str, field: str
) -> None:
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "t1")) as client:
        response = await client.get(path)
    assert response.status_code == 422, response.text
    body = response.json()
    assert _is_rejected(body)
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["detail"].startswith(field)
    if "%" in path:  # the ids' and filters' rule, in words, not as a regex
        assert body["errors"][0]["reason"] == "must be non-empty, without control characters"


@pytest.mark.parametrize("depth", [100, 300, 1000, 1100, 5000])
async def test_any_nesting_depth_gets_the_same_400(env: StackEnv, api: str, depth: int) -> None:
    event = event_dict("purchased", tenant="t1")
    body = '{"x": ' * depth + "1" + "}" * depth
    raw = ('[{"event_id": "' + event["event_id"] + '", "nested": ' + body + "}]").encode()
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "t1")) as client:
        for route in ("/v1/tenants/t1/events", "/v1/tenants/t1/adapters/glpi"):
            response = await client.post(route, content=raw)
            assert response.status_code == 400, (route, response.text[:200])
            assert response.json()["detail"] == "body is nested deeper than 32 levels"


async def test_an_asset_id_with_a_slash_is_readable(env: StackEnv, api: str) -> None:
    await write_directly(env, [event_dict("purchased", tenant="t1", asset="rack-3/pc-7")])
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "t1")) as client:
        encoded = await client.get("/v1/tenants/t1/assets/rack-3%2Fpc-7")
        plain = await client.get("/v1/tenants/t1/assets/rack-3/pc-7")
    assert encoded.status_code == plain.status_code == 200
    assert encoded.json()["asset"]["asset_id"] == "rack-3/pc-7"


@pytest.mark.parametrize(("tool", "payload"), REPORTED)
async def test_payloads_that_were_500s_are_answered_4xx_or_2xx(
    env: StackEnv, api: str, tool: str, payload: Any
) -> None:
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "t1")) as client:
        response = await client.post(f"/v1/tenants/t1/adapters/{tool}", json=payload)
    assert response.status_code in (200, 202, 422), response.text
    if response.status_code == 422:
        assert _is_rejected(response.json())


async def test_up_leaves_one_active_demo_key(env: StackEnv) -> None:
    conn = await connect(env.dsn)
    try:
        await migrate(conn)  # as `up` does before it makes the key
    finally:
        await conn.close()
    first = await _demo_key(env.dsn)
    second = await _demo_key(env.dsn)
    assert first != second
    conn = await connect(env.dsn)
    try:
        demo = [k for k in await list_keys(conn) if k.source == DEMO_KEY_SOURCE]
    finally:
        await conn.close()
    assert len(demo) == 2
    assert [k.revoked_at is None for k in demo] == [False, True]
