"""Connection and operation metrics: the :class:`ConnectionMetrics` snapshot and the
:class:`ConnectionMonitor` that counts.

Three families, kept apart so a connection storm never looks like a busy worker:

- **connections** (attempts, opened, failed, active, reconnects, disconnects, errors, connect time):
  fed by core's connection events (:mod:`naq.connection.utils.monitoring`) or the ``record_*`` API;
- **operations** (monitored calls: started, succeeded, failed, cancelled, active, duration): fed by
  :meth:`ConnectionMonitor.track_operation`, which ``@with_connection_monitoring`` uses;
- **pools**: read from ``ConnectionPool.stats()`` of the pools registered with
  :meth:`ConnectionMonitor.add_pool`.

Every ``record_*`` coroutine runs to completion without yielding (concurrent tasks cannot interleave
a read and a write) and every change takes one uncontended lock (threads stay exact too). Memory is
bounded: times feed a fixed-bucket histogram and a window of the most recent ``window`` values.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from time import perf_counter
from types import TracebackType
from typing import Any, Protocol

from naq.connection.config import redact, redact_url
from naq.connection.pool import ConnectionPool

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_WINDOW",
    "MAX_TRACKED_SERVERS",
    "ConnectionMetrics",
    "ConnectionMonitor",
    "MetricsView",
    "OperationObserver",
    "TrackedOperation",
    "describe_error",
    "percentile",
]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the connect-time and operation-duration histograms; ``+Inf`` is implicit."""

DEFAULT_WINDOW = 1024
"""How many of the most recent times the percentiles are computed over."""

MAX_TRACKED_SERVERS = 64
"""Distinct servers counted individually; further ones are counted under ``"other"``."""

_MAX_ERROR_CHARS = 300

_logger = logging.getLogger("naq.connection.utils")


@dataclass
class ConnectionMetrics:
    """A point-in-time copy of a monitor's counters (changing it does not affect the monitor).

    Connections: ``total_connections`` counts attempts, ``successful_connections`` and
    ``failed_connections`` their outcomes, ``active_connections`` the ones started and not yet closed.
    Operations (monitored calls): ``operations_*`` and ``active_operations``. Pools: the ``pool_*``
    sums over the registered pools' ``stats()``. Times are in seconds.
    """

    total_connections: int = 0
    active_connections: int = 0
    failed_connections: int = 0
    successful_connections: int = 0
    average_connection_time: float = 0.0
    total_connection_time: float = 0.0
    min_connection_time: float = 0.0
    max_connection_time: float = 0.0
    p50_connection_time: float = 0.0
    p95_connection_time: float = 0.0
    p99_connection_time: float = 0.0
    reconnects: int = 0
    disconnects: int = 0
    errors: int = 0
    borrows: int = 0
    last_error: str | None = None
    connections_by_server: dict[str, int] = field(default_factory=dict)
    connection_time_buckets: tuple[tuple[float, int], ...] = ()
    """Cumulative histogram: ``(upper bound, count of times <= bound)``, the last bound is ``inf``."""
    operations_started: int = 0
    operations_succeeded: int = 0
    operations_failed: int = 0
    operations_cancelled: int = 0
    active_operations: int = 0
    average_operation_time: float = 0.0
    total_operation_time: float = 0.0
    max_operation_time: float = 0.0
    p50_operation_time: float = 0.0
    p95_operation_time: float = 0.0
    p99_operation_time: float = 0.0
    last_operation_error: str | None = None
    operation_time_buckets: tuple[tuple[float, int], ...] = ()
    """Cumulative histogram of finished operations' durations (succeeded, failed and cancelled)."""
    pools: int = 0
    pool_size: int = 0
    pool_open_connections: int = 0
    pool_lent: int = 0
    pool_borrows: int = 0
    pool_connections_opened: int = 0
    pool_connect_failures: int = 0
    pool_replacements: int = 0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by linear interpolation; 0.0 for no values.

    ``values`` need not be sorted. Same definition as numpy's default (``linear``).
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be between 0 and 100, got {q!r}")
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def describe_error(error: BaseException | str | None) -> str | None:
    """A redacted, single-line, length-capped description of ``error``, safe to log and export."""
    if error is None:
        return None
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}".rstrip(": ")
    text = " ".join(redact(text).split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 3] + "..."
    return text


