"""The lean per-record path (``streams/record_path.py``) does what Faust's steps did, and the
Faust internals it replaces are still where it expects them (pinned in constraints.txt)."""

from __future__ import annotations

import inspect
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from faust.app import base as faust_app
from faust.serializers import schemas as faust_schemas
from faust.transport import conductor as faust_conductor
from faust.transport.producer import ProducerBuffer

from infra.settings import Settings
from streams.app import create_app
from streams.record_path import LeanProducerBuffer, RawBytesSchema


def _source(obj: object) -> str:
    return re.sub(r"\s+", " ", inspect.getsource(obj))  # type: ignore[arg-type]


def _settings(tmp_path: Path) -> Settings:
    return replace(Settings.from_env(), data_dir=tmp_path).with_endpoints(
        "127.0.0.1:1", "postgresql://unused/x", 1
    )


def test_raw_records_reach_the_agent_as_the_same_bytes_as_through_the_raw_codec(
    tmp_path: Path,
) -> None:
    app = create_app(_settings(tmp_path))
    faust_raw = faust_schemas.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    for key, value in [(b"t/a1", b'{"x": 1}'), (None, b"\xff\x00 not json"), (b"k", None)]:
        message = SimpleNamespace(key=key, value=value, headers=[])
        lean = RawBytesSchema()
        assert lean.loads_key(app, cast(Any, message)) == faust_raw.loads_key(
            app, cast(Any, message)
        )
        assert lean.loads_value(app, cast(Any, message)) == faust_raw.loads_value(
            app, cast(Any, message)
        )


def test_the_schema_compiles_its_decoder_from_the_overridden_loaders() -> None:
    compiled = _source(faust_schemas.Schema.compile)
    assert "schema_loads_key = self.loads_key" in compiled
    assert "schema_loads_value = self.loads_value" in compiled


def test_the_worker_app_has_no_monitor_sensor_and_makes_faust_events(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    list(app.on_init_dependencies())
    assert app.monitor not in set(app.sensors)
    event = app.create_event(b"k", b"v", [], cast(Any, SimpleNamespace()))
    assert isinstance(event, app.conf.Event)
    assert (event.key, event.value) == (b"k", b"v")
    assert "self.sensors.add(self.monitor)" in _source(faust_app.App.on_init_dependencies)
    assert "self.conf.Event(" in _source(faust_app.App.create_event)


def test_the_lean_buffer_counts_what_is_waiting_as_faust_s_does(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    faust_buffer, lean = ProducerBuffer(), LeanProducerBuffer()
    for buffer in (faust_buffer, lean):
        buffer.app = app
        for n in range(3):
            buffer.pending.put_nowait(cast(Any, n))
    assert lean.size == faust_buffer.size == 3
    assert isinstance(app.producer.buffer, LeanProducerBuffer)
    # the conductor asks the producer's buffer before every record
    handler = _source(faust_conductor.ConductorCompiler.build)
    assert "wait_until_producer_ebb = app.producer.buffer.wait_until_ebb" in handler
