"""OpenTelemetry: spans and metrics read back with the SDK's in-memory exporters; off costs nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from naq.connection import events, utils
from naq.connection.events import ConnectionEvent, ConnectionEventKind
from naq.connection.pool import ConnectionPool
from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.unit

SECRET = "Sup3rS3cretOtel"


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def metrics(self) -> dict[str, list[Any]]:
        """Instrument name -> its data points at this collection."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = list(metric.data.data_points)
        return found

    def values(self) -> dict[str, Any]:
        """One collection: instrument name -> its single point's value (histograms: the count)."""
        found: dict[str, Any] = {}
        for name, points in self.metrics().items():
            found[name] = sum(getattr(p, "count", 0) for p in points) if name.endswith(".duration") else None
            if found[name] is None:
                (point,) = points
                found[name] = point.value
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    yield Telemetry()
    utils.uninstrument_opentelemetry()


def instrument(monitor: ConnectionMonitor, telemetry: Telemetry) -> Any:
    return utils.instrument_opentelemetry(
        monitor, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )


def test_importing_utils_does_not_import_opentelemetry() -> None:
    code = "import sys, naq.connection.utils; print('opentelemetry' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


async def test_operation_spans_follow_the_messaging_conventions(telemetry: Telemetry) -> None:
    monitor = ConnectionMonitor()
    instrument(monitor, telemetry)
    app = telemetry.tracer_provider.get_tracer("app")
    with monitor.track_operation("enqueue", destination="jobs.new"), app.start_as_current_span("inner"):
        pass
    with pytest.raises(PermissionError), monitor.track_operation("publish"):
        raise PermissionError(f"token={SECRET} refused")
    with pytest.raises(asyncio.CancelledError), monitor.track_operation("cancelled"):
        raise asyncio.CancelledError

    spans = {span.name: span for span in telemetry.spans.get_finished_spans()}
    ok, inner = spans["enqueue"], spans["inner"]
    assert ok.attributes["messaging.system"] == "nats"
    assert ok.attributes["messaging.destination.name"] == "jobs.new"
    assert ok.attributes["naq.operation.outcome"] == "succeeded"
    assert inner.parent is not None
    assert inner.parent.span_id == ok.context.span_id  # the operation's span is current inside it
    failed = spans["publish"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "PermissionError"
    assert SECRET not in str(failed.status.description)
    assert "***" in str(failed.status.description)
    assert not failed.events  # no record_exception: no traceback or raw message on the span
    assert spans["cancelled"].attributes["naq.operation.outcome"] == "cancelled"
    assert spans["cancelled"].status.status_code is not StatusCode.ERROR

    values = telemetry.values()  # one collection (older SDKs report histograms as deltas)
    assert values["naq.nats.operation.duration"] == 3
    assert values["naq.nats.operations.started"] == 3
    assert values["naq.nats.operations.failed"] == 1
    assert values["naq.nats.operations.cancelled"] == 1
    assert values["naq.nats.operations.active"] == 0


def test_connect_events_give_spans_and_connection_metrics(telemetry: Telemetry) -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    instrument(monitor, telemetry)
    server = "nats://127.0.0.1:4222"
    events.emit(ConnectionEvent(ConnectionEventKind.CONNECTING, 1, "c"))
    events.emit(ConnectionEvent(ConnectionEventKind.CONNECTED, 1, "c", server=server, duration=0.25))
    events.emit(ConnectionEvent(ConnectionEventKind.CONNECTING, 2, "c"))
    events.emit(
        ConnectionEvent(
            ConnectionEventKind.CONNECT_FAILED,
            2,
            "c",
            server=server,
            duration=0.5,
            error=OSError(f"password {SECRET}"),
            error_message="OSError: password ***",
        )
    )
    spans = telemetry.spans.get_finished_spans()
    assert [span.name for span in spans] == ["nats connect", "nats connect"]
    good, bad = spans
    assert good.attributes["server.address"] == "127.0.0.1"
    assert good.attributes["server.port"] == 4222
    assert good.end_time - good.start_time == 250_000_000
    assert bad.attributes["error.type"] == "OSError"
    assert SECRET not in str(bad.status.description)
    values = telemetry.values()
    assert values["naq.nats.connection.attempts"] == 2
    assert values["naq.nats.connections.opened"] == 1
    assert values["naq.nats.connections.failed"] == 1
    assert values["naq.nats.connections.active"] == 1
    assert values["naq.nats.connect.duration"] == 2


def test_a_borrow_is_an_event_on_the_current_span(telemetry: Telemetry) -> None:
    monitor = ConnectionMonitor()
    instrument(monitor, telemetry)
    events.emit(
        ConnectionEvent(ConnectionEventKind.BORROWED, 7, "c", pooled=True)
    )  # no current span: ignored
    with monitor.track_operation("work"):
        events.emit(ConnectionEvent(ConnectionEventKind.BORROWED, 7, "c", pooled=True))
    (span,) = telemetry.spans.get_finished_spans()
    assert [event.name for event in span.events] == ["naq.pool.borrow"]


async def test_pool_gauges(telemetry: Telemetry) -> None:
    monitor = ConnectionMonitor()
    pool = ConnectionPool("nats://127.0.0.1:4222", size=2)
    monitor.add_pool(pool)
    instrument(monitor, telemetry)
    values = telemetry.values()
    assert (values["naq.nats.pool.connections.open"], values["naq.nats.pool.borrows"]) == (0, 0)
    await pool.close()


def test_instrumenting_twice_is_one_instrumentation_and_uninstrument_stops_it(telemetry: Telemetry) -> None:
    monitor = ConnectionMonitor()
    first = instrument(monitor, telemetry)
    assert instrument(monitor, telemetry) is first
    utils.uninstrument_opentelemetry(monitor)
    utils.uninstrument_opentelemetry(monitor)  # harmless
    with monitor.track_operation("after"):
        pass
    assert telemetry.spans.get_finished_spans() == ()
    assert "naq.nats.operations.started" not in telemetry.metrics()
    with pytest.raises(TypeError, match="monitor must be a ConnectionMonitor"):
        utils.instrument_opentelemetry("not a monitor")  # type: ignore[arg-type]


def test_default_monitor_and_missing_extra(monkeypatch: pytest.MonkeyPatch, telemetry: Telemetry) -> None:
    instrumentation = utils.instrument_opentelemetry(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    assert instrumentation.monitor is utils.connection_monitor
    utils.uninstrument_opentelemetry()
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"naq-connection-utils\[otel\]"):
        utils.instrument_opentelemetry(ConnectionMonitor())