class _Timings:
    """Sum, min, max, a recent window and a histogram of durations (bounded memory)."""

    def __init__(self, bounds: tuple[float, ...], window: int) -> None:
        self.bounds = bounds
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = 0.0
        self.recent: deque[float] = deque(maxlen=window)
        self.buckets = [0] * (len(bounds) + 1)

    def add(self, duration: float) -> None:
        self.count += 1
        self.total += duration
        self.low = min(self.low, duration)
        self.high = max(self.high, duration)
        self.recent.append(duration)
        self.buckets[bisect.bisect_left(self.bounds, duration)] += 1

    def cumulative(self) -> tuple[tuple[float, int], ...]:
        running = 0
        out: list[tuple[float, int]] = []
        for bound, count in zip((*self.bounds, math.inf), self.buckets, strict=True):
            running += count
            out.append((bound, running))
        return tuple(out)


class OperationObserver(Protocol):
    """Something told about every tracked operation (the OpenTelemetry instrumentation is one).

    ``start`` returns a handle that is passed back to ``end`` with the outcome (``"succeeded"``,
    ``"failed"`` or ``"cancelled"``), the exception (None on success) and the duration in seconds.
    """

    def start(self, name: str, destination: str | None) -> object: ...

    def end(self, handle: object, outcome: str, error: BaseException | None, duration: float) -> None: ...


class TrackedOperation:
    """The context manager :meth:`ConnectionMonitor.track_operation` returns (one per operation)."""

    __slots__ = ("_destination", "_handles", "_monitor", "_name", "_started")

    def __init__(self, monitor: ConnectionMonitor, name: str, destination: str | None) -> None:
        self._monitor = monitor
        self._name = name
        self._destination = destination
        self._handles: list[tuple[OperationObserver, object]] | None = None
        self._started = 0.0

    def __enter__(self) -> TrackedOperation:
        monitor = self._monitor
        monitor._operation_started()
        observers = monitor._observers
        if observers:
            handles = self._handles = []
            for observer in observers:
                try:
                    handles.append((observer, observer.start(self._name, self._destination)))
                except Exception as exc:  # an observer must never break the operation or the counts
                    _observer_failed(observer, "start", exc)
        self._started = perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        duration = perf_counter() - self._started
        if exc is None:
            outcome = "succeeded"
        elif isinstance(exc, Exception):
            outcome = "failed"
        else:  # CancelledError, KeyboardInterrupt, ...: neither a success nor a failure
            outcome = "cancelled"
        self._monitor._operation_ended(outcome, exc, duration)
        handles, self._handles = self._handles, None
        if handles:
            for observer, handle in reversed(handles):
                try:
                    observer.end(handle, outcome, exc, duration)
                except Exception as error:
                    _observer_failed(observer, "end", error)


def _observer_failed(observer: object, method: str, exc: Exception) -> None:
    _logger.warning(
        "operation observer %s.%s failed: %s", type(observer).__name__, method, describe_error(exc)
    )


class MetricsView:
    """A live view of a monitor: every attribute read is the monitor's current value.

    ``monitor.metrics.total_connections`` always reflects the latest records; attribute names are
    those of :class:`ConnectionMetrics`. Use ``get_metrics()`` for a consistent copy of everything.
    """

    __slots__ = ("_monitor",)
    _NAMES = frozenset(f.name for f in fields(ConnectionMetrics))

    def __init__(self, monitor: ConnectionMonitor) -> None:
        self._monitor = monitor

    def __getattr__(self, name: str) -> Any:
        if name not in MetricsView._NAMES:
            raise AttributeError(f"ConnectionMetrics has no field {name!r}")
        return getattr(self._monitor.get_metrics(), name)

    def __repr__(self) -> str:
        return f"<MetricsView of {self._monitor!r}>"


