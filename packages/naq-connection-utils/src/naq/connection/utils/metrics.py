"""Connection metrics: the :class:`ConnectionMetrics` snapshot and the :class:`ConnectionMonitor` that counts.

The monitor is written for the hot path: every ``record_*`` coroutine runs to completion without
yielding to the event loop (so concurrent tasks cannot interleave a read and a write), and the
synchronous primitives behind them take one uncontended lock (so monitors shared between threads stay
exact too). Memory is bounded: connection times feed a fixed-bucket histogram (for Prometheus) and a
window of the most recent ``window`` values (for percentiles), never an unbounded list.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from naq.connection.config import redact, redact_url

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_WINDOW",
    "MAX_TRACKED_SERVERS",
    "ConnectionMetrics",
    "ConnectionMonitor",
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
"""Upper bounds (seconds) of the connection-time histogram; ``+Inf`` is implicit."""

DEFAULT_WINDOW = 1024
"""How many of the most recent connection times the percentiles are computed over."""

MAX_TRACKED_SERVERS = 64
"""Distinct servers counted individually; further ones are counted under ``"other"``."""

_MAX_ERROR_CHARS = 300


@dataclass
class ConnectionMetrics:
    """A point-in-time copy of a monitor's counters (changing it does not affect the monitor).

    ``total_connections`` counts attempts (``record_connection_start``), ``successful_connections``
    and ``failed_connections`` their outcomes, ``active_connections`` the ones started and not yet
    finished. Times are in seconds; percentiles cover the most recent connection times.
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


_FOLD_AT = 256
"""Most durations a monitor holds before folding them into its statistics (see ``_fold``)."""


