"""``kretslopp report``: as-of reproducibility, restatements, output formats, scorecards."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson

from projections.postgres.connection import connect
from tests.factories import event_dict
from tests.integration.conftest import StackEnv, kretslopp, write_directly


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_as_of_report_is_reproducible_and_restatement_names_the_late_event(
    env: StackEnv,
) -> None:
    year_2025 = [
        event_dict(
            "purchased", tenant="k", asset="a", at=at("2025-02-01"), weight_kg=1.5, supplier="Atea"
        ),
        event_dict("purchased", tenant="k", asset="b", at=at("2025-03-01"), supplier="Dustin"),
        event_dict("taken_back", tenant="k", asset="b", at=at("2025-11-01")),
    ]
    await write_directly(env, year_2025, 0)
    conn = await connect(env.dsn)
    try:  # these were known when the year was closed, on 15 January 2026
        await conn.execute("UPDATE event_log SET recorded_at = '2026-01-15T10:00:00Z'")
    finally:
        await conn.close()

    closed = await kretslopp(
        env, "report", "csrd", "--tenant", "k", "--year", "2025", "--as-of", "2026-01-31"
    )
    assert closed.returncode == 0, closed.stderr
    late = event_dict("recycled", tenant="k", asset="a", at=at("2025-12-20"), inside_eu_eea=True)
    await write_directly(env, [late], 10)  # recorded now, long after the as-of date

    again = await kretslopp(
        env, "report", "csrd", "--tenant", "k", "--year", "2025", "--as-of", "2026-01-31"
    )
    assert again.stdout == closed.stdout  # byte for byte
    current = await kretslopp(env, "report", "csrd", "--tenant", "k", "--year", "2025")
    before, now = orjson.loads(closed.stdout), orjson.loads(current.stdout)
    assert before["e5_5_resource_outflows"]["devices_out"] == 1
    assert now["e5_5_resource_outflows"]["devices_out"] == 2
    assert now["e5_5_resource_outflows"]["routes"]["recycling"]["devices"] == 1

    today = datetime.now(UTC).date().isoformat()
    restated = await kretslopp(
        env,
        "report",
        "restatement",
        "--tenant",
        "k",
        "--year",
        "2025",
        "--from",
        "2026-01-31",
        "--to",
        today,
    )
    assert restated.returncode == 0, restated.stderr
    body = orjson.loads(restated.stdout)
    changed = {c["datapoint"]: (c["before"], c["after"]) for c in body["changes"]}
    assert changed["e5_5_resource_outflows.devices_out"] == (1, 2)
    assert [c["event_id"] for c in body["caused_by"]] == [late["event_id"]]
    assert "e5_5.devices_out" in body["caused_by"][0]["changed"]


async def test_json_csv_and_markdown_carry_the_same_numbers(env: StackEnv) -> None:
    await write_directly(
        env,
        [
            event_dict(
                "purchased",
                tenant="k",
                asset=f"p{i}",
                at=at("2025-05-05"),
                supplier=["Atea", "Dustin"][i % 2],
                weight_kg=2.0,
                product_carbon_footprint_kg_co2e=200.0 if i % 2 else None,
            )
            for i in range(6)
        ],
        0,
    )
    as_json = orjson.loads(
        (await kretslopp(env, "report", "csrd", "--tenant", "k", "--year", "2025")).stdout
    )
    as_csv = (
        await kretslopp(env, "report", "csrd", "--tenant", "k", "--year", "2025", "--format", "csv")
    ).stdout
    rows = {r["datapoint"]: r["value"] for r in csv.DictReader(io.StringIO(as_csv))}

    def flat(obj: object, prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        if isinstance(obj, dict):
            for k, v in obj.items():
                out.update(flat(v, f"{prefix}{k}."))
        else:
            out[prefix[:-1]] = obj
        return out

    expected = flat(as_json)
    assert set(rows) == set(expected)
    for key, value in expected.items():
        parsed = (
            None
            if rows[key] == ""
            else (rows[key] if isinstance(value, str) else orjson.loads(rows[key]))
        )
        assert parsed == value, key
    assert as_json["e1_6_gross_scope3"]["gross_t_co2e"] == 0.6 + 0.723  # 3x200 + 3x241 kg
    assert as_json["e5_4_resource_inflows"]["weight_in_kg"] == 12.0
    md = (
        await kretslopp(env, "report", "csrd", "--tenant", "k", "--year", "2025", "--format", "md")
    ).stdout
    assert "| devices_in | 6 |" in md
    assert "| gross_t_co2e | 1.323 |" in md

    scorecard = orjson.loads(
        (await kretslopp(env, "report", "suppliers", "--tenant", "k", "--year", "2025")).stdout
    )
    assert set(scorecard["suppliers"]) == {"Atea", "Dustin"}
    assert scorecard["suppliers"]["Atea"]["purchases"] == 3
    assert scorecard["suppliers"]["Dustin"]["certification_share"] == 0.0

    bad = await kretslopp(
        env, "report", "csrd", "--tenant", "k", "--year", "2025", "--as-of", "31/01/2026"
    )
    assert bad.returncode != 0
    assert "not a date" in bad.stderr
