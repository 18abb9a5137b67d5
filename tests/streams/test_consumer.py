"""The Faust and aiokafka internals ``streams/consumer.py`` builds on are still there.

Both changes reach below public APIs (pinned in constraints.txt). These fail on an upgrade that
moves them, instead of the worker silently losing its speed or its rebalance safety.
"""

from __future__ import annotations

import inspect
import re

from aiokafka import AIOKafkaConsumer
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.consumer import KretsloppConsumer, KretsloppTransport, ShortFetchWaitThread


def _source(obj: object) -> str:
    return re.sub(r"\s+", " ", inspect.getsource(obj))  # type: ignore[arg-type]


def test_the_record_loop_still_races_each_delivery_against_a_suspended_flow() -> None:
    loop = _source(faust_consumer.Consumer._drain_messages)
    assert "callback = self.callback" in loop
    assert "await self.wait_first( callback(message), self.suspend_flow.wait() )" in loop


def test_only_the_record_loop_calls_the_delivery_callback() -> None:
    module = inspect.getsource(faust_consumer)
    assert module.count("self.callback") == 2  # set in __init__, read in _drain_messages


def test_aiokafka_still_reads_the_fetch_wait_when_it_starts() -> None:
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in _source(AIOKafkaConsumer.start)
    created = _source(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
    assert "fetch_max_wait_ms=1500" in created  # what ShortFetchWaitThread overrides


def test_the_app_gets_our_consumer_and_thread() -> None:
    assert KretsloppTransport.Consumer is KretsloppConsumer
    assert issubclass(ShortFetchWaitThread, faust_aiokafka.AIOKafkaConsumerThread)
    assert "AIOKafkaConsumerThread(self" in _source(faust_aiokafka.Consumer._new_consumer_thread)
