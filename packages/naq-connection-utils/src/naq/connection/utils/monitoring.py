"""Automatic monitoring: feed core's connection events into a :class:`ConnectionMonitor`.

Every connection opened through core (context managers, decorators, pool) publishes lifecycle events
(:mod:`naq.connection.events`). The listener here maps them onto the monitor:

=================  ==========================================================================
event              effect on the monitor
=================  ==========================================================================
CONNECTING         an attempt starts (total +1, active +1)
CONNECTED          success with the connect time (successful +1, per-server count); stays active
CONNECT_FAILED     failure (failed +1, last_error) and the attempt is closed out (active -1)
CLOSED             the connection is gone (active -1)
DISCONNECTED       disconnects +1
RECONNECTED        reconnects +1 (per-server count)
ERROR              errors +1, last_error
BORROWED           borrows +1 (a pool lent its connection: not a new connection)
=================  ==========================================================================

The listener remembers which connections it counted as active, so a connection opened before
monitoring was enabled (or before a reset) is never subtracted, and ``active_connections`` returns to
0 once every monitored connection is closed. A pooled connection is one connection however often it
is borrowed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from naq.connection import events
from naq.connection import utils as _api  # the patch surface: connection_monitor is read there per call
from naq.connection.events import ConnectionEvent, ConnectionEventKind
from naq.connection.utils.metrics import ConnectionMonitor

__all__ = [
    "ConnectionMonitorListener",
    "disable_connection_monitoring",
    "enable_connection_monitoring",
    "is_monitoring_enabled",
]

_CONNECTING = 0
_OPEN = 1


class ConnectionMonitorListener:
    """The core event listener that keeps one :class:`ConnectionMonitor` up to date."""

    def __init__(self, monitor: ConnectionMonitor) -> None:
        self.monitor = monitor
        # connection_id -> (state, monitor generation it was counted in)
        self._tracked: dict[int, tuple[int, int]] = {}
        self._lock = threading.Lock()  # events may come from event loops in several threads

    def __call__(self, event: ConnectionEvent) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: ConnectionEvent) -> None:
        monitor = self.monitor
        kind = event.kind
        cid = event.connection_id
        if kind is ConnectionEventKind.CONNECTING:
            if cid not in self._tracked:
                monitor.connection_started()
                self._tracked[cid] = (_CONNECTING, monitor.generation)
        elif kind is ConnectionEventKind.CONNECTED:
            if cid not in self._tracked:  # its CONNECTING happened before we listened
                monitor.connection_started()
            self._tracked[cid] = (_OPEN, monitor.generation)
            monitor.connection_succeeded(event.duration or 0.0, event.server)
        elif kind is ConnectionEventKind.CONNECT_FAILED:
            if cid not in self._tracked:
                monitor.connection_started()
                self._tracked[cid] = (_CONNECTING, monitor.generation)
            monitor.connection_failed(event.error_message or _kind_only(event))
            self._release(cid)
        elif kind is ConnectionEventKind.CLOSED:
            self._release(cid)
        elif kind is ConnectionEventKind.DISCONNECTED:
            monitor.disconnected()
        elif kind is ConnectionEventKind.RECONNECTED:
            monitor.reconnected(event.server)
        elif kind is ConnectionEventKind.ERROR:
            monitor.error_occurred(event.error_message or _kind_only(event))
        elif kind is ConnectionEventKind.BORROWED:
            monitor.borrowed()

    def _release(self, cid: int) -> None:
        tracked = self._tracked.pop(cid, None)
        if tracked is not None:
            self.monitor.connection_released(tracked[1])

    @property
    def tracked_connections(self) -> int:
        """How many connections this listener currently counts as active (or connecting)."""
        return len(self._tracked)

    def release_all(self) -> None:
        """Close out every connection still counted (used when monitoring is disabled)."""
        with self._lock:
            tracked, self._tracked = self._tracked, {}
        for _state, generation in tracked.values():
            self.monitor.connection_released(generation)


def _kind_only(event: ConnectionEvent) -> str | None:
    """Without a (redacted) message, name only the exception type: its text may hold secrets."""
    return type(event.error).__name__ if event.error is not None else None


_listeners: dict[int, ConnectionMonitorListener] = {}


def enable_connection_monitoring(monitor: ConnectionMonitor | None = None) -> Callable[[], None]:
    """Count every connection opened through core on ``monitor``; returns a function that stops it.

    ``monitor`` defaults to ``naq.connection.utils.connection_monitor`` (looked up now, at call
    time). Enabling the same monitor twice is a no-op, so nothing is counted twice.
    """
    if monitor is None:
        monitor = _api.connection_monitor
    if not isinstance(monitor, ConnectionMonitor):
        raise TypeError(f"monitor must be a ConnectionMonitor, got {type(monitor).__name__}")
    listener = _listeners.get(id(monitor))
    if listener is None:
        listener = ConnectionMonitorListener(monitor)
        _listeners[id(monitor)] = listener
    events.add_listener(listener)
    target = monitor
    return lambda: disable_connection_monitoring(target)


def disable_connection_monitoring(monitor: ConnectionMonitor | None = None) -> None:
    """Stop automatic monitoring of ``monitor`` (every monitor when None).

    Connections still open stop being counted as active, so ``active_connections`` does not stay
    inflated by connections nobody watches any more. Disabling twice is harmless.
    """
    if monitor is None:
        targets = list(_listeners.values())
        _listeners.clear()
    else:
        found = _listeners.pop(id(monitor), None)
        targets = [found] if found is not None else []
    for listener in targets:
        events.remove_listener(listener)
        listener.release_all()


def is_monitoring_enabled(monitor: ConnectionMonitor | None = None) -> bool:
    """Whether automatic monitoring feeds ``monitor`` (any monitor when None)."""
    if monitor is None:
        return bool(_listeners)
    return id(monitor) in _listeners