class ConnectionMonitor:
    """Counts connection attempts, outcomes, times and lifecycle events.

    The ``async record_*`` methods are the documented API (what naq code and the
    ``with_connection_monitoring`` decorator call); the synchronous methods below them do the
    same work and are what event listeners (which cannot await) and hot paths use.

    Semantics: ``record_connection_start`` opens an attempt (total +1, active +1);
    ``record_connection_end(duration)`` closes it successfully (active -1, successful +1, the duration
    recorded); ``record_connection_failure`` counts a failure but leaves ``active_connections`` alone --
    whoever started the attempt closes it out with ``record_connection_closed``.
    """

    def __init__(self, *, buckets: Iterable[float] = DEFAULT_BUCKETS, window: int = DEFAULT_WINDOW) -> None:
        bounds = tuple(sorted(float(b) for b in buckets))
        if not bounds or any(not math.isfinite(b) or b <= 0 for b in bounds):
            raise ValueError(f"buckets must be finite positive numbers, got {bounds!r}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window!r}")
        self._bounds = bounds
        self._window = window
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self._total = 0
        self._active = 0
        self._failed = 0
        self._successful = 0
        self._time_sum = 0.0
        self._time_min = math.inf
        self._time_max = 0.0
        self._recent: deque[float] = deque(maxlen=self._window)
        self._pending: list[float] = []
        log: deque[float | None] | None = getattr(self, "_log", None)
        if log is None:
            self._log: deque[float | None] = deque()
            """Starts (``None``) and ends (their duration) not yet replayed (see ``_replay``)."""
        else:
            log.clear()  # the same deque: a start appended by another thread right now is kept
        self._bucket_counts = [0] * (len(self._bounds) + 1)
        self._reconnects = 0
        self._disconnects = 0
        self._errors = 0
        self._borrows = 0
        self._last_error: str | None = None
        self._by_server: dict[str, int] = {}
        self._generation = getattr(self, "_generation", 0) + 1

    @property
    def generation(self) -> int:
        """Changes on every reset: lets listeners ignore closes of attempts counted before a reset."""
        return self._generation

    # -- async API (never yields: each call is atomic with respect to other tasks) ---------------
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

    def get_metrics(self) -> ConnectionMetrics:
        """A consistent, independent snapshot of every counter."""
        with self._lock:
            self._replay()
            recent = list(self._recent)
            cumulative: list[tuple[float, int]] = []
            running = 0
            for bound, count in zip((*self._bounds, math.inf), self._bucket_counts, strict=True):
                running += count
                cumulative.append((bound, running))
            successful = self._successful
            time_sum = self._time_sum
            metrics = ConnectionMetrics(
                total_connections=self._total,
                active_connections=self._active,
                failed_connections=self._failed,
                successful_connections=successful,
                total_connection_time=time_sum,
                min_connection_time=self._time_min if successful else 0.0,
                max_connection_time=self._time_max,
                reconnects=self._reconnects,
                disconnects=self._disconnects,
                errors=self._errors,
                borrows=self._borrows,
                last_error=self._last_error,
                connections_by_server=dict(self._by_server),
                connection_time_buckets=tuple(cumulative),
            )
        if successful:
            metrics.average_connection_time = time_sum / successful
        recent.sort()
        metrics.p50_connection_time = percentile(recent, 50)
        metrics.p95_connection_time = percentile(recent, 95)
        metrics.p99_connection_time = percentile(recent, 99)
        return metrics

    def reset_metrics(self) -> None:
        """Zero every counter (attempts still in flight are no longer counted as active)."""
        with self._lock:
            self._clear()

    # -- synchronous primitives (for event listeners and hot paths) ---------------------------
    def connection_started(self) -> None:
        """Synchronous :meth:`record_connection_start`.

        With :meth:`connection_ended`, the pair ``@with_connection_monitoring`` calls around every
        monitored call: both only append to a log (one atomic ``deque.append``, no lock) that the
        locked methods replay in order before they read or change a counter (see ``_replay``).
        Taking the lock twice per call measured ~1.3% of a local JetStream publish on its own.
        """
        log = self._log
        log.append(None)
        if len(log) >= _FOLD_AT:
            with self._lock:
                self._replay()

    def connection_ended(self, duration: float) -> None:
        """Synchronous :meth:`record_connection_end`: success after ``duration`` s, active -1
        (a log append, like :meth:`connection_started`)."""
        log = self._log
        log.append(float(duration))
        if len(log) >= _FOLD_AT:
            with self._lock:
                self._replay()

    def connection_succeeded(self, duration: float, server: str | None = None) -> None:
        """Count a success taking ``duration`` seconds (to ``server``, already redacted); active unchanged."""
        with self._lock:
            self._replay()
            self._succeeded(duration, server)

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
            self._replay()  # the starts and ends before this release, so "never below 0" holds in order
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
    def _succeeded(self, duration: float, server: str | None) -> None:
        self._successful += 1
        pending = self._pending
        pending.append(float(duration))
        if len(pending) >= _FOLD_AT:
            self._fold()
        if server is not None:
            self._count_server(server)

    def _replay(self) -> None:
        """Apply the logged starts and ends in order, then fold the durations (lock held).

        ``deque.popleft`` is atomic like ``append``, so entries appended meanwhile by other threads
        are either replayed now or stay for the next replay; none is lost or applied twice.
        """
        log = self._log
        if log:
            popleft = log.popleft
            pending = self._pending
            total = active = successful = 0
            while True:
                try:
                    entry = popleft()
                except IndexError:
                    break
                if entry is None:  # a start
                    total += 1
                    active += 1
                else:  # an end: a success taking ``entry`` seconds; active never below 0
                    successful += 1
                    pending.append(entry)
                    if active > 0:
                        active -= 1
                    elif self._active > 0:
                        self._active -= 1
            self._total += total
            self._active += active
            self._successful += successful
        self._fold()

    def _fold(self) -> None:
        """Fold the pending durations into the time statistics (called with the lock held).

        Successes only queue their duration; sum, min, max, the recent window and the histogram are
        updated here, in batches, before every snapshot: per call that touches one list instead of
        five structures.
        """
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._time_sum += math.fsum(pending)
        low, high = min(pending), max(pending)
        if low < self._time_min:
            self._time_min = low
        if high > self._time_max:
            self._time_max = high
        self._recent.extend(pending)
        counts, bounds, bucket_of = self._bucket_counts, self._bounds, bisect.bisect_left
        for duration in pending:
            counts[bucket_of(bounds, duration)] += 1

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
            f"<ConnectionMonitor total={self._total} active={self._active} "
            f"successful={self._successful} failed={self._failed}>"
        )
