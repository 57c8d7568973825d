"""OpenTelemetry for naq connections (needs the ``[otel]`` extra: ``opentelemetry-api``).

Off by default and free when off: nothing here imports ``opentelemetry`` until
:func:`instrument_opentelemetry` is called. Once called for a monitor it adds:

- **metrics** through the OpenTelemetry metrics API: the monitor's connection, operation and pool
  figures as observable instruments (read at each collection), plus the histograms
  ``naq.nats.connect.duration`` and ``naq.nats.operation.duration`` (seconds);
- **spans** around every tracked operation (``@with_connection_monitoring`` uses
  :meth:`~naq.connection.utils.ConnectionMonitor.track_operation`), a ``nats connect`` span per
  initial connect (from core's events, with the measured start and end), and a ``naq.pool.borrow``
  event on the current span whenever a pool lends its connection.

Attributes follow the messaging semantic conventions where they apply: ``messaging.system="nats"``,
``messaging.destination.name`` (when the operation names one), ``server.address``/``server.port``
and ``error.type`` (the exception's class name). A span's error description is the redacted one-line
text :func:`~naq.connection.utils.metrics.describe_error` gives; exceptions are not recorded with
``record_exception`` (their text and traceback could carry secrets).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from naq.connection import events
from naq.connection import utils as _utils
from naq.connection.events import ConnectionEvent, ConnectionEventKind
from naq.connection.utils.metrics import ConnectionMonitor, describe_error

__all__ = ["OpenTelemetryInstrumentation", "instrument_opentelemetry", "uninstrument_opentelemetry"]

_INSTALL_HINT = "OpenTelemetry support needs opentelemetry-api: pip install 'naq-connection-utils[otel]'"
_SCOPE = "naq.connection.utils"

_OBSERVED: tuple[tuple[str, str, str, str], ...] = (
    # kind ("counter" / "updown"), instrument name, ConnectionMetrics field, description
    ("counter", "naq.nats.connection.attempts", "total_connections", "Connection attempts started."),
    ("counter", "naq.nats.connections.opened", "successful_connections", "Connections opened."),
    ("counter", "naq.nats.connections.failed", "failed_connections", "Connection attempts that failed."),
    ("updown", "naq.nats.connections.active", "active_connections", "Connections open now."),
    ("counter", "naq.nats.reconnects", "reconnects", "Reconnects after a lost server."),
    ("counter", "naq.nats.disconnects", "disconnects", "Connections that lost their server."),
    ("counter", "naq.nats.errors", "errors", "Asynchronous errors on live connections."),
    ("counter", "naq.nats.borrows", "borrows", "Pooled connections lent out (no new connection)."),
    ("counter", "naq.nats.operations.started", "operations_started", "Monitored operations started."),
    (
        "counter",
        "naq.nats.operations.succeeded",
        "operations_succeeded",
        "Monitored operations that returned.",
    ),
    ("counter", "naq.nats.operations.failed", "operations_failed", "Monitored operations that raised."),
    ("counter", "naq.nats.operations.cancelled", "operations_cancelled", "Monitored operations cancelled."),
    ("updown", "naq.nats.operations.active", "active_operations", "Monitored operations running now."),
    (
        "updown",
        "naq.nats.pool.connections.open",
        "pool_open_connections",
        "Open connections of registered pools.",
    ),
    ("updown", "naq.nats.pool.lent", "pool_lent", "Borrows from the registered pools in progress now."),
    ("counter", "naq.nats.pool.borrows", "pool_borrows", "Borrows from the registered pools."),
    ("counter", "naq.nats.pool.replacements", "pool_replacements", "Pooled connections replaced."),
    (
        "counter",
        "naq.nats.pool.connect_failures",
        "pool_connect_failures",
        "Failed connects of registered pools.",
    ),
)
"""Every observable instrument and the monitor figure it reports (README: OpenTelemetry)."""


def _otel() -> tuple[Any, Any, Any]:
    """Import the OpenTelemetry API (``metrics``, ``trace``, ``context``), or explain how to install it."""
    try:
        from opentelemetry import context, metrics, trace
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return metrics, trace, context


def _server_attributes(server: str | None) -> dict[str, Any]:
    if not server:
        return {}
    parts = urlsplit(server)
    attributes: dict[str, Any] = {}
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    try:
        if parts.port is not None:
            attributes["server.port"] = parts.port
    except ValueError:
        pass
    return attributes


class OpenTelemetryInstrumentation:
    """What :func:`instrument_opentelemetry` set up for one monitor; :meth:`uninstrument` removes it."""

    def __init__(
        self, monitor: ConnectionMonitor, tracer_provider: Any = None, meter_provider: Any = None
    ) -> None:
        metrics, trace, context = _otel()
        self.monitor = monitor
        self._trace = trace
        self._context = context
        self._active = True
        version = _utils.__version__
        self._tracer = trace.get_tracer(_SCOPE, version, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, version, meter_provider=meter_provider)
        self._operation_duration = meter.create_histogram(
            "naq.nats.operation.duration", unit="s", description="Duration of monitored operations."
        )
        self._connect_duration = meter.create_histogram(
            "naq.nats.connect.duration", unit="s", description="Initial connect time (successful or not)."
        )
        for kind, name, field, description in _OBSERVED:
            create = (
                meter.create_observable_counter
                if kind == "counter"
                else meter.create_observable_up_down_counter
            )
            create(name, callbacks=[self._observe(metrics, field)], unit="1", description=description)
        monitor.add_observer(self)
        events.add_listener(self._on_event)

    def _observe(self, metrics: Any, field: str) -> Any:
        def callback(options: Any) -> list[Any]:
            if not self._active:
                return []
            value = getattr(self.monitor.get_metrics(), field)
            return [metrics.Observation(value, {"messaging.system": "nats"})]

        return callback

    # -- the monitor's OperationObserver protocol ------------------------------------------------
    def start(self, name: str, destination: str | None) -> object:
        """Start the operation's span and make it current (child spans nest under it)."""
        attributes: dict[str, Any] = {"messaging.system": "nats", "naq.operation.name": name}
        if destination:
            attributes["messaging.destination.name"] = destination
        span = self._tracer.start_span(name, kind=self._trace.SpanKind.INTERNAL, attributes=attributes)
        token = self._context.attach(self._trace.set_span_in_context(span))
        return (span, token, name)

    def end(self, handle: object, outcome: str, error: BaseException | None, duration: float) -> None:
        """End the span with the outcome (an error status without secrets) and record the duration."""
        span, token, name = cast("tuple[Any, object, str]", handle)
        self._context.detach(token)
        attributes: dict[str, Any] = {
            "messaging.system": "nats",
            "naq.operation.name": name,
            "naq.operation.outcome": outcome,
        }
        if outcome == "failed" and error is not None:
            attributes["error.type"] = type(error).__qualname__
            span.set_attribute("error.type", attributes["error.type"])
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, describe_error(error)))
        span.set_attribute("naq.operation.outcome", outcome)
        span.end()
        self._operation_duration.record(duration, attributes)

    # -- core events -----------------------------------------------------------------------------
    def _on_event(self, event: ConnectionEvent) -> None:
        kind = event.kind
        if kind is ConnectionEventKind.BORROWED:
            span = self._trace.get_current_span()
            if span.is_recording():
                span.add_event("naq.pool.borrow", {"naq.connection.id": event.connection_id})
        elif kind is ConnectionEventKind.CONNECTED or kind is ConnectionEventKind.CONNECT_FAILED:
            self._connect_span(event)

    def _connect_span(self, event: ConnectionEvent) -> None:
        duration = event.duration or 0.0
        end_ns = int(event.timestamp * 1e9)
        attributes: dict[str, Any] = {"messaging.system": "nats", **_server_attributes(event.server)}
        span = self._tracer.start_span(
            "nats connect",
            kind=self._trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=end_ns - int(duration * 1e9),
        )
        if event.kind is ConnectionEventKind.CONNECT_FAILED:
            error_type = type(event.error).__qualname__ if event.error is not None else "connect_failed"
            attributes["error.type"] = error_type
            span.set_attribute("error.type", error_type)
            span.set_status(
                self._trace.Status(self._trace.StatusCode.ERROR, event.error_message or error_type)
            )
        span.end(end_time=end_ns)
        self._connect_duration.record(duration, attributes)

    def uninstrument(self) -> None:
        """Stop: no more spans, no more observations (instruments cannot be removed from a meter)."""
        self._active = False
        self.monitor.remove_observer(self)
        events.remove_listener(self._on_event)
        if _instrumented.get(id(self.monitor)) is self:
            del _instrumented[id(self.monitor)]


