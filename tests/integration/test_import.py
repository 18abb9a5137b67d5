"""``kretslopp import``: a 10,000-row register imported twice, and a file with bad rows."""

from __future__ import annotations

import asyncio
import csv
import random
from pathlib import Path

from tests.integration.conftest import StackEnv, fetch_all, kretslopp, totals, wait_for_totals
from tests.integration.invariants import assert_kpis_are_one_pass

COLUMNS = [
    "asset_id",
    "purchase_date",
    "category",
    "manufacturer",
    "model",
    "supplier",
    "condition",
    "certifications",
    "weight_kg",
    "org_unit",
    "end_of_use_date",
    "disposition",
    "counterparty",
    "recycler",
    "inside_eu_eea",
]


def _register(path: Path, rows: int, seed: int = 1) -> int:
    """Writes the file; returns how many events it should produce."""
    rng = random.Random(seed)
    events = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(rows):
            year = rng.randint(2018, 2023)
            ended = rng.random() < 0.4
            disposition = rng.choice(["resale", "refurbishment", "recycling", "recycled"])
            w.writerow(
                [
                    f"REG-{i:05d}",
                    f"{year}-{rng.randint(1, 12):02d}-15",
                    rng.choice(["laptop", "monitor", "smartphone"]),
                    "Lenovo",
                    "M",
                    rng.choice(["Atea", "Dustin"]),
                    rng.choice(["new", "new", "refurbished"]),
                    "tco_certified" if rng.random() < 0.5 else "",
                    "1.5",
                    "it",
                    f"{min(year + 4, 2025)}-06-01" if ended else "",  # never in the future
                    disposition if ended else "",
                    "Inrego" if ended else "",
                    "Stena" if ended else "",
                    "yes" if ended else "",
                ]
            )
            events += 2 if ended else 1
    return events


async def test_same_register_imported_twice_gives_identical_projections(
    env: StackEnv, tmp_path: Path
) -> None:
    path = tmp_path / "register.csv"
    expected_events = _register(path, 10_000)
    env.worker()
    first = await kretslopp(env, "import", str(path), "--tenant", "kommun")
    assert first.returncode == 0, first.stderr
    assert f"10000 row(s) read, 10000 imported as {expected_events} event(s)" in first.stderr
    await wait_for_totals(env, expected_events)
    before = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY asset_id")
    kpis_before = await fetch_all(env.dsn, "SELECT * FROM kpi_monthly ORDER BY 1, 2, 3, 4, 5")
    assert len(before) == 10_000

    second = await kretslopp(env, "import", str(path), "--tenant", "kommun")
    assert second.returncode == 0
    for _ in range(600):
        if (await totals(env))[1] >= expected_events:
            break
        await asyncio.sleep(0.1)
    assert await totals(env) == (expected_events, expected_events, 0)
    after = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY asset_id")
    assert after == before
    assert await fetch_all(env.dsn, "SELECT * FROM kpi_monthly ORDER BY 1, 2, 3, 4, 5") == (
        kpis_before
    )
    await assert_kpis_are_one_pass(env.dsn)


async def test_bad_rows_are_reported_by_line_and_good_rows_land(
    env: StackEnv, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        ",".join(COLUMNS) + "\n"
        "G1,2022-01-10,laptop,L,M,Atea,new,,1.2,it,,,,,\n"
        "B1,2022-13-10,laptop,L,M,Atea,new,,1.2,it,,,,,\n"
        "G2,2022-01-10,monitor,D,P,Atea,new,,5,it,2025-01-01,recycled,,Stena,no\n"
        "B2,2022-01-10,fridge,L,M,Atea,new,,1.2,it,,,,,\n"
        "B3,2022-01-10,laptop,L,M,Atea,new,,1.2,it,2025-01-01,resale,,,\n"
    )
    env.worker()
    result = await kretslopp(env, "import", str(path), "--tenant", "kommun")
    assert result.returncode == 2
    assert "5 row(s) read, 2 imported as 3 event(s)" in result.stderr
    assert "line 3: purchase_date" in result.stderr
    assert "line 5: category" in result.stderr
    assert "line 6: counterparty: is required" in result.stderr
    await wait_for_totals(env, 3)
    rows = await fetch_all(env.dsn, "SELECT asset_id, status FROM asset_state ORDER BY 1")
    assert [(r["asset_id"], r["status"]) for r in rows] == [("G1", "in_use"), ("G2", "recycled")]
