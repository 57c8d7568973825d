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


class NaqConnectionCollector:
    """A prometheus-client collector reading ``monitor`` (default: the package's ``connection_monitor``).

    Metrics: ``naq_nats_connections_total``, ``naq_nats_connections_successful_total``,
    ``naq_nats_connections_failed_total``, ``naq_nats_connections_active``,
    ``naq_nats_reconnects_total``, ``naq_nats_disconnects_total``, ``naq_nats_errors_total``,
    ``naq_nats_borrows_total``, ``naq_nats_server_connections_total{server}`` and the histogram
    ``naq_nats_connection_time_seconds``.
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
        counters = (
            ("naq_nats_connections", "Connection attempts started.", m.total_connections),
            (
                "naq_nats_connections_successful",
                "Connection attempts that succeeded.",
                m.successful_connections,
            ),
            ("naq_nats_connections_failed", "Connection attempts that failed.", m.failed_connections),
            ("naq_nats_reconnects", "Reconnects after a lost server.", m.reconnects),
            ("naq_nats_disconnects", "Connections that lost their server.", m.disconnects),
            ("naq_nats_errors", "Asynchronous errors on live connections.", m.errors),
            ("naq_nats_borrows", "Pooled connections lent to callers.", m.borrows),
        )
        for name, doc, value in counters:
            yield core.CounterMetricFamily(name, doc, value=value)
        yield core.GaugeMetricFamily(
            "naq_nats_connections_active",
            "Connections currently open (or attempts in flight).",
            value=m.active_connections,
        )
        per_server = core.CounterMetricFamily(
            "naq_nats_server_connections", "Connections and reconnects per server.", labels=["server"]
        )
        for server, count in sorted(m.connections_by_server.items()):
            per_server.add_metric([server], count)
        yield per_server
        buckets = [
            ("+Inf" if math.isinf(bound) else _float_label(bound), count)
            for bound, count in m.connection_time_buckets
        ]
        yield core.HistogramMetricFamily(
            "naq_nats_connection_time_seconds",
            "Connection (or monitored call) time in seconds.",
            buckets=buckets or [("+Inf", 0)],
            sum_value=m.total_connection_time,
        )

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
