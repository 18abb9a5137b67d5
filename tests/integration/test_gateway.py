"""The HTTP gateway and API keys, over real HTTP, with the real broker, worker and database."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from projections.postgres.api_keys import revoke
from projections.postgres.connection import connect
from tests.factories import event_dict
from tests.integration.conftest import (
    StackEnv,
    api_on,
    auth,
    fetch_all,
    records_of,
    totals,
    wait_for_totals,
)


async def test_auth_matrix_for_read_and_write(env: StackEnv, api: str) -> None:
    mine = await auth(env, "acme")
    other = await auth(env, "globex")
    revoked = await auth(env, "acme", source="old-itsm")
    conn = await connect(env.dsn)
    try:
        key_id = revoked["Authorization"].split("_")[1]
        assert await revoke(conn, key_id)
    finally:
        await conn.close()
    one = event_dict("purchased", tenant="acme", asset="pc-1")
    cases = {
        "no key": ({}, 401),
        "malformed key": ({"Authorization": "Bearer hunter2"}, 401),
        "unknown key": ({"Authorization": "Bearer kl_000000000000_" + "A" * 43}, 401),
        "wrong secret": ({"Authorization": mine["Authorization"][:-4] + "AAAA"}, 401),
        "revoked key": (revoked, 401),
        "other tenant's key": (other, 403),
        "own key": (mine, None),
        "own key as X-API-Key": ({"X-API-Key": mine["Authorization"][7:]}, None),
    }
    async with httpx.AsyncClient(base_url=api) as client:
        for case, (headers, expected) in cases.items():
            read = await client.get("/v1/tenants/acme/fleet", headers=headers)
            write = await client.post("/v1/tenants/acme/events", headers=headers, json=one)
            assert read.status_code == (expected or 200), case
            assert write.status_code == (expected or 202), case
            if expected == 401:
                assert read.headers["WWW-Authenticate"] == "Bearer"
                assert "API key" in read.json()["detail"]
        status = await client.get("/v1/status")
        assert status.status_code == 401
        assert (await client.get("/health")).status_code == 200


async def test_batches_errors_limits_and_idempotence(env: StackEnv, api: str) -> None:
    headers = await auth(env, "acme")
    good = [event_dict("purchased", tenant="acme", asset=f"pc-{i}") for i in range(3)]
    async with httpx.AsyncClient(base_url=api, headers=headers) as client:
        not_json = await client.post(
            "/v1/tenants/acme/events",
            content=b"{oops",
            headers={"Content-Type": "application/json"},
        )
        assert not_json.status_code == 400
        assert "not valid JSON" in not_json.json()["detail"]

        too_big = await client.post("/v1/tenants/acme/events", content=b" " * (5 * 1024 * 1024 + 1))
        assert too_big.status_code == 413

        too_many = await client.post("/v1/tenants/acme/events", json=[good[0]] * 1001)
        assert too_many.status_code == 413
        assert "at most 1000" in too_many.json()["detail"]

        empty = await client.post("/v1/tenants/acme/events", json=[])
        assert empty.status_code == 422

        mixed = [
            good[0],
            {**good[1], "occurred_at": "2024-01-01T00:00:00"},
            {**good[2], "tenant_id": "globex"},
            "not an event",
        ]
        rejected = await client.post("/v1/tenants/acme/events", json=mixed)
        assert rejected.status_code == 422
        body = rejected.json()
        assert "nothing was accepted" in body["detail"]
        assert [(e["index"], e["field"]) for e in body["errors"]] == [
            (1, "occurred_at"),
            (2, "tenant_id"),
            (3, ""),
        ]
        assert body["errors"][0]["event_id"] == good[1]["event_id"]
        assert "globex" in body["errors"][1]["reason"]

        first = await client.post(
            "/v1/tenants/acme/events", json=[*good, good[0]], headers={"X-Request-ID": "req-123"}
        )
        assert first.status_code == 202
        assert first.headers["X-Request-ID"] == "req-123"
        assert first.json() == {
            "accepted": 3,
            "event_ids": [g["event_id"] for g in good],
            "repeated_in_request": 1,
        }
        again = await client.post("/v1/tenants/acme/events", json=good)
        assert again.status_code == 202

    env.worker()
    await wait_for_totals(env, 3)
    for _ in range(100):
        if sum(await totals(env)) >= 6:
            break
        await asyncio.sleep(0.2)
    assert await totals(env) == (3, 3, 0)  # the second request counted as duplicates only


def test_openapi_describes_ingest_and_auth() -> None:
    from infra.settings import Settings
    from services.http.app import create_api

    app = create_api(Settings(kafka_bootstrap_servers="x:1", database_url="postgresql://x/y"))
    doc = app.openapi()
    post = doc["paths"]["/v1/tenants/{tenant_id}/events"]["post"]
    assert set(post["responses"]) >= {"202", "400", "401", "403", "413", "422", "503"}
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "EventOrBatch"
    )
    assert "LifecycleEvent" in doc["components"]["schemas"]
    assert "Purchased" in doc["components"]["schemas"]
    schemes = doc["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/tenants/acme/kpis?from=2024-01&to=2024-02",
        "/v1/tenants/acme/assets/x",
        "/v1/tenants/acme/fleet",
    ],
)
async def test_every_tenant_read_needs_the_tenants_key(
    env: StackEnv,
    api: str,
    path: str,
) -> None:
    other = await auth(env, "globex")
    async with httpx.AsyncClient(base_url=api) as client:
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=other)).status_code == 403


async def test_servicenow_changes_through_the_adapter_endpoint(env: StackEnv, api: str) -> None:
    import json
    from pathlib import Path

    fixtures = Path(__file__).parents[1] / "services" / "intake" / "fixtures"
    cases = json.loads((fixtures / "servicenow.json").read_text())
    headers = await auth(env, "kommun", source="servicenow")
    payloads = [
        cases[name]["payload"]
        for name in (
            "received_into_stock",
            "back_from_maintenance",
            "moved_to_another_department",
            "retired_sold_to_beneficiary",
            "pending_disposal",
        )
    ]
    async with httpx.AsyncClient(base_url=api, headers=headers) as client:
        response = await client.post("/v1/tenants/kommun/adapters/servicenow", json=payloads)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["accepted"] == 4
        assert [(u["index"], "pending_disposal" in u["reason"]) for u in body["unmapped"]] == [
            (4, True)
        ]
        nothing = await client.post(
            "/v1/tenants/kommun/adapters/servicenow", json=cases["went_missing"]["payload"]
        )
        assert nothing.status_code == 200
        assert nothing.json()["accepted"] == 0
        bad = await client.post("/v1/tenants/kommun/adapters/servicenow", json={"current": 5})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "current"
        unknown_tool = await client.post("/v1/tenants/kommun/adapters/jira", json={})
        assert unknown_tool.status_code == 422
        again = await client.post("/v1/tenants/kommun/adapters/servicenow", json=payloads)
        assert again.json()["event_ids"] == body["event_ids"]
    env.worker()
    await wait_for_totals(env, 4)
    rows = await fetch_all(env.dsn, "SELECT * FROM asset_state WHERE tenant_id = 'kommun'")
    [state] = rows
    assert (state["asset_id"], state["status"], state["end_reason"]) == (
        "PF3K9Z21",
        "taken_back",
        "taken_back:resale",
    )
    assert (state["repair_count"], state["redeploy_count"], state["org_unit"]) == (
        1,
        1,
        "Socialtjänst",
    )


async def test_several_server_processes_accept_every_event_once(env: StackEnv) -> None:
    """KRETSLOPP_API_WORKERS=2: two server processes on one port, each with its own producer.
    40 concurrent POSTs of 25 events: every one 202, every event on the topic exactly once,
    and two server processes under one supervisor."""
    import asyncio

    import psutil

    async with api_on(env, workers=2) as base:
        headers = await auth(env, "acme")
        bodies = [
            [event_dict("repaired", tenant="acme", asset=f"pc-{n}-{i}") for i in range(25)]
            for n in range(40)
        ]
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            answers = await asyncio.gather(
                *(client.post("/v1/tenants/acme/events", json=body) for body in bodies)
            )
        assert [a.status_code for a in answers] == [202] * 40
        supervisors = [
            p
            for p in psutil.process_iter(["cmdline"])
            if (p.info["cmdline"] or [])[-2:] == ["services.cli", "api"][-2:]
            and f"KRETSLOPP_API_PORT={base.rsplit(':', 1)[1]}" in _environ(p)
        ]
        assert len(supervisors) == 1
        servers = [
            c for c in supervisors[0].children() if "spawn_main" in " ".join(c.cmdline())
        ]  # beside them, multiprocessing's resource tracker
        assert len(servers) == 2, "two server processes under one supervisor"
    want = {e["event_id"] for body in bodies for e in body}
    on_topic = await records_of(env.kafka, env.settings.topic)
    seen = [orjson.loads(r.value)["event_id"] for r in on_topic if r.value]
    assert sorted(seen) == sorted(want)


def _environ(process: object) -> str:
    import psutil

    try:
        env = process.environ()  # type: ignore[attr-defined]
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        return ""
    return " ".join(f"{k}={v}" for k, v in env.items())
