"""The composite row types the writer sends (migration 0012) have the attributes, in the
order and of the types, that ``state_rows`` and ``event_rows`` build their tuples in. A column
added to one side only fails here, not as a wrong value in some column of a live batch."""

from __future__ import annotations

from projections import event_rows, state_rows
from projections.postgres.connection import Connection

ATTRIBUTES = """
SELECT a.attname, a.atttypid::regtype::text AS type
FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
WHERE t.typname = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


async def _attributes(conn: Connection, type_name: str) -> list[tuple[str, str]]:
    return [(r["attname"], r["type"]) for r in await conn.fetch(ATTRIBUTES, type_name)]


async def _expected(conn: Connection, columns: dict[str, str]) -> list[tuple[str, str]]:
    return [(c, await conn.fetchval("SELECT $1::regtype::text", t)) for c, t in columns.items()]


async def test_state_write_row_matches_the_state_mapping(conn: Connection) -> None:
    columns = {c: state_rows.COLUMN_TYPES[c] for c in state_rows.COLUMNS}
    assert await _attributes(conn, state_rows.WRITE_ROW_TYPE) == await _expected(conn, columns)


async def test_event_write_row_matches_the_event_mapping(conn: Connection) -> None:
    attributes = await _attributes(conn, event_rows.WRITE_ROW_TYPE)
    assert attributes == await _expected(conn, event_rows.WRITE_COLUMNS)


async def test_state_write_row_covers_every_stored_column(conn: Connection) -> None:
    """Every column of asset_state the writer owns is in the row (updated_at is now())."""
    stored = {
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'asset_state'"
        )
    }
    assert stored - {"updated_at"} == set(state_rows.COLUMNS)
