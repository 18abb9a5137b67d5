"""The command line given careless or hostile input (issue #12): one line naming the line or
field and the documented exit code (2: input rejected; 1: failed), never a traceback, and
text from the data printed as text, never as terminal markup."""

from __future__ import annotations

from pathlib import Path

import orjson

from projections.batch import SourceRecord, prepare
from projections.postgres.connection import connect
from projections.postgres.migrate import migrate
from projections.postgres.writer import apply_batch
from tests.factories import event_dict
from tests.integration.conftest import StackEnv, fetch_all, kretslopp
from tests.integration.test_import import COLUMNS

HEADER = ",".join(COLUMNS)


def _no_traceback(*outputs: str) -> None:
    for out in outputs:
        assert "Traceback" not in out, out[-2000:]


async def test_dlq_list_shows_markup_like_field_names_as_text(env: StackEnv) -> None:
    bad = {**event_dict("purchased"), "[/x]": 1, "[bold]y": 2}
    conn = await connect(env.dsn)
    try:
        await migrate(conn)
        await apply_batch(conn, "g", "t", prepare([SourceRecord(0, 0, None, orjson.dumps(bad))]))
    finally:
        await conn.close()
    listed = await kretslopp(env, "dlq", "list")
    _no_traceback(listed.stdout, listed.stderr)
    assert listed.returncode == 0
    assert "[/x]" in listed.stdout


async def test_import_prints_rejected_markup_cells_and_exits_2(
    env: StackEnv, tmp_path: Path
) -> None:
    path = tmp_path / "register.csv"
    path.write_text(HEADER + "\nA1,[/],laptop,L,M,Atea,new,,1.2,it,,,,,\n")
    result = await kretslopp(env, "import", str(path), "--tenant", "kommun")
    _no_traceback(result.stdout, result.stderr)
    assert result.returncode == 2
    assert "line 2: purchase_date" in result.stderr and "[/]" in result.stderr


async def test_a_latin1_register_is_refused_naming_the_line_and_nothing_is_sent(
    env: StackEnv, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (HEADER + "\nA1,2022-01-10,laptop,L,M,Atea,new,,1.2,it,,,,,\n").encode()
        + "A2,2022-01-10,laptop,L,M,Åtea,new,,1.2,it,,,,,\n".encode("latin-1")
    )
    result = await kretslopp(env, "import", str(path), "--tenant", "kommun")
    _no_traceback(result.stdout, result.stderr)
    assert result.returncode == 2
    assert "line 3: not UTF-8" in result.stderr
    assert "nothing imported" in result.stderr


async def test_binary_file_is_refused(env: StackEnv, tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(bytes(range(256)) * 4)
    result = await kretslopp(env, "import", str(path), "--tenant", "kommun")
    _no_traceback(result.stdout, result.stderr)
    assert result.returncode == 2


async def test_pipe_delimited_register_and_jsonl_with_a_bom_import(
    env: StackEnv, tmp_path: Path
) -> None:
    pipes = tmp_path / "pipes.csv"
    pipes.write_text(
        HEADER.replace(",", "|") + "\n" + "P1|2022-01-10|laptop|L|M|Atea|new||1.2|it|||||\n"
    )
    result = await kretslopp(env, "import", str(pipes), "--tenant", "kommun")
    _no_traceback(result.stderr)
    assert result.returncode == 0, result.stderr
    assert "1 row(s) read, 1 imported" in result.stderr
    lines = tmp_path / "register.jsonl"
    row = {
        "asset_id": "J1",
        "purchase_date": "2022-01-10",
        "category": "laptop",
        "manufacturer": "L",
        "model": "M",
        "supplier": "Atea",
    }
    lines.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(row) + b"\n")
    result = await kretslopp(env, "import", str(lines), "--tenant", "kommun")
    assert result.returncode == 0, result.stderr


async def test_produce_raw_refuses_a_line_over_the_record_limit(
    env: StackEnv, tmp_path: Path
) -> None:
    path = tmp_path / "huge.jsonl"
    path.write_bytes(orjson.dumps(event_dict("purchased")) + b"\n" + b"x" * 2_000_000 + b"\n")
    result = await kretslopp(env, "produce", "--raw", str(path))
    _no_traceback(result.stdout, result.stderr)
    assert result.returncode == 1
    assert "line 2" in result.stderr and "at most 900000" in result.stderr
    assert "sent 1 event(s)" in result.stderr


async def test_the_same_purchase_as_a_date_and_as_a_timestamp_is_one_event(
    env: StackEnv, tmp_path: Path
) -> None:
    path = tmp_path / "twice.csv"
    path.write_text(
        HEADER
        + "\nT1,2021-03-01,laptop,L,M,Atea,new,,1.2,it,,,,,"
        + "\nT1,2021-03-01T01:00:00+01:00,laptop,L,M,Atea,new,,1.2,it,,,,,\n"
    )
    env.worker()
    result = await kretslopp(env, "import", str(path), "--tenant", "kommun")
    assert result.returncode == 0, result.stderr
    from tests.integration.conftest import wait_for_totals

    await wait_for_totals(env, 1)
    rows = await fetch_all(env.dsn, "SELECT anomaly_count, event_count FROM asset_state")
    assert [(r["anomaly_count"], r["event_count"]) for r in rows] == [(0, 1)]