class ConnectionMonitor:
    """Counts connections (attempts, outcomes, connect times, lifecycle events), operations
    (:meth:`track_operation`) and reads the pools registered with :meth:`add_pool`.

    The ``async record_*`` methods are the documented connection API (what naq code calls); the
    synchronous methods below them do the same work and are what event listeners (which cannot
    await) use.

    Semantics: ``record_connection_start`` opens an attempt (total +1, active +1);
    ``record_connection_end(duration)`` closes it successfully (active -1, successful +1, the duration
    recorded); ``record_connection_failure`` counts a failure but leaves ``active_connections`` alone --
    whoever started the attempt closes it out with ``record_connection_closed``.
    """

    def __init__(self, *, buckets: Iterable[float] = DEFAULT_BUCKETS, window: int = DEFAULT_WINDOW) -> None:
        bounds = tuple(sorted(float(b) for b in buckets))
        if not bounds or any(not math.isfinite(b) or b <= 0 for b in bounds):
            raise ValueError(f"buckets must be finite positive numbers, got {bounds!r}")
        if isinstance(window, bool) or not isinstance(window, int):
            raise TypeError(f"window must be an int, got {type(window).__name__}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window!r}")
        self._bounds = bounds
        self._window = window
        self._lock = threading.Lock()
        self._pools: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()
        self._observers: tuple[OperationObserver, ...] = ()
        self._generation = 0
        self._clear()

    def _clear(self) -> None:
        self._total = 0
        self._active = 0
        self._failed = 0
        self._connect_times = _Timings(self._bounds, self._window)
        self._reconnects = 0
        self._disconnects = 0
        self._errors = 0
        self._borrows = 0
        self._last_error: str | None = None
        self._by_server: dict[str, int] = {}
        self._ops_started = 0
        self._ops_active = 0
        self._ops_outcomes = {"succeeded": 0, "failed": 0, "cancelled": 0}
        self._op_times = _Timings(self._bounds, self._window)
        self._last_op_error: str | None = None
        self._generation += 1

    @property
    def generation(self) -> int:
        """Changes on every reset: lets listeners ignore closes of attempts counted before a reset."""
        return self._generation

    @property
    def metrics(self) -> MetricsView:
        """A live view: ``monitor.metrics.total_connections`` is always the current value."""
        return MetricsView(self)

    # -- async connection API (never yields: each call is atomic with respect to other tasks) ------
    async def record_connection_start(self) -> None:
        """An attempt started: total +1, active +1."""
        self.connection_started()

    async def record_connection_end(self, duration: float) -> None:
        """The attempt finished successfully after ``duration`` seconds: active -1, successful +1."""
        self.connection_ended(duration)

    async def record_connection_failure(self, error: BaseException | str | None = None) -> None:
        """The attempt failed: failed +1 (``error`` kept, redacted, as ``last_error``); active unchanged."""
        self.connection_failed(error)

    async def record_connection_closed(self) -> None:
        """Close out an attempt that did not end successfully (active -1, never below 0)."""
        self.connection_released()

    # -- operations ------------------------------------------------------------------------------
    def track_operation(self, name: str, *, destination: str | None = None) -> TrackedOperation:
        """A context manager counting one operation (a monitored call) named ``name``.

        On entry: started +1, active +1. On exit: succeeded, failed (an ``Exception``; its redacted
        text becomes ``last_operation_error``) or cancelled (any other ``BaseException``, e.g.
        ``CancelledError``: neither a success nor a failure), active -1, the duration recorded.
        ``destination`` (a subject or stream, if known) is passed to observers such as OpenTelemetry.
        """
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        return TrackedOperation(self, name, destination)

    def _operation_started(self) -> None:
        with self._lock:
            self._ops_started += 1
            self._ops_active += 1

    def _operation_ended(self, outcome: str, error: BaseException | None, duration: float) -> None:
        message = describe_error(error) if outcome == "failed" else None
        with self._lock:
            if self._ops_active > 0:  # not below 0 when a reset happened meanwhile
                self._ops_active -= 1
            self._ops_outcomes[outcome] += 1
            self._op_times.add(duration)
            if message is not None:
                self._last_op_error = message

    def add_observer(self, observer: OperationObserver) -> None:
        """Tell ``observer`` about every operation tracked from now on (adding it twice is a no-op)."""
        if observer not in self._observers:
            self._observers = (*self._observers, observer)

    def remove_observer(self, observer: OperationObserver) -> None:
        """Stop telling ``observer`` (unknown observers are ignored)."""
        self._observers = tuple(o for o in self._observers if o is not observer)

    # -- pools -----------------------------------------------------------------------------------
    def add_pool(self, pool: ConnectionPool) -> None:
        """Include ``pool``'s ``stats()`` in this monitor's ``pool_*`` figures (held weakly)."""
        if not isinstance(pool, ConnectionPool):
            raise TypeError(f"pool must be a ConnectionPool, got {type(pool).__name__}")
        self._pools.add(pool)

    def remove_pool(self, pool: ConnectionPool) -> None:
        """Stop reading ``pool`` (unknown pools are ignored)."""
        self._pools.discard(pool)

    # -- snapshots -------------------------------------------------------------------------------
    def get_metrics(self) -> ConnectionMetrics:
        """A consistent, independent snapshot of every counter."""
        with self._lock:
            ct, ot = self._connect_times, self._op_times
            outcomes = self._ops_outcomes
            metrics = ConnectionMetrics(
                total_connections=self._total,
                active_connections=self._active,
                failed_connections=self._failed,
                successful_connections=ct.count,
                total_connection_time=ct.total,
                min_connection_time=ct.low if ct.count else 0.0,
                max_connection_time=ct.high,
                reconnects=self._reconnects,
                disconnects=self._disconnects,
                errors=self._errors,
                borrows=self._borrows,
                last_error=self._last_error,
                connections_by_server=dict(self._by_server),
                connection_time_buckets=ct.cumulative(),
                operations_started=self._ops_started,
                operations_succeeded=outcomes["succeeded"],
                operations_failed=outcomes["failed"],
                operations_cancelled=outcomes["cancelled"],
                active_operations=self._ops_active,
                total_operation_time=ot.total,
                max_operation_time=ot.high,
                last_operation_error=self._last_op_error,
                operation_time_buckets=ot.cumulative(),
            )
            connect_recent, op_recent = sorted(ct.recent), sorted(ot.recent)
        if ct.count:
            metrics.average_connection_time = metrics.total_connection_time / ct.count
        if ot.count:
            metrics.average_operation_time = metrics.total_operation_time / ot.count
        metrics.p50_connection_time = percentile(connect_recent, 50)
        metrics.p95_connection_time = percentile(connect_recent, 95)
        metrics.p99_connection_time = percentile(connect_recent, 99)
        metrics.p50_operation_time = percentile(op_recent, 50)
        metrics.p95_operation_time = percentile(op_recent, 95)
        metrics.p99_operation_time = percentile(op_recent, 99)
        for pool in list(self._pools):
            stats = pool.stats()
            metrics.pools += 1
            metrics.pool_size += stats.size
            metrics.pool_open_connections += stats.open_connections
            metrics.pool_lent += stats.lent
            metrics.pool_borrows += stats.borrows
            metrics.pool_connections_opened += stats.connections_opened
            metrics.pool_connect_failures += stats.connect_failures
            metrics.pool_replacements += stats.replacements
        return metrics

    def reset_metrics(self) -> None:
        """Zero every counter (attempts and operations in flight are no longer counted as active).

        Registered pools and observers stay; pool figures are the pools' own counters.
        """
        with self._lock:
            self._clear()

    # -- synchronous connection primitives (for event listeners) -----------------------------------
    def connection_started(self) -> None:
        """Synchronous :meth:`record_connection_start`."""
        with self._lock:
            self._total += 1
            self._active += 1

    def connection_ended(self, duration: float) -> None:
        """Synchronous :meth:`record_connection_end`: success after ``duration`` s, active -1."""
        with self._lock:
            self._connect_times.add(float(duration))
            self._release()

    def connection_succeeded(self, duration: float, server: str | None = None) -> None:
        """Count a success taking ``duration`` seconds (to ``server``, already redacted); active unchanged."""
        with self._lock:
            self._connect_times.add(float(duration))
            if server is not None:
                self._count_server(server)

    def connection_failed(self, error: BaseException | str | None = None) -> None:
        """Synchronous :meth:`record_connection_failure`."""
        message = describe_error(error)
        with self._lock:
            self._failed += 1
            if message is not None:
                self._last_error = message

    def connection_released(self, generation: int | None = None) -> None:
        """Active -1 (never below 0); ignored when ``generation`` is from before a reset."""
        with self._lock:
            if generation is None or generation == self._generation:
                self._release()

    def disconnected(self) -> None:
        """A live connection lost its server."""
        with self._lock:
            self._disconnects += 1

    def reconnected(self, server: str | None = None) -> None:
        """A lost connection came back (to ``server``, already redacted)."""
        with self._lock:
            self._reconnects += 1
            if server is not None:
                self._count_server(server)

    def error_occurred(self, error: BaseException | str | None = None) -> None:
        """An asynchronous error on a live connection (kept, redacted, as ``last_error``)."""
        message = describe_error(error)
        with self._lock:
            self._errors += 1
            if message is not None:
                self._last_error = message

    def borrowed(self) -> None:
        """A pool lent out a connection (no new connection was made)."""
        with self._lock:
            self._borrows += 1

    # -- internals (call with the lock held) ---------------------------------------------------
    def _release(self) -> None:
        if self._active > 0:
            self._active -= 1

    def _count_server(self, server: str) -> None:
        server = redact_url(server)  # core already redacts; never trust a label with credentials
        by_server = self._by_server
        if server in by_server or len(by_server) < MAX_TRACKED_SERVERS:
            by_server[server] = by_server.get(server, 0) + 1
        else:
            by_server["other"] = by_server.get("other", 0) + 1

    def __repr__(self) -> str:
        return (
            f"<ConnectionMonitor connections={self._total} active={self._active} "
            f"operations={self._ops_started} active_operations={self._ops_active}>"
        )
