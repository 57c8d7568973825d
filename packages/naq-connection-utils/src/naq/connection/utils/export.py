"""Export a metrics snapshot as plain data: a dict (for your own reporting) or JSON."""

from __future__ import annotations

import dataclasses
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

    Every :class:`ConnectionMetrics` field becomes a key (connections, operations and pool figures);
    each histogram becomes ``[{"le": 0.001, "count": 3}, ..., {"le": "+Inf", "count": n}]``.
    Servers and errors in it are already redacted.
    """
    m = _snapshot(metrics)
    data: dict[str, Any] = {}
    for f in dataclasses.fields(m):
        value = getattr(m, f.name)
        if f.name.endswith("_buckets"):
            value = [{"le": "+Inf" if math.isinf(bound) else bound, "count": count} for bound, count in value]
        elif isinstance(value, dict):
            value = dict(value)
        data[f.name] = value
    return data


def metrics_to_json(metrics: ConnectionMetrics | None = None, *, indent: int | None = None) -> str:
    """:func:`metrics_to_dict` rendered as a JSON string."""
    return json.dumps(metrics_to_dict(metrics), indent=indent, sort_keys=False)
