"""Prometheus exposition of a :class:`ConnectionMonitor` (needs the ``[prometheus]`` extra).

``register_prometheus_collector()`` adds a custom collector to a prometheus-client registry; every
scrape reads a fresh snapshot of the monitor. ``prometheus_text()`` renders the exposition text
without touching any global registry. Server labels are redacted (no credentials).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from naq.connection import utils as _utils
from naq.connection.utils.metrics import ConnectionMonitor

__all__ = [
    "COUNTERS",
    "DEPRECATED_COUNTERS",
    "GAUGES",
    "NaqConnectionCollector",
    "prometheus_text",
    "register_prometheus_collector",
    "unregister_prometheus_collector",
]

_INSTALL_HINT = (
    "Prometheus export needs the prometheus-client package: pip install 'naq-connection-utils[prometheus]'"
)


def _prometheus() -> ModuleType:
    """Import prometheus_client, or explain how to install it."""
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return prometheus_client


_DEPRECATED = "DEPRECATED (removed in 0.3): use {new}. "

COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("naq_nats_connection_attempts", "Connection attempts started.", "total_connections"),
    (
        "naq_nats_connections_opened",
        "Connections opened (attempts that succeeded).",
        "successful_connections",
    ),
    ("naq_nats_connections_failed", "Connection attempts that failed.", "failed_connections"),
    ("naq_nats_reconnects", "Reconnects after a lost server.", "reconnects"),
    ("naq_nats_disconnects", "Connections that lost their server.", "disconnects"),
    ("naq_nats_errors", "Asynchronous errors on live connections.", "errors"),
    ("naq_nats_borrows", "Pooled connections lent to callers (no new connection).", "borrows"),
    ("naq_nats_operations_started", "Monitored operations (calls) started.", "operations_started"),
    ("naq_nats_operations_succeeded", "Monitored operations that returned.", "operations_succeeded"),
    ("naq_nats_operations_failed", "Monitored operations that raised an exception.", "operations_failed"),
    (
        "naq_nats_operations_cancelled",
        "Monitored operations cancelled (neither success nor failure).",
        "operations_cancelled",
    ),
    ("naq_nats_pool_borrows", "Borrows from the registered pools (their stats()).", "pool_borrows"),
    (
        "naq_nats_pool_connections_opened",
        "Connections the registered pools opened.",
        "pool_connections_opened",
    ),
    (
        "naq_nats_pool_connect_failures",
        "Failed connect attempts of the registered pools.",
        "pool_connect_failures",
    ),
    (
        "naq_nats_pool_replacements",
        "Pooled connections replaced after closing for good.",
        "pool_replacements",
    ),
)
"""Counter family name (exposed with ``_total``), help text, :class:`ConnectionMetrics` field."""

GAUGES: tuple[tuple[str, str, str], ...] = (
    ("naq_nats_connections_active", "Connections open now (or attempts in flight).", "active_connections"),
    ("naq_nats_operations_active", "Monitored operations running now.", "active_operations"),
    ("naq_nats_pools", "Pools registered with the monitor.", "pools"),
    ("naq_nats_pool_size", "Configured connections of the registered pools.", "pool_size"),
    (
        "naq_nats_pool_connections_open",
        "Connections the registered pools hold open now.",
        "pool_open_connections",
    ),
    ("naq_nats_pool_lent", "Borrows from the registered pools in progress now.", "pool_lent"),
)

DEPRECATED_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("naq_nats_connections", "naq_nats_connection_attempts_total", "total_connections"),
    ("naq_nats_connections_successful", "naq_nats_connections_opened_total", "successful_connections"),
)
"""Old counter name, its replacement, field: exposed for one more release, marked in their HELP."""


class NaqConnectionCollector:
    """A prometheus-client collector reading ``monitor`` (default: the package's ``connection_monitor``).

    Exposes every counter in :data:`COUNTERS` (with ``_total``), every gauge in :data:`GAUGES`,
    ``naq_nats_server_connections_total{server}``, the histograms ``naq_nats_connect_time_seconds``
    and ``naq_nats_operation_duration_seconds``, and, for one more release, the deprecated names in
    :data:`DEPRECATED_COUNTERS` and ``naq_nats_connection_time_seconds``.
    """

    def __init__(self, monitor: ConnectionMonitor | None = None) -> None:
        _prometheus()
        self._monitor = monitor

    @property
    def monitor(self) -> ConnectionMonitor:
        """The monitor read on each scrape (the package's ``connection_monitor`` if none was given)."""
        return self._monitor if self._monitor is not None else _utils.connection_monitor

    def collect(self) -> Iterator[Any]:
        """Yield the metric families for one scrape."""
        _prometheus()
        from prometheus_client import core

        m = self.monitor.get_metrics()
        for name, doc, attr in COUNTERS:
            yield core.CounterMetricFamily(name, doc, value=getattr(m, attr))
        for name, doc, attr in GAUGES:
            yield core.GaugeMetricFamily(name, doc, value=getattr(m, attr))
        for name, new, attr in DEPRECATED_COUNTERS:
            yield core.CounterMetricFamily(name, _DEPRECATED.format(new=new), value=getattr(m, attr))
        per_server = core.CounterMetricFamily(
            "naq_nats_server_connections", "Connections and reconnects per server.", labels=["server"]
        )
        for server, count in sorted(m.connections_by_server.items()):
            per_server.add_metric([server], count)
        yield per_server
        histograms = (
            (
                "naq_nats_connect_time_seconds",
                "Connect time in seconds.",
                m.connection_time_buckets,
                m.total_connection_time,
            ),
            (
                "naq_nats_operation_duration_seconds",
                "Duration of monitored operations in seconds.",
                m.operation_time_buckets,
                m.total_operation_time,
            ),
            (
                "naq_nats_connection_time_seconds",
                _DEPRECATED.format(new="naq_nats_connect_time_seconds") + "Connect time in seconds.",
                m.connection_time_buckets,
                m.total_connection_time,
            ),
        )
        for name, doc, cumulative, total in histograms:
            buckets = [
                ("+Inf" if math.isinf(bound) else _float_label(bound), count) for bound, count in cumulative
            ]
            yield core.HistogramMetricFamily(name, doc, buckets=buckets or [("+Inf", 0)], sum_value=total)

    def describe(self) -> Iterator[Any]:
        """Same families as :meth:`collect` (lets the registry check names without a surprise)."""
        return self.collect()


def _float_label(value: float) -> str:
    return repr(float(value))


_registered: weakref.WeakKeyDictionary[Any, NaqConnectionCollector] = weakref.WeakKeyDictionary()


def register_prometheus_collector(
    monitor: ConnectionMonitor | None = None, registry: Any = None
) -> NaqConnectionCollector:
    """Register a collector for ``monitor`` with ``registry`` (default: prometheus-client's ``REGISTRY``).

    Registering the same monitor with the same registry again returns the existing collector; a
    different monitor on the same registry is a ``ValueError`` (the metric names would clash) -- call
    :func:`unregister_prometheus_collector` first. Raises ``ImportError`` naming the
    ``naq-connection-utils[prometheus]`` extra when prometheus-client is missing.
    """
    prometheus = _prometheus()
    target = prometheus.REGISTRY if registry is None else registry
    existing = _registered.get(target)
    if existing is not None:
        if existing._monitor is monitor:
            return existing
        raise ValueError(
            "a naq connection collector is already registered with this registry for another monitor; "
            "call unregister_prometheus_collector(registry) first"
        )
    collector = NaqConnectionCollector(monitor)
    target.register(collector)
    _registered[target] = collector
    return collector


def unregister_prometheus_collector(registry: Any = None) -> None:
    """Remove the collector :func:`register_prometheus_collector` added to ``registry`` (if any)."""
    prometheus = _prometheus()
    target = prometheus.REGISTRY if registry is None else registry
    collector = _registered.pop(target, None)
    if collector is not None:
        target.unregister(collector)


def prometheus_text(monitor: ConnectionMonitor | None = None) -> str:
    """The Prometheus text exposition of ``monitor`` (default: the package's ``connection_monitor``)."""
    prometheus = _prometheus()
    registry = prometheus.CollectorRegistry(auto_describe=True)
    registry.register(NaqConnectionCollector(monitor))
    text: bytes = prometheus.generate_latest(registry)
    return text.decode("utf-8")
