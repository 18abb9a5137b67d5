"""``kretslopp produce`` and ``kretslopp status`` against the real broker and database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from tests.factories import event_dict
from tests.integration.conftest import StackEnv, kretslopp, totals, wait_for_totals


async def test_produce_sends_valid_lines_reports_bad_ones_and_status_shows_the_result(
    env: StackEnv, tmp_path: Path
) -> None:
    good = [event_dict("purchased", asset=f"a{i}") for i in range(5)]
    lines = [orjson.dumps(o) for o in good[:2]]
    lines.append(b"{broken")
    lines.append(orjson.dumps({**good[2], "tenant_id": ""}))
    lines.append(b"")  # blank lines are skipped
    lines += [orjson.dumps(o) for o in good[2:]]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = await kretslopp(env, "produce", str(path))
    assert result.returncode == 1
    assert "sent 5 event(s)" in result.stderr
    assert "line 3: not valid JSON" in result.stderr
    assert "line 4: tenant_id: String should have at least 1 character" in result.stderr

    # --raw sends lines as they are; the worker dead-letters the bad one
    raw_path = tmp_path / "raw.jsonl"
    raw_path.write_bytes(b"{broken\n" + orjson.dumps(event_dict("purchased", asset="z")) + b"\n")
    raw = await kretslopp(env, "produce", "--raw", str(raw_path))
    assert raw.returncode == 0, raw.stderr

    env.worker()
    await wait_for_totals(env, 6)
    for _ in range(100):
        status = await kretslopp(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        report = orjson.loads(status.stdout)
        if report["total_lag"] == 0:
            break
        await asyncio.sleep(0.2)
    assert sum(p["events_applied"] for p in report["partitions"]) == 6
    assert sum(p["dead_letters"] for p in report["partitions"]) == 1
    assert report["dead_letters_by_reason"] == {"not_json": 1}
    assert report["total_lag"] == 0
    assert report["assets"] == 6
    assert report["events_in_log"] == 6

    table = await kretslopp(env, "status")
    assert table.returncode == 0
    assert "unresolved dead letters by reason: not_json: 1" in table.stdout


async def test_tenant_settings_show_change_and_reject(env: StackEnv) -> None:
    shown = await kretslopp(env, "tenant-settings", "acme")
    assert shown.returncode == 0, shown.stderr
    assert orjson.loads(shown.stdout)["settings"]["displacement_rate"] == 1.0

    changed = await kretslopp(
        env, "tenant-settings", "acme", "--baseline", "laptop=3", "--displacement", "0.8"
    )
    assert changed.returncode == 0, changed.stderr
    assert "KPIs of 0 asset(s) recomputed" in changed.stdout
    again = await kretslopp(env, "tenant-settings", "acme", "--target", "laptop=8")
    body = orjson.loads(again.stdout.split("\nsaved")[0])
    assert body["settings"]["baseline_years"] == {"laptop": 3.0}
    assert body["settings"]["target_lifespan_years"] == {"laptop": 8.0}
    assert body["settings"]["displacement_rate"] == 0.8

    for args, words in [
        (("--baseline", "toaster=3"), "baseline_years.toaster"),
        (("--baseline", "laptop"), "expected CATEGORY=NUMBER"),
        (("--displacement", "1.5"), "displacement_rate"),
        (("--target", "laptop=-1"), "target_lifespan_years.laptop"),
        (("--target", "laptop=8", "--from", "31/12/2026"), "--from: '31/12/2026' is not a date"),
        (("--target", "laptop=8", "--reason", "a\x1b[2Jb"), "no control characters"),
        (("--history", "--target", "laptop=8"), "give it without changes"),
        (("--from", "2026-01-01"), "go with a change"),
    ]:
        bad = await kretslopp(env, "tenant-settings", "acme", *args)
        assert bad.returncode != 0
        assert words in bad.stderr
        assert "Traceback" not in bad.stderr
    history = orjson.loads((await kretslopp(env, "tenant-settings", "acme", "--history")).stdout)
    assert [v["version"] for v in history["versions"]] == [1, 2]  # the refused ones left none


async def test_dead_letter_corrected_and_resubmitted_counts_once(
    env: StackEnv, tmp_path: Path
) -> None:
    bad = {**event_dict("purchased", asset="fix-me"), "occurred_at": "2024-03-01T10:00:00"}
    path = tmp_path / "bad.jsonl"
    path.write_bytes(orjson.dumps(bad) + b"\n")
    sent = await kretslopp(env, "produce", "--raw", str(path))
    assert sent.returncode == 0, sent.stderr
    env.worker()
    for _ in range(300):
        listed = await kretslopp(env, "dlq", "list", "--json")
        letters = orjson.loads(listed.stdout) if listed.returncode == 0 else []
        if letters:
            break
        await asyncio.sleep(0.2)
    [letter] = letters
    assert (letter["reason_kind"], letter["field"]) == ("validation", "occurred_at")
    shown = await kretslopp(env, "dlq", "show", str(letter["id"]))
    assert orjson.loads(shown.stdout) == bad

    as_is = await kretslopp(env, "dlq", "retry", str(letter["id"]))
    assert as_is.returncode == 1
    assert "still invalid, nothing sent" in as_is.stderr
    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(orjson.dumps({**bad, "occurred_at": "2024-03-01T10:00:00+01:00"}))
    retried = await kretslopp(env, "dlq", "retry", str(letter["id"]), "--file", str(fixed))
    assert retried.returncode == 0, retried.stderr
    assert bad["event_id"] in retried.stderr
    again = await kretslopp(env, "dlq", "retry", str(letter["id"]), "--file", str(fixed))
    assert again.returncode == 1
    assert "already resolved" in again.stderr
    await wait_for_totals(env, 1)
    await asyncio.sleep(1)
    assert (await totals(env))[0] == 1
    listed = await kretslopp(env, "dlq", "list", "--json")
    assert orjson.loads(listed.stdout) == []
