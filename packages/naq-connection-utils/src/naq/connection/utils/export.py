"""Export a metrics snapshot as plain data: a dict (for your own reporting) or JSON."""

from __future__ import annotations

import json
import math
from typing import Any

from naq.connection import utils as _utils
from naq.connection.utils.metrics import ConnectionMetrics

__all__ = ["metrics_to_dict", "metrics_to_json"]


def _snapshot(metrics: ConnectionMetrics | None) -> ConnectionMetrics:
    if metrics is None:
        return _utils.connection_monitor.get_metrics()
    if not isinstance(metrics, ConnectionMetrics):
        raise TypeError(f"metrics must be a ConnectionMetrics or None, got {type(metrics).__name__}")
    return metrics


def metrics_to_dict(metrics: ConnectionMetrics | None = None) -> dict[str, Any]:
    """``metrics`` (default: a snapshot of ``naq.connection.utils.connection_monitor``) as JSON-ready data.

    Every :class:`ConnectionMetrics` field becomes a key; the histogram becomes
    ``connection_time_buckets: [{"le": 0.001, "count": 3}, ..., {"le": "+Inf", "count": n}]``.
    Servers and errors in it are already redacted.
    """
    m = _snapshot(metrics)
    return {
        "total_connections": m.total_connections,
        "active_connections": m.active_connections,
        "failed_connections": m.failed_connections,
        "successful_connections": m.successful_connections,
        "average_connection_time": m.average_connection_time,
        "total_connection_time": m.total_connection_time,
        "min_connection_time": m.min_connection_time,
        "max_connection_time": m.max_connection_time,
        "p50_connection_time": m.p50_connection_time,
        "p95_connection_time": m.p95_connection_time,
        "p99_connection_time": m.p99_connection_time,
        "reconnects": m.reconnects,
        "disconnects": m.disconnects,
        "errors": m.errors,
        "borrows": m.borrows,
        "last_error": m.last_error,
        "connections_by_server": dict(m.connections_by_server),
        "connection_time_buckets": [
            {"le": "+Inf" if math.isinf(bound) else bound, "count": count}
            for bound, count in m.connection_time_buckets
        ],
    }


def metrics_to_json(metrics: ConnectionMetrics | None = None, *, indent: int | None = None) -> str:
    """:func:`metrics_to_dict` rendered as a JSON string."""
    return json.dumps(metrics_to_dict(metrics), indent=indent, sort_keys=False)
