"""``kretslopp report``: as-of reproducibility, restatements, output formats, scorecards."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson

from projections.carbon import ADEME_NEGAOCTET, BOAVIZTA_PCF_MEDIAN
from projections.postgres.connection import connect
from projections.postgres.kpi_store import ensure_model
from projections.postgres.migrate import migrate
from tests.factories import event_dict
from tests.integration.conftest import StackEnv, kretslopp, write_directly
from tests.integration.invariants import assert_kpis_are_one_pass


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
    assert "e5_5_resource_outflows.devices_out" in body["caused_by"][0]["changed"]
    # the late event is the only cause, of every datapoint that moved
    assert {tuple(c["caused_by"]) for c in body["changes"]} == {(f"event:{late['event_id']}",)}


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


async def test_a_closed_year_survives_late_events_settings_and_factor_changes(
    env: StackEnv,
) -> None:
    """The auditor's case (issue #16): a year reported, then a late event, then two settings
    changes (one restating every period, one from a date), then a factor-table change. The
    first report is reproduced byte for byte as of its date, and the restatement names a cause
    for every datapoint that moved."""
    conn = await connect(env.dsn)
    try:
        await migrate(conn)
        await ensure_model(conn, BOAVIZTA_PCF_MEDIAN, "worker (test)")  # as a worker starts
    finally:
        await conn.close()
    year_2025 = [
        event_dict("purchased", tenant="k", asset="a", at=at("2021-02-01"), weight_kg=1.5),
        event_dict("taken_back", tenant="k", asset="a", at=at("2025-03-01")),
        event_dict("refurbished", tenant="k", asset="a", at=at("2025-04-01")),
        event_dict("purchased", tenant="k", asset="b", at=at("2025-05-01"), supplier="Dustin"),
        event_dict("purchased", tenant="k", asset="c", at=at("2020-01-10")),
    ]
    await write_directly(env, year_2025, 0)
    conn = await connect(env.dsn)
    try:  # known when the year was closed
        await conn.execute("UPDATE event_log SET recorded_at = '2026-01-15T10:00:00Z'")
        await conn.execute("UPDATE factor_table_history SET recorded_at = '2025-01-01T00:00:00Z'")
    finally:
        await conn.close()
    args = ("report", "csrd", "--tenant", "k", "--year", "2025", "--as-of", "2026-01-31")
    closed = await kretslopp(env, *args)
    assert closed.returncode == 0, closed.stderr
    first = orjson.loads(closed.stdout)
    assert first["methodology"]["settings_version"] == 0
    assert first["methodology"]["factor_table_version"] == 1

    late = event_dict("recycled", tenant="k", asset="c", at=at("2025-12-20"), inside_eu_eea=True)
    await write_directly(env, [late], 10)
    restate_all = await kretslopp(
        env, "tenant-settings", "k", "--displacement", "0.5", "--reason", "ITAD evidence"
    )
    assert restate_all.returncode == 0, restate_all.stderr
    assert "saved as version 1, applying from the start" in restate_all.stdout
    dated = await kretslopp(
        env, "tenant-settings", "k", "--baseline", "laptop=3", "--from", "2025-07-01"
    )
    assert dated.returncode == 0, dated.stderr
    assert "saved as version 2, applying from 2025-07-01" in dated.stdout
    conn = await connect(env.dsn)
    try:
        assert await ensure_model(conn, ADEME_NEGAOCTET, "worker (test, new factor source)")
    finally:
        await conn.close()
    await assert_kpis_are_one_pass(env.dsn, ADEME_NEGAOCTET)  # live KPIs: the current ones

    again = await kretslopp(env, *args)
    assert again.stdout == closed.stdout  # byte for byte

    history = orjson.loads((await kretslopp(env, "tenant-settings", "k", "--history")).stdout)
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert [v["effective_from"] for v in history["versions"]] == [None, "2025-07-01"]
    assert history["versions"][0]["reason"] == "ITAD evidence"
    assert all("kretslopp tenant-settings" in v["recorded_by"] for v in history["versions"])

    now = orjson.loads(
        (await kretslopp(env, "report", "csrd", "--tenant", "k", "--year", "2025")).stdout
    )
    method = now["methodology"]
    assert (method["settings_version"], method["factor_table_version"]) == (2, 2)
    assert method["factor_source"] == "ademe-negaoctet"
    assert [(p["from"], p["to"], p["version"]) for p in method["settings_versions_applied"]] == [
        ("2025-01-01", "2025-06-30", 1),
        ("2025-07-01", "2025-12-31", 2),
    ]
    # reuse of asset a (second life 2025-04-01): d = 0.5 from version 1, E from ADEME (181)
    assert now["avoided_emissions_kg_co2e"]["reuse_after_take_back"] == 0.5 * (181 - 18.1)

    today = datetime.now(UTC).date().isoformat()
    restated = orjson.loads(
        (
            await kretslopp(
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
        ).stdout
    )
    changed = {c["datapoint"]: c for c in restated["changes"]}
    assert changed, "something must have changed"
    assert all(c["caused_by"] for c in restated["changes"]), "every change has a cause"
    assert changed["e5_5_resource_outflows.devices_out"]["caused_by"] == [
        f"event:{late['event_id']}"
    ]
    assert changed["methodology.displacement_rate"]["caused_by"] == ["settings:1"]
    assert changed["methodology.factor_source"]["caused_by"] == ["factor_table:2"]
    # E of b (bought 2025, secondary) moves with the factor table only
    assert changed["e1_6_gross_scope3.gross_t_co2e"]["caused_by"] == ["factor_table:2"]
    # the longer-life saving of c (ended 2025-12-20, after 2025-07-01) moves with the late
    # event, the dated baseline (version 2) and the factor table
    assert changed["avoided_emissions_kg_co2e.longer_life"]["caused_by"] == [
        f"event:{late['event_id']}",
        "factor_table:2",
        "settings:2",
    ]
    # the survival appendix: c's end is one more laptop end; the dated baseline is the
    # laptop target on 31 December (the target defaults to N)
    assert changed["kpis.lifespan_survival.laptop.ended"]["caused_by"] == [
        f"event:{late['event_id']}"
    ]
    assert changed["kpis.lifespan_survival.laptop.target_years"]["caused_by"] == ["settings:2"]
    kinds = {c["cause"]: c["kind"] for c in restated["caused_by"]}
    assert kinds == {
        f"event:{late['event_id']}": "event",
        "settings:1": "settings",
        "settings:2": "settings",
        "factor_table:2": "factor_table",
    }
