"""The on-demand dump says where each thread and task waits, and nothing they hold."""

from __future__ import annotations

import asyncio
import threading

from streams.stack_dump import stacks


async def test_threads_and_tasks_of_each_loop_without_their_values() -> None:
    secret = "serial-SN-4711"  # a local of the waiting task: must not be printed
    started = threading.Event()
    other: dict[str, asyncio.AbstractEventLoop] = {}

    async def waits_for_ever(value: str) -> None:
        await asyncio.Event().wait()

    def run_other_loop() -> None:
        loop = asyncio.new_event_loop()
        other["loop"] = loop
        loop.call_soon(started.set)
        loop.run_forever()

    thread = threading.Thread(target=run_other_loop, name="consumer-like", daemon=True)
    thread.start()
    started.wait(5)
    task = asyncio.create_task(waits_for_ever(secret), name="the-waiting-task")
    await asyncio.sleep(0)
    try:
        assert thread.ident is not None
        dump = stacks(
            {threading.get_ident(): asyncio.get_running_loop(), thread.ident: other["loop"]}
        )
    finally:
        task.cancel()
        other["loop"].call_soon_threadsafe(other["loop"].stop)
    assert "THREAD MainThread" in dump and "THREAD consumer-like" in dump
    assert dump.count("TASKS") == 2
    assert "the-waiting-task" in dump and "in waits_for_ever" in dump
    assert secret not in dump
