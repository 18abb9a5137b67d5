"""Faust's per-record work that kretslopp does not use, replaced by what it amounts to here.

Profiled on the 2-core machine (py-spy, the bench's Faust worker on 300k events, Tansu): Faust's
own path from a fetched record to the agent cost ~45 us per record, and four of its steps do
nothing kretslopp needs:

- the topic's records are raw bytes, yet every key and value went through the serializer
  registry and the ``raw`` codec by name (~8 us): :class:`RawBytesSchema` hands them on as
  they are;
- ``App.create_event`` looks the Event class up in the settings for every record, through
  Faust's settings descriptors (~3.6 us): :class:`LeanRecordPathApp` looks it up once;
- the conductor asks the producer buffer for its size before every record, and the size
  property reads ``conf.producer_threaded`` through the same descriptors (~3.8 us):
  :class:`LeanProducerBuffer` reads the setting once;
- the Monitor sensor counts and times each record four times (in, stream in, stream out,
  out) for Faust's web views, which the worker runs without (``web_enabled=False``); its
  figures were never read (kretslopp's own are ``streams.metrics``).

None of them changes which record reaches the agent or when it is acknowledged.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.producer import ProducerBuffer


class RawBytesSchema(faust.Schema[bytes, bytes]):
    """A topic of raw bytes: the record's key and value, untouched (what the ``raw``
    serializer returned after a registry lookup per record)."""

    def __init__(self) -> None:
        super().__init__(
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    def loads_key(
        self, app: Any, message: Any, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        return message.key

    def loads_value(
        self, app: Any, message: Any, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        return message.value


class LeanProducerBuffer(ProducerBuffer):
    """Faust's producer buffer with ``producer_threaded`` read once, not per record."""

    threaded: bool = False

    @property
    def size(self) -> int:
        queue = self.queue if self.threaded else self.pending
        return len(queue._queue) if queue else 0  # type: ignore[attr-defined]


class LeanRecordPathApp(faust.App):
    """A Faust app without the Monitor sensor and with its Event class looked up once."""

    _event_class: Any = None

    def on_init_dependencies(self) -> Any:
        services = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return services

    def create_event(self, key: Any, value: Any, headers: Any, message: Any) -> Any:
        event_class = self._event_class
        if event_class is None:
            event_class = self._event_class = self.conf.Event
        return event_class(self, key, value, headers, message)
