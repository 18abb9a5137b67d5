"""High-water marks: one-shot and through the API's reused reader, never stale."""

from __future__ import annotations

from streams.watermarks import WatermarkReader, high_watermarks
from tests.factories import as_record, event_dict
from tests.integration.conftest import StackEnv, produce


async def test_a_reused_reader_sees_every_new_record(env: StackEnv) -> None:
    reader = WatermarkReader(env.kafka, env.settings.topic)
    try:
        assert sum((await reader.read()).values()) == 0
        await produce(env, [as_record(event_dict("purchased", asset=f"a{i}")) for i in range(10)])
        first = await reader.read()
        assert sum(first.values()) == 10
        await produce(env, [as_record(event_dict("repaired", asset=f"a{i}")) for i in range(7)])
        second = await reader.read()  # the same consumer: a fresh assignment, fresh marks
        assert sum(second.values()) == 17
        assert second == await high_watermarks(env.kafka, env.settings.topic)
    finally:
        await reader.close()
