"""naq.connection.utils: connection metrics, monitoring, health checks and the naq-connection CLI.

This package's namespace is the patch surface: ``nats_connection``, ``nats_jetstream``, ``logger``,
``asyncio``, ``connection_monitor`` and ``test_nats_connection`` live here and every function that
uses them looks them up here at call time, so ``unittest.mock.patch("naq.connection.utils.<name>")``
changes what they do. ``asyncio`` is consulted for ``get_event_loop().time()`` and ``sleep`` (the
clock and waits of :func:`wait_for_nats_connection`).

Global state: ``connection_monitor`` is the process-wide default :class:`ConnectionMonitor`; reset it
with :func:`reset_connection_metrics`, and stop automatic monitoring with
:func:`disable_connection_monitoring`.
"""

from __future__ import annotations

import asyncio as asyncio  # re-exported: a patch point (clock and sleep of wait_for_nats_connection)
import logging

from naq.connection.context_managers import nats_connection, nats_jetstream
from naq.connection.utils.metrics import (
    DEFAULT_BUCKETS,
    DEFAULT_WINDOW,
    ConnectionMetrics,
    ConnectionMonitor,
    MetricsView,
    TrackedOperation,
    percentile,
)

__version__: str = __import__("importlib.metadata").metadata.version("naq-connection-utils")

logger = logging.getLogger("naq.connection.utils")

connection_monitor = ConnectionMonitor()
"""The default monitor: what the decorators, automatic monitoring and the exporters use by default."""


async def get_connection_metrics() -> ConnectionMetrics:
    """A snapshot of ``connection_monitor`` (looked up at call time)."""
    return connection_monitor.get_metrics()


async def reset_connection_metrics() -> None:
    """Zero ``connection_monitor``'s counters (looked up at call time)."""
    connection_monitor.reset_metrics()


# The submodules below import this package to look the names above up at call time: keep them last.
from naq.connection.utils.export import metrics_to_dict, metrics_to_json  # noqa: E402
from naq.connection.utils.health import (  # noqa: E402
    get_nats_server_info,
    test_jetstream_connection,
    test_nats_connection,
    wait_for_nats_connection,
)
from naq.connection.utils.monitoring import (  # noqa: E402
    disable_connection_monitoring,
    enable_connection_monitoring,
    is_monitoring_enabled,
)
from naq.connection.utils.otel import (  # noqa: E402 - imports opentelemetry only when called
    instrument_opentelemetry,
    uninstrument_opentelemetry,
)
from naq.connection.utils.performance import ConnectionBenchmark, measure_connection_performance  # noqa: E402
from naq.connection.utils.prometheus import (  # noqa: E402
    NaqConnectionCollector,
    prometheus_text,
    register_prometheus_collector,
    unregister_prometheus_collector,
)

__all__ = [
    # metrics
    "ConnectionMetrics",
    "ConnectionMonitor",
    "MetricsView",
    "TrackedOperation",
    "connection_monitor",
    "get_connection_metrics",
    "reset_connection_metrics",
    "percentile",
    "DEFAULT_BUCKETS",
    "DEFAULT_WINDOW",
    # automatic monitoring
    "enable_connection_monitoring",
    "disable_connection_monitoring",
    "is_monitoring_enabled",
    # health
    "test_nats_connection",
    "test_jetstream_connection",
    "wait_for_nats_connection",
    "get_nats_server_info",
    "measure_connection_performance",
    "ConnectionBenchmark",
    # export
    "metrics_to_dict",
    "metrics_to_json",
    "NaqConnectionCollector",
    "register_prometheus_collector",
    "unregister_prometheus_collector",
    "prometheus_text",
    "instrument_opentelemetry",
    "uninstrument_opentelemetry",
    # patch points (re-exported from core)
    "nats_connection",
    "nats_jetstream",
    "logger",
]
