"""The API's fan-out of change notices, without a database: tenants isolated, a slow stream
reduced to one resync, Last-Event-ID replayed from this process or answered with a resync."""

from __future__ import annotations

import orjson

from services.http.live import QUEUE_SIZE, ChangeFeed


def notice(**tenants: list[str]) -> str:
    return orjson.dumps({t: {"months": m, "applied": 1} for t, m in tenants.items()}).decode()


def drain(subscriber: object) -> list[tuple[str, str, object]]:
    queue = subscriber.queue  # type: ignore[attr-defined]
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def test_each_tenant_hears_only_its_own_changes() -> None:
    feed = ChangeFeed("postgresql://unused")
    acme, globex = feed.subscribe("acme", None), feed.subscribe("globex", None)
    feed._on_notify(None, 1, "kretslopp_changes", notice(acme=["2025-01"]))
    (got,) = drain(acme)
    assert got[1:] == ("changed", {"months": ["2025-01"], "applied": 1})
    assert drain(globex) == []
    feed.unsubscribe(acme)
    feed.unsubscribe(globex)
    assert feed.streams == 0


def test_a_stream_that_falls_behind_gets_one_resync_and_slows_no_one() -> None:
    feed = ChangeFeed("postgresql://unused")
    slow, fast = feed.subscribe("acme", None), feed.subscribe("acme", None)
    for i in range(QUEUE_SIZE + 10):
        feed._on_notify(None, 1, "c", notice(acme=[f"2025-{1 + i % 12:02d}"]))
        drain(fast)  # keeps up
    events = [e[1] for e in drain(slow)]
    assert "resync" in events and len(events) <= QUEUE_SIZE


def test_last_event_id_replays_what_was_missed_or_asks_for_a_resync() -> None:
    feed = ChangeFeed("postgresql://unused")
    first = feed.subscribe("acme", None)
    feed._on_notify(None, 1, "c", notice(acme=["2025-01"]))
    (seen,) = drain(first)
    feed._on_notify(None, 1, "c", notice(acme=["2025-02"], globex=["2025-02"]))
    feed._on_notify(None, 1, "c", notice(acme=["2025-03"]))
    again = feed.subscribe("acme", seen[0])
    assert [e[2]["months"] for e in drain(again)] == [["2025-02"], ["2025-03"]]  # type: ignore[index]
    stranger = feed.subscribe("acme", "otherboot-3")
    assert [e[1] for e in drain(stranger)] == ["resync"]
    garbage = feed.subscribe("acme", "not-an-id")
    assert [e[1] for e in drain(garbage)] == ["resync"]
