"""Adapters over HTTP with a tenant's settings, and lifecycle signals that map to no event
kept where an operator sees them (issue #19)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson

from tests.integration.conftest import StackEnv, auth, fetch_all, kretslopp

FIXTURES = Path(__file__).parents[1] / "services" / "intake" / "fixtures"


async def test_glpi_default_webhook_signal_is_kept_counted_and_listed(
    env: StackEnv, api: str
) -> None:
    cases = json.loads((FIXTURES / "glpi.json").read_text())
    sold_without_previous = cases["default_webhook_sold_without_previous"]["payload"]
    no_op = cases["default_webhook_no_op_update"]["payload"]
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "t1")) as client:
        refused = await client.post("/v1/tenants/t1/adapters/glpi", json=sold_without_previous)
        assert refused.status_code == 422  # no item type: the webhook URL must name it
        assert refused.json()["errors"][0]["field"] == "itemtype"
        answer = await client.post(
            "/v1/tenants/t1/adapters/glpi?itemtype=Computer", json=[no_op, sold_without_previous]
        )
        assert answer.status_code == 200, answer.text
        unmapped = answer.json()["unmapped"]
        assert [(u["index"], u["lifecycle_signal"]) for u in unmapped] == [(0, False), (1, True)]
        status = (await client.get("/v1/tenants/t1/status")).json()
    assert status["unmapped_lifecycle_signals"] == {"glpi": 1}
    rows = await fetch_all(
        env.dsn, "SELECT tenant_id, tool, asset_id, payload FROM adapter_unmapped"
    )
    assert [(r["tenant_id"], r["tool"], r["asset_id"]) for r in rows] == [
        ("t1", "glpi", "CZC2481XYZ")
    ]
    assert rows[0]["payload"] == sold_without_previous  # the original, to act on
    listed = await kretslopp(env, "adapters", "unmapped", "--tenant", "t1", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["reason"][:30] for r in orjson.loads(listed.stdout)] == [unmapped[1]["reason"][:30]]


async def test_tenant_adapter_settings_map_the_customers_own_words(env: StackEnv, api: str) -> None:
    cases = json.loads((FIXTURES / "snipeit.json").read_text())
    created = json.loads(json.dumps(cases["asset_created_seeded_plural_category"]["payload"]))
    created["asset"]["category"] = {"id": 12, "name": "Bärbara datorer"}
    headers = await auth(env, "t1")
    async with httpx.AsyncClient(base_url=api, headers=headers) as client:
        before = await client.post("/v1/tenants/t1/adapters/snipe-it", json=created)
        assert before.status_code == 422
        assert before.json()["errors"][0]["field"] == "asset.category"
        configured = await kretslopp(
            env, "adapters", "settings", "t1", "snipe-it", "--category", "Bärbara datorer=laptop"
        )
        assert configured.returncode == 0, configured.stderr
        after = await client.post("/v1/tenants/t1/adapters/snipe-it", json=created)
        assert after.status_code == 202, after.text
        # another tenant's settings are its own
        other = await client.post(
            "/v1/tenants/t2/adapters/snipe-it", json=created, headers=await auth(env, "t2")
        )
        assert other.status_code == 422
    bad = await kretslopp(env, "adapters", "settings", "t1", "snipe-it", "--category", "x=toaster")
    assert bad.returncode == 2 and "categories" in bad.stderr and "Traceback" not in bad.stderr
