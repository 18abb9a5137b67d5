"""The re-use marketplace through the real API, broker and worker: offer, concurrent
reservations (exactly one wins), release, hand-over, KPIs, refusals with reasons."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from tests.factories import event_dict
from tests.integration.conftest import (
    StackEnv,
    auth,
    fetch_all,
    kretslopp,
    totals,
    write_directly,
)
from tests.integration.invariants import assert_kpis_are_one_pass

T = "market"


async def until(
    client: httpx.AsyncClient, found: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 120
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        offers = (await client.get(f"/v1/tenants/{T}/offers", params={"closed": "true"})).json()
        if found(offers["offers"]):
            return list(offers["offers"])
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout_s}s: {offers}")
        await asyncio.sleep(0.2)


def rid() -> str:
    return str(uuid.uuid4())


async def test_offer_reserve_release_hand_over_and_exactly_one_concurrent_winner(
    env: StackEnv, api: str
) -> None:
    now = datetime.now(UTC)
    await write_directly(
        env,
        [
            event_dict("purchased", tenant=T, asset="pc1", at=now - timedelta(days=800)),
            event_dict("purchased", tenant=T, asset="gone", at=now - timedelta(days=900)),
            event_dict("recycled", tenant=T, asset="gone", at=now - timedelta(days=2)),
        ],
    )
    env.worker()
    offers = f"/v1/tenants/{T}/offers"
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, T), timeout=30) as client:
        body = {"org_unit": "skola-nord", "condition": "good", "includes": ["charger"]}
        gone = await client.post(offers, json={**body, "request_id": rid(), "asset_id": "gone"})
        unknown = await client.post(offers, json={**body, "request_id": rid(), "asset_id": "x"})
        hostile = await client.post(
            offers, json={**body, "request_id": rid(), "asset_id": "pc1", "org_unit": "a\x07b"}
        )
        extra = await client.post(
            offers, json={**body, "request_id": rid(), "asset_id": "pc1", "price": 1}
        )
        assert gone.status_code == 422 and "only an asset in use" in gone.json()["detail"]
        assert unknown.status_code == 422 and unknown.json()["detail"].startswith("asset_id")
        assert hostile.status_code == 422 and hostile.json()["errors"][0] == {
            "index": None,
            "event_id": None,
            "field": "org_unit",
            "reason": "must not contain control characters",
        }
        assert extra.status_code == 422

        offer_id = rid()
        made = await client.post(offers, json={**body, "request_id": offer_id, "asset_id": "pc1"})
        assert made.status_code == 202, made.text
        assert made.json()["offer_id"] == offer_id
        [listed] = await until(client, lambda o: len(o) == 1)
        assert (listed["status"], listed["category"], listed["includes"]) == (
            "open",
            "laptop",
            ["charger"],
        )
        assert 2.1 < listed["age_years"] < 2.3
        twice = await client.post(offers, json={**body, "request_id": rid(), "asset_id": "pc1"})
        assert twice.status_code == 409 and offer_id in twice.json()["detail"]
        own = await client.post(
            f"{offers}/{offer_id}/reserve", json={"request_id": rid(), "org_unit": "skola-nord"}
        )
        assert own.status_code == 422

        units = [f"unit-{i}" for i in range(8)]
        requests = {u: rid() for u in units}
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{offers}/{offer_id}/reserve", json={"request_id": requests[u], "org_unit": u}
                )
                for u in units
            )
        )
        won = [u for u, a in zip(units, answers, strict=True) if a.status_code == 202]
        assert len(won) == 1, [a.text for a in answers]
        winner = won[0]
        lost = [a for a in answers if a.status_code != 202]
        assert {a.status_code for a in lost} == {409}
        assert {a.json()["holder_org_unit"] for a in lost} == {winner}
        retried = await client.post(
            f"{offers}/{offer_id}/reserve",
            json={"request_id": requests[winner], "org_unit": winner},
        )
        assert retried.status_code == 202  # the same request again: carried out once
        await until(client, lambda o: o[0]["holder_org_unit"] == winner)

        loser = next(u for u in units if u != winner)
        not_held = await client.post(
            f"{offers}/{offer_id}/release", json={"request_id": rid(), "org_unit": loser}
        )
        assert not_held.status_code == 409 and not_held.json()["holder_org_unit"] == winner
        freed = await client.post(
            f"{offers}/{offer_id}/release", json={"request_id": rid(), "org_unit": winner}
        )
        assert freed.status_code == 202
        await until(client, lambda o: o[0]["status"] == "open")
        second = await client.post(
            f"{offers}/{offer_id}/reserve", json={"request_id": rid(), "org_unit": loser}
        )
        assert second.status_code == 202, second.text
        handed = await client.post(f"{offers}/{offer_id}/handover", json={"request_id": rid()})
        assert handed.status_code == 202, handed.text
        [closed] = await until(client, lambda o: o[0]["status"] == "handed_over")
        assert closed["handed_to"] == loser
        asset = (await client.get(f"/v1/tenants/{T}/assets/pc1")).json()["asset"]
        assert asset["org_unit"] == loser
        assert [o["outcome"] for o in asset["offers"]] == ["handed_over"]
        month = now.strftime("%Y-%m")
        figures = (await client.get(f"{offers}/kpis", params={"from": month, "to": month})).json()
        assert (figures["offers_handed_over"], figures["offers_open_now"]) == (1, 0)
        assert 0 <= figures["median_days_on_offer"] < 1
        after = await client.post(
            f"{offers}/{offer_id}/reserve", json={"request_id": rid(), "org_unit": "unit-9"}
        )
        assert after.status_code == 404
        foreign = await client.get(offers, headers=await auth(env, "someone-else"))
        assert foreign.status_code == 403

    logged = await fetch_all(
        env.dsn,
        "SELECT event_type, payload FROM event_log WHERE asset_id = 'pc1' "
        "ORDER BY occurred_at, event_type",
    )
    kinds = [r["event_type"] for r in logged]
    assert kinds == [
        "purchased",
        "offered_for_reuse",
        "reserved",
        "reservation_released",
        "reserved",
        "redeployed",
    ], kinds  # one reservation of the eight concurrent ones reached the log
    await assert_kpis_are_one_pass(env.dsn)
    # the retried reservation is the same event again: a duplicate, not a dead letter
    assert (await totals(env))[1:] == (1, 0)

    listed_cli = await kretslopp(env, "offers", "list", "--tenant", T, "--closed", "--json")
    assert listed_cli.returncode == 0, listed_cli.stderr
    assert [o["status"] for o in orjson.loads(listed_cli.stdout)] == ["handed_over"]
    table = await kretslopp(env, "offers", "list", "--tenant", T, "--closed")
    assert "handed_over" in table.stdout
    # on the topic path, a reservation of the closed offer is kept, not applied, with a reason
    stale = event_dict(
        "reserved", tenant=T, asset="pc1", at=datetime.now(UTC), offer_id=offer_id, org_unit="hr"
    )
    await write_directly(env, [stale], 1000)
    rejected = await kretslopp(env, "offers", "rejected", "--tenant", T, "--json")
    assert [(r["event_id"], r["reason"]) for r in orjson.loads(rejected.stdout)] == [
        (stale["event_id"], f"reserved: offer {offer_id} is not open")
    ]
    shown = await kretslopp(env, "offers", "rejected", "--tenant", T)
    assert "is not open" in shown.stdout
    bad = await kretslopp(env, "offers", "kpis", "--tenant", T, "--from", "2026-1", "--to", "x")
    assert bad.returncode != 0 and "not a month" in bad.stderr and "Traceback" not in bad.stderr


async def test_a_command_sent_again_before_its_event_was_applied_counts_once(
    env: StackEnv, api: str
) -> None:
    """A client that got a 503 sends the command again with the same request_id, though the
    first attempt's event reached the topic. Both copies must be one event: the second a
    duplicate, not a conflicting one (a dead letter). A request_id sent with another
    command is refused, not produced."""
    now = datetime.now(UTC)
    await write_directly(
        env, [event_dict("purchased", tenant=T, asset="pc2", at=now - timedelta(days=300))]
    )
    offers = f"/v1/tenants/{T}/offers"
    body = {"request_id": rid(), "asset_id": "pc2", "org_unit": "it", "condition": "good"}
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, T), timeout=30) as client:
        # no worker runs: the first attempt's event waits on the topic, as after a 503 whose
        # batch had reached it
        first = await client.post(offers, json=body)
        await asyncio.sleep(0.05)  # a retry comes later: a new clock reading
        again = await client.post(offers, json=body)
        other = await client.post(offers, json={**body, "org_unit": "hr"})
        assert (first.status_code, again.status_code) == (202, 202), again.text
        assert other.status_code == 409, other.text
        assert other.json()["detail"].startswith("request_id: ")
        env.worker()
        [listed] = await until(client, lambda o: len(o) == 1)
    assert (listed["offer_id"], listed["org_unit"]) == (body["request_id"], "it")
    await wait_until_counted(env, 3)
    # applied (the purchase, written directly, and the offer), duplicates, dead letters
    assert await totals(env) == (2, 1, 0)


async def wait_until_counted(env: StackEnv, records: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(await totals(env)) < records:
        assert time.monotonic() < deadline, await totals(env)
        await asyncio.sleep(0.1)


async def test_a_refused_reservation_sent_again_later_takes_the_time_it_is_carried_out(
    env: StackEnv, api: str
) -> None:
    """A reservation refused with 409 (the offer was held) produced nothing. Sent again with
    the same request_id once the offer is free, it is carried out then, so its event must
    take that time. It used to keep the refused attempt's time: the log said the unit
    reserved while the API was refusing it, before the release that made it possible."""
    now = datetime.now(UTC)
    await write_directly(
        env, [event_dict("purchased", tenant=T, asset="pc3", at=now - timedelta(days=300))]
    )
    env.worker()
    offers = f"/v1/tenants/{T}/offers"
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, T), timeout=30) as client:
        offer_id = rid()
        made = await client.post(
            offers,
            json={"request_id": offer_id, "asset_id": "pc3", "org_unit": "it", "condition": "good"},
        )
        assert made.status_code == 202, made.text
        await until(client, lambda o: len(o) == 1)
        held = await client.post(
            f"{offers}/{offer_id}/reserve", json={"request_id": rid(), "org_unit": "hr"}
        )
        assert held.status_code == 202, held.text
        await until(client, lambda o: o[0]["holder_org_unit"] == "hr")
        waiting = {"request_id": rid(), "org_unit": "school"}
        refused = await client.post(f"{offers}/{offer_id}/reserve", json=waiting)
        assert refused.status_code == 409 and refused.json()["holder_org_unit"] == "hr"
        freed = await client.post(
            f"{offers}/{offer_id}/release", json={"request_id": rid(), "org_unit": "hr"}
        )
        assert freed.status_code == 202, freed.text
        await until(client, lambda o: o[0]["status"] == "open" and o[0]["holder_org_unit"] is None)
        again = await client.post(f"{offers}/{offer_id}/reserve", json=waiting)
        assert again.status_code == 202, again.text
        await until(client, lambda o: o[0]["holder_org_unit"] == "school", timeout_s=30)
    times = {
        r["event_type"]: r["occurred_at"]
        for r in await fetch_all(
            env.dsn,
            "SELECT event_type, occurred_at FROM event_log WHERE event_id = ANY($1::uuid[])",
            [freed.json()["event_id"], again.json()["event_id"]],
        )
    }
    assert times["reservation_released"] < times["reserved"]
