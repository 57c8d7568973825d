"""Connection lifecycle events, published by core to listeners that other packages register.

Core never imports the packages above it (utils' monitor, decorators). Instead, every connection
opened through core publishes :class:`ConnectionEvent` objects here, and anything interested
calls :func:`add_listener`. Listeners are plain synchronous callables: they run inline on the
event loop, so they must be cheap and must not block. A listener that raises is logged once per
event and otherwise ignored -- a broken listener must never break a connection (a raising nats-py
callback stops its reconnect loop).

The listener registry is process-global (listeners are plain functions, not asyncio objects);
:func:`clear_listeners` resets it for tests.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "ConnectionEvent",
    "ConnectionEventKind",
    "ConnectionEventListener",
    "add_listener",
    "clear_listeners",
    "emit",
    "has_listeners",
    "remove_listener",
]

logger = logging.getLogger("naq.connection")


class ConnectionEventKind(str, enum.Enum):
    """What happened to a connection."""

    CONNECTING = "connecting"
    """An initial connect attempt started (``connection_id`` is fresh)."""
    CONNECTED = "connected"
    """The initial connect succeeded; ``duration`` is the connect time in seconds."""
    CONNECT_FAILED = "connect_failed"
    """The initial connect failed or was cancelled; ``duration`` is the time spent, ``error`` why."""
    DISCONNECTED = "disconnected"
    """An established connection lost its server (nats-py may be reconnecting)."""
    RECONNECTED = "reconnected"
    """nats-py re-established a lost connection (``server`` is the new server)."""
    ERROR = "error"
    """nats-py reported an asynchronous error on an established connection."""
    CLOSED = "closed"
    """The connection was closed for good; ``duration`` is how long it was open."""
    BORROWED = "borrowed"
    """A pooled connection was lent to a caller (no new TCP connection was made)."""


@dataclass(frozen=True)
class ConnectionEvent:
    """One lifecycle event of one connection.

    ``server`` is always redacted (no ``user:pass@``); ``error_message`` is a redacted one-line
    description safe to log or export. ``error`` is the original exception, for classification only:
    do not log or export its text.
    """

    kind: ConnectionEventKind
    connection_id: int
    client_name: str
    server: str | None = None
    duration: float | None = None
    error: BaseException | None = None
    error_message: str | None = None
    pooled: bool = False
    timestamp: float = field(default_factory=time.time)


ConnectionEventListener = Callable[[ConnectionEvent], None]

_listeners: list[ConnectionEventListener] = []


def add_listener(listener: ConnectionEventListener) -> Callable[[], None]:
    """Register ``listener`` for every connection event; returns a function that removes it.

    Registering the same listener twice is a no-op, so enabling monitoring twice never double counts.
    """
    if not callable(listener):
        raise TypeError(f"listener must be callable, got {type(listener).__name__}")
    if listener not in _listeners:
        _listeners.append(listener)
    return lambda: remove_listener(listener)


def remove_listener(listener: ConnectionEventListener) -> None:
    """Unregister ``listener``; unknown listeners are ignored."""
    with contextlib.suppress(ValueError):
        _listeners.remove(listener)


def clear_listeners() -> None:
    """Remove every listener (for tests)."""
    _listeners.clear()


def has_listeners() -> bool:
    """True when someone listens: lets hot paths skip building events nobody reads."""
    return bool(_listeners)


def emit(event: ConnectionEvent) -> None:
    """Deliver ``event`` to every listener; a failing listener is logged and skipped, never raised."""
    for listener in tuple(_listeners):
        try:
            listener(event)
        except Exception as exc:  # a listener must never break a connection
            logger.warning(
                "naq.connection event listener %r failed on %s: %s: %s",
                getattr(listener, "__qualname__", listener),
                event.kind.value,
                type(exc).__name__,
                exc,
            )
