"""``kretslopp report takeback`` and ``/v1/tenants/{t}/reports/takeback`` (11180:1): the golden
history through the real writer, CLI and HTTP; formats that agree; hostile text kept inert."""

from __future__ import annotations

import csv
import io

import httpx
import orjson

from tests.factories import event_dict
from tests.integration.conftest import StackEnv, auth, kretslopp, write_directly
from tests.projections.test_takeback_golden import d, golden

HOSTILE_MAKER = '=HYPERLINK("http://example.invalid","x")'
HOSTILE_MODEL = "<img src=x onerror=alert(1)>|*x*"


def hostile_unit() -> list[dict[str, object]]:
    return [
        event_dict(
            "purchased",
            tenant="g",
            asset="h1",
            at=d("2022-01-01"),
            manufacturer=HOSTILE_MAKER,
            model=HOSTILE_MODEL,
            serial="@SUM(A1)",
        ),
        {  # a version-1 producer: upcast on the way in, still valid
            **event_dict(
                "taken_back", tenant="g", asset="h1", at=d("2026-01-05"), channel="resale"
            ),
            "schema_version": 1,
        },
    ]


async def test_cli_report_in_three_formats_and_the_api_agree(env: StackEnv, api: str) -> None:
    await write_directly(env, golden() + hostile_unit())
    base = ("report", "takeback", "--tenant", "g", "--from", "2026-01-01", "--to", "2026-06-30")
    as_json = await kretslopp(env, *base)
    assert as_json.returncode == 0, as_json.stderr
    body = orjson.loads(as_json.stdout)
    assert [u["asset_id"] for u in body["units"]] == ["h1", "u1", "u2", "u3", "u4", "u5"]
    t = body["totals"]
    assert (t["units"], t["co2e_saved_kg"]) == (6, 233.0)
    assert t["by_outcome"]["reused"]["units"] == 3  # u1, u2 and the hostile resale
    assert t["compensation_by_currency"] == {"EUR": 20.0, "SEK": 1250.0}
    assert body["condition"].startswith("Upphandlingsmyndigheten, criterion 11180:1")

    as_csv = await kretslopp(env, *base, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["asset_id"] for r in rows] == [u["asset_id"] for u in body["units"]]
    u1 = next(r for r in rows if r["asset_id"] == "u1")
    assert (u1["co2e_saved_kg"], u1["compensation"], u1["outcome"]) == (
        "233.0",
        "1200.00 SEK (take_back)",
        "reused",
    )
    hostile = next(r for r in rows if r["asset_id"] == "h1")
    assert hostile["manufacturer"] == "'" + HOSTILE_MAKER  # shown as text, not a formula
    assert hostile["serial"] == "'@SUM(A1)"
    assert hostile["model"] == HOSTILE_MODEL  # no formula start: kept as is

    as_md = (await kretslopp(env, *base, "--format", "md")).stdout
    assert "<img" not in as_md
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;\\|\\*x\\*" in as_md
    assert "| reused | 3 | 50.0% | 0 | 1 | 2 |" in as_md
    assert "Compensation paid to the buyer: 20.00 EUR, 1250.00 SEK." in as_md

    only = await kretslopp(env, *base, "--supplier", "Dustin")
    assert [u["asset_id"] for u in orjson.loads(only.stdout)["units"]] == ["u3", "u5"]

    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "g")) as client:
        params = {"from": "2026-01-01", "to": "2026-06-30"}
        over_http = await client.get("/v1/tenants/g/reports/takeback", params=params)
        reversed_ = await client.get(
            "/v1/tenants/g/reports/takeback", params={"from": "2026-06-30", "to": "2026-01-01"}
        )
        not_a_day = await client.get(
            "/v1/tenants/g/reports/takeback", params={"from": "2026-02-30", "to": "2026-03-01"}
        )
        bad_as_of = await client.get(
            "/v1/tenants/g/reports/takeback", params={**params, "as_of": "2026-13-01"}
        )
        foreign = await client.get(
            "/v1/tenants/g/reports/takeback", params=params, headers=await auth(env, "other")
        )
    assert over_http.status_code == 200, over_http.text
    assert over_http.json() == body
    assert reversed_.status_code == 422 and "to" in reversed_.json()["detail"]
    assert not_a_day.status_code == 422 and "from" in not_a_day.json()["detail"]
    assert bad_as_of.status_code == 422 and "as_of" in bad_as_of.json()["detail"]
    assert foreign.status_code == 403


async def test_as_of_reproduces_the_report_and_bad_dates_are_refused(env: StackEnv) -> None:
    await write_directly(env, golden())
    from projections.postgres.connection import connect

    conn = await connect(env.dsn)
    try:
        await conn.execute("UPDATE event_log SET recorded_at = '2026-07-05T00:00:00Z'")
    finally:
        await conn.close()
    base = ("report", "takeback", "--tenant", "g", "--from", "2026-01-01", "--to", "2026-06-30")
    closed = await kretslopp(env, *base, "--as-of", "2026-07-10")
    late = event_dict("refurbished", tenant="g", asset="u4", at=d("2026-06-01"), inside_eu_eea=True)
    await write_directly(env, [late], 100)
    again = await kretslopp(env, *base, "--as-of", "2026-07-10")
    assert again.stdout == closed.stdout
    now = orjson.loads((await kretslopp(env, *base)).stdout)
    assert now["totals"]["by_outcome"]["not_reported"]["units"] == 0  # u4 is reused now

    for args, words in [
        (("--from", "1/1/2026", "--to", "2026-06-30"), "--from: '1/1/2026' is not a date"),
        (("--from", "2026-06-30", "--to", "2026-01-01"), "--to: must not be before from"),
        (("--from", "2026-01-01", "--to", "2026-06-30", "--as-of", "soon"), "not a date"),
    ]:
        bad = await kretslopp(env, "report", "takeback", "--tenant", "g", *args)
        assert bad.returncode != 0
        assert words in bad.stderr
        assert "Traceback" not in bad.stderr
