"""Exceptions raised by naq.testing.

One small hierarchy so callers can catch everything from this package with ``NaqTestingError``.
"""

from __future__ import annotations

__all__ = ["NaqTestingError", "NatsServerError", "NatsServerNotFoundError", "NatsLeakError"]


class NaqTestingError(Exception):
    """Base class of every error raised by naq.testing."""


class NatsServerError(NaqTestingError, RuntimeError):
    """A nats-server could not be started, stopped, reached or controlled."""


class NatsServerNotFoundError(NatsServerError, FileNotFoundError):
    """No nats-server binary was found (NATS_SERVER_BIN, PATH, the interpreter's scripts directory)."""


class NatsLeakError(NaqTestingError, AssertionError):
    """A test left NATS connections open on the server (raised by the ``nats_leak_check`` fixture)."""
