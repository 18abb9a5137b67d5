"""The publisher behind the gateway, adapters and import, with no broker to reach. (A send
that fails on a running cluster: ``tests/integration/test_cluster_faults.py``,
``test_the_gateway_sends_again_after_a_partition_had_no_leader``.)"""

from __future__ import annotations

import gc
import warnings

import pytest
from aiokafka.errors import KafkaError

from infra.ports import free_port
from services.intake.publisher import Publisher
from tests.factories import event


async def test_an_unreachable_broker_fails_each_send_and_leaves_no_producer_open() -> None:
    """The gateway answers 503 on a KafkaError; each POST while the broker is down starts a
    producer that cannot connect, and none may be left unclosed behind it."""
    publisher = Publisher(f"127.0.0.1:{free_port()}", "lifecycle", idempotent=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            with pytest.raises(KafkaError):
                await publisher.publish([event("purchased")])
        await publisher.close()
        gc.collect()
    unclosed = [str(w.message) for w in caught if "Unclosed AIOKafkaProducer" in str(w.message)]
    assert unclosed == []