_instrumented: dict[int, OpenTelemetryInstrumentation] = {}


def instrument_opentelemetry(
    monitor: ConnectionMonitor | None = None, *, tracer_provider: Any = None, meter_provider: Any = None
) -> OpenTelemetryInstrumentation:
    """Report ``monitor`` (default: ``naq.connection.utils.connection_monitor``) through OpenTelemetry.

    ``tracer_provider`` / ``meter_provider`` default to the global ones OpenTelemetry is configured
    with. Instrumenting the same monitor again returns the existing instrumentation. Raises
    ``ImportError`` naming the ``[otel]`` extra when opentelemetry-api is missing. Connection metrics
    and connect spans need core's events to reach this process: they are delivered whether or not
    :func:`~naq.connection.utils.enable_connection_monitoring` is on, but the connection *counts*
    come from the monitor, so enable monitoring for them.
    """
    if monitor is None:
        monitor = _utils.connection_monitor
    if not isinstance(monitor, ConnectionMonitor):
        raise TypeError(f"monitor must be a ConnectionMonitor, got {type(monitor).__name__}")
    existing = _instrumented.get(id(monitor))
    if existing is not None:
        return existing
    instrumentation = OpenTelemetryInstrumentation(monitor, tracer_provider, meter_provider)
    _instrumented[id(monitor)] = instrumentation
    return instrumentation


def uninstrument_opentelemetry(monitor: ConnectionMonitor | None = None) -> None:
    """Undo :func:`instrument_opentelemetry` for ``monitor`` (every monitor when None)."""
    targets = list(_instrumented.values()) if monitor is None else [_instrumented.get(id(monitor))]
    for instrumentation in targets:
        if instrumentation is not None:
            instrumentation.uninstrument()
