"""``kretslopp produce`` and ``kretslopp status`` against the real broker and database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson

from tests.factories import event_dict
from tests.integration.conftest import StackEnv, wait_for_totals


def _cli(env: StackEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env.settings.child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


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

    result = await asyncio.to_thread(_cli, env, "produce", str(path))
    assert result.returncode == 1
    assert "sent 5 event(s)" in result.stderr
    assert "line 3: not valid JSON" in result.stderr
    assert "line 4: tenant_id: String should have at least 1 character" in result.stderr

    # --raw sends lines as they are; the worker dead-letters the bad one
    raw_path = tmp_path / "raw.jsonl"
    raw_path.write_bytes(b"{broken\n" + orjson.dumps(event_dict("purchased", asset="z")) + b"\n")
    raw = await asyncio.to_thread(_cli, env, "produce", "--raw", str(raw_path))
    assert raw.returncode == 0, raw.stderr

    env.worker()
    await wait_for_totals(env, 6)
    for _ in range(100):
        status = await asyncio.to_thread(_cli, env, "status", "--json")
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

    table = await asyncio.to_thread(_cli, env, "status")
    assert table.returncode == 0
    assert "dead letters by reason: not_json: 1" in table.stdout


async def test_tenant_settings_show_change_and_reject(env: StackEnv) -> None:
    shown = await asyncio.to_thread(_cli, env, "tenant-settings", "acme")
    assert shown.returncode == 0, shown.stderr
    assert orjson.loads(shown.stdout)["settings"]["displacement_rate"] == 1.0

    changed = await asyncio.to_thread(
        _cli, env, "tenant-settings", "acme", "--baseline", "laptop=3", "--displacement", "0.8"
    )
    assert changed.returncode == 0, changed.stderr
    assert "KPIs of 0 asset(s) recomputed" in changed.stdout
    again = await asyncio.to_thread(_cli, env, "tenant-settings", "acme", "--target", "laptop=8")
    body = orjson.loads(again.stdout.split("\nsaved")[0])
    assert body["settings"]["baseline_years"] == {"laptop": 3.0}
    assert body["settings"]["target_lifespan_years"] == {"laptop": 8.0}
    assert body["settings"]["displacement_rate"] == 0.8

    for args, words in [
        (("--baseline", "toaster=3"), "baseline_years.toaster"),
        (("--baseline", "laptop"), "expected CATEGORY=NUMBER"),
        (("--displacement", "1.5"), "displacement_rate"),
        (("--target", "laptop=-1"), "target_lifespan_years.laptop"),
    ]:
        bad = await asyncio.to_thread(_cli, env, "tenant-settings", "acme", *args)
        assert bad.returncode != 0
        assert words in bad.stderr
