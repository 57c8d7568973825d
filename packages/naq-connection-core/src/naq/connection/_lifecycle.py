"""Per-connection lifecycle state and the quiet, safe nats-py callbacks.

One :class:`Lifecycle` per connection attempt. Its ``async`` methods are handed to nats-py as
``error_cb`` / ``disconnected_cb`` / ``reconnected_cb`` / ``closed_cb``. Each logs at most one line
(redacted, never a traceback), publishes a :class:`~naq.connection.events.ConnectionEvent` when
someone listens, and never raises: nats-py stops its reconnect loop when a callback raises.

Log levels: DEBUG for attempts that fail during the initial connect, for errors that announce a
disconnect (EOF, reset) or a failed reconnect attempt, for a cancelled connect and for the lifecycle
of healthy connections (connected, closed); INFO for a failed initial connect (the caller also gets
the exception) and for a reconnect; WARNING for a lost server, for other asynchronous errors (slow
consumer, permissions) and for a connection nats-py closed by itself (reconnects exhausted: the line
names the last attempt's error).

Asynchronous errors can come in floods (nats-py reports a slow consumer once per dropped message),
so their WARNING line is rate-limited per connection and error type: the first is logged at once,
repeats within :data:`ERROR_LOG_INTERVAL` seconds are only counted, and one summary line per
interval gives the count (flushed at close too). ERROR events are still emitted one per error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import time
import weakref
from typing import TYPE_CHECKING, Any

import nats.errors as nats_errors

from naq.connection import _nats_compat, events
from naq.connection.config import redact, redact_url
from naq.connection.events import ConnectionEvent, ConnectionEventKind

if TYPE_CHECKING:
    from naq.connection.config import NatsConfig

__all__ = ["ERROR_LOG_INTERVAL", "AbortConnect", "Lifecycle", "describe", "is_decisive", "server_of"]

MIN_ATTEMPT_TIMEOUT = 0.05
"""Smallest per-attempt ``connect_timeout`` (s) handed to nats-py once the connect budget is spent."""

_ids = itertools.count(1)

ERROR_LOG_INTERVAL = 10.0
"""Seconds between WARNING lines for repeats of one asynchronous error type on one connection
(looked up at call time, so tests can shorten it)."""


def server_of(conn: Any) -> str | None:
    """The redacted URL of the server ``conn`` uses (or last used, while reconnecting); never raises."""
    url = _nats_compat.current_server_url(conn)
    return redact_url(url) if url is not None else None


def describe(exc: BaseException | None, secrets: tuple[str | None, ...] = ()) -> str:
    """One redacted line naming ``exc``: ``"ConnectionRefusedError: [Errno 111] ..."``."""
    if exc is None:
        return "unknown error"
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    if not text:
        return name
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{name}: {redact(text, secrets)}"


_DISCONNECT_ERRORS: tuple[type[BaseException], ...] = (
    nats_errors.UnexpectedEOF,
    nats_errors.StaleConnectionError,
    ConnectionError,  # reset, aborted, broken pipe, refused (reconnect attempts)
)
"""Errors nats-py reports through ``error_cb`` right before it disconnects: reported with the
DISCONNECTED line and event, not as separate ERROR warnings."""


_AUTH_MARKERS = ("authorization violation", "authentication expired", "authentication revoked")


def is_decisive(exc: BaseException) -> bool:
    """A connect error that retrying the walk cannot fix: TLS failures and rejected credentials.

    TLS failures also must not reach nats-py's cleanup: after a failed TLS upgrade its
    ``_close()`` waits forever on the plain transport's close (asyncio never reports it closed).
    """
    if isinstance(exc, (ssl.SSLError, nats_errors.AuthorizationError)):
        return True
    try:
        text = str(exc).lower()
    except Exception:
        return False
    return any(marker in text for marker in _AUTH_MARKERS)


class AbortConnect(Exception):
    """Raised by ``error_cb`` during core's own initial connect to stop nats-py's walk at once.

    nats-py awaits ``error_cb`` inside its connect loop, so the exception leaves ``Client.connect``
    before nats-py retries or cleans up. It is deliberately not an ``OSError``, nats ``Error`` or
    ``TimeoutError`` (the types that loop catches). ``error`` is the decisive error.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class _ErrorLog:
    """Rate limit of the WARNING line for one error type on one connection.

    ``since`` starts the current interval (the last line logged); ``suppressed`` counts the errors
    not logged since, ``last`` is the latest of them (described in the summary line) and ``timer``
    the pending summary.
    """

    __slots__ = ("last", "since", "suppressed", "timer")

    def __init__(self, since: float) -> None:
        self.since = since
        self.suppressed = 0
        self.last: BaseException | None = None
        self.timer: asyncio.TimerHandle | None = None


def _reconnect_plan(config: NatsConfig) -> str:
    if not config.allow_reconnect:
        return "not reconnecting (allow_reconnect is off)"
    attempts = config.max_reconnect_attempts
    times = "forever" if attempts <= 0 else f"up to {attempts} times per server"
    return f"reconnecting {times}, {config.reconnect_time_wait:g} s apart"


class Lifecycle:
    """State of one connection: id, timings, last error, and the nats-py callbacks.

    One is built per connection, so the fields that usually keep their first value are class-level
    defaults (all immutable) rather than assignments in ``__init__``.
    """

    _conn: weakref.ref[Any] | None = None
    connecting = True
    closing = False
    closed_emitted = False
    disconnected = False
    """A DISCONNECTED was reported and no RECONNECTED since (nats-py calls disconnected_cb again
    from the close that follows giving up)."""
    last_error: BaseException | None = None
    error_logs: dict[type[BaseException], _ErrorLog] | None = None
    """Rate limits of asynchronous-error lines, per error type (created at the first error)."""
    connected_at = 0.0
    deadline_hit = False
    """The deadline of the initial connect passed (see :meth:`on_deadline`)."""
    own_walk = False
    """Core drives nats-py's ``Client.connect`` itself (``nats.connect`` was not replaced)."""

    def __init__(
        self,
        config: NatsConfig,
        *,
        pooled: bool,
        logger: logging.Logger,
        attempt_timeout: float,
        close_timeout: float,
        drain_close_timeout: float,
    ) -> None:
        self.config = config
        self.connection_id = next(_ids)
        self.pooled = pooled
        self.logger = logger
        self.attempt_timeout = attempt_timeout
        self.close_timeout = close_timeout
        self.drain_close_timeout = drain_close_timeout
        self.started = time.monotonic()

    # ------------------------------------------------------------------ helpers

    @property
    def conn(self) -> Any:
        """The client (held weakly: core maps clients to their lifecycle in a weak dictionary)."""
        ref = self._conn
        return ref() if ref is not None else None

    @conn.setter
    def conn(self, client: Any) -> None:
        self._conn = weakref.ref(client) if client is not None else None

    @property
    def client_name(self) -> str:
        return self.config.client_name

    @property
    def deadline(self) -> float:
        """Monotonic time by which the initial connect must be done."""
        return self.started + self.config.connection_timeout

    def secrets(self) -> tuple[str, ...]:
        """Secret values of the config (password, token, URL credentials), masked in every message."""
        try:
            return self.config.secret_values()
        except Exception:
            return ()

    def describe(self, exc: BaseException | None) -> str:
        return describe(exc, self.secrets())

    def servers_text(self) -> str:
        try:
            return ", ".join(self.config.redacted_servers())
        except Exception:
            return "<servers>"

    def emit(
        self,
        kind: ConnectionEventKind,
        *,
        server: str | None = None,
        duration: float | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Publish one event (callers check ``events.has_listeners()`` first on hot paths)."""
        events.emit(
            ConnectionEvent(
                kind=kind,
                connection_id=self.connection_id,
                client_name=self.client_name,
                server=server,
                duration=duration,
                error=error,
                error_message=self.describe(error) if error is not None else None,
                pooled=self.pooled,
            )
        )

    # ------------------------------------------------------------------ transitions driven by core

    def on_connecting(self) -> None:
        try:
            if events.has_listeners():
                self.emit(ConnectionEventKind.CONNECTING, server=self.servers_text())
        except Exception:  # noqa: S110 -- reporting must never break a connect
            pass

    def on_connected(self, conn: Any) -> None:
        now = time.monotonic()
        self.conn = conn
        self.connecting = False
        self.connected_at = now
        try:  # a plain try, not contextlib.suppress: this runs on every connect
            listening = events.has_listeners()
            if listening or self.logger.isEnabledFor(logging.DEBUG):
                self._report_connected(conn, now, listening)
        except Exception:  # noqa: S110 -- the connection exists: reporting must not leak it
            pass

    def _report_connected(self, conn: Any, now: float, listening: bool) -> None:
        server = server_of(conn)
        duration = now - self.started
        self.logger.debug(
            "naq.connection: connection %d (%s) connected to %s in %.1f ms",
            self.connection_id,
            self.client_name,
            server,
            duration * 1000,
        )
        if listening:
            self.emit(ConnectionEventKind.CONNECTED, server=server, duration=duration)

    def on_connect_failed(self, error: BaseException) -> None:
        """The initial connect failed (or was cancelled); logs one line, emits CONNECT_FAILED."""
        self.connecting = False
        with contextlib.suppress(Exception):  # the caller gets the real error, not a logging failure
            self._report_connect_failed(error)

    def _report_connect_failed(self, error: BaseException) -> None:
        duration = time.monotonic() - self.started
        cancelled = isinstance(error, asyncio.CancelledError)  # the caller's decision, not a failure
        self.logger.log(
            logging.DEBUG if cancelled else logging.INFO,
            "naq.connection: connection %d (%s) to %s %s after %.2f s: %s",
            self.connection_id,
            self.client_name,
            self.servers_text(),
            "cancelled" if cancelled else "failed",
            duration,
            self.describe(error),
        )
        if events.has_listeners():
            self.emit(ConnectionEventKind.CONNECT_FAILED, duration=duration, error=error)

    def on_closed(self) -> None:
        """Emit CLOSED once per connection, whoever closed it (us or nats-py giving up)."""
        if self.closed_emitted:
            return
        self.closed_emitted = True
        try:  # a plain try, not contextlib.suppress: this runs on every close
            if self.error_logs:
                self._flush_error_logs()
            listening = events.has_listeners()
            if self.closing and not listening and not self.logger.isEnabledFor(logging.DEBUG):
                return  # our own close, nobody to tell: the hot path
            self._report_closed(listening)
        except Exception:  # noqa: S110 -- closing never raises
            pass

    def _report_closed(self, listening: bool) -> None:
        logger = self.logger
        open_for = time.monotonic() - self.connected_at
        last = None if self.closing else self.last_error or getattr(self.conn, "last_error", None)
        if isinstance(last, BaseException):
            # closed by nats-py itself: reconnect attempts exhausted, or a fatal server error
            logger.warning(
                "naq.connection: connection %d (%s) was closed by the client library after %.1f s: %s",
                self.connection_id,
                self.client_name,
                open_for,
                self.describe(last),
            )
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "naq.connection: connection %d (%s) closed after %.3f s",
                self.connection_id,
                self.client_name,
                open_for,
            )
        if listening:
            self.emit(ConnectionEventKind.CLOSED, server=server_of(self.conn), duration=open_for)

    # ------------------------------------------------------------------ nats-py callbacks (never raise)

    def on_deadline(self) -> None:
        """The initial connect is out of time: make nats-py's connect end now. Never raises.

        Emptying the server pool makes its walk raise ``NoServersError`` at the next server choice;
        tearing the client down ends the wait of the attempt in progress.
        """
        self.deadline_hit = True
        conn = self.conn
        if conn is not None:
            _nats_compat.set_attempt_timeout(conn, MIN_ATTEMPT_TIMEOUT)
            _nats_compat.stop_walk(conn)
            _nats_compat.abort(conn)

    async def error_cb(self, exc: Exception) -> None:
        """nats-py's error callback: one line, no traceback; during the connect walk, also budgets."""
        try:
            if self.deadline_hit:
                return  # errors of the torn-down walk: the timeout is what happened
            if self.connecting:
                self.last_error = exc
                if self.own_walk and is_decisive(exc):
                    self.logger.debug(
                        "naq.connection: connection %d (%s): connect attempt failed: %s; not retrying",
                        self.connection_id,
                        self.client_name,
                        self.describe(exc),
                    )
                    raise AbortConnect(exc)
                self._shrink_attempt_timeout()
                self.logger.debug(
                    "naq.connection: connection %d (%s): connect attempt failed: %s",
                    self.connection_id,
                    self.client_name,
                    self.describe(exc),
                )
                return
            conn = self.conn
            if conn is not None and (conn.is_reconnecting or conn.is_connecting):
                _nats_compat.close_failed_attempt(conn)
            self.last_error = exc  # the CLOSED warning names the last error, whatever its kind
            if isinstance(exc, _DISCONNECT_ERRORS) or getattr(conn, "is_reconnecting", False) is True:
                # the cause of a disconnect, or a failed reconnect attempt: the DISCONNECTED /
                # RECONNECTED / CLOSED lines say what matters
                self.logger.debug(
                    "naq.connection: connection %d (%s): %s",
                    self.connection_id,
                    self.client_name,
                    self.describe(exc),
                )
                return
            self._log_error(exc)
            if events.has_listeners():
                self.emit(ConnectionEventKind.ERROR, server=server_of(conn), error=exc)
        except AbortConnect:
            raise  # the one deliberate raise: ends core's own initial walk (see AbortConnect)
        except Exception:  # noqa: S110 -- a raising callback would stop nats-py's reconnect loop
            pass

    def _log_error(self, exc: BaseException) -> None:
        """One WARNING line for an asynchronous error, rate-limited per error type (see the module
        docstring): the first at once, repeats within the interval counted for a summary line."""
        now = time.monotonic()
        logs = self.error_logs
        if logs is None:
            logs = self.error_logs = {}
        kind = type(exc)
        entry = logs.get(kind)
        if entry is None or (not entry.suppressed and now - entry.since >= ERROR_LOG_INTERVAL):
            logs[kind] = _ErrorLog(now)
            self.logger.warning(
                "naq.connection: connection %d (%s) error: %s",
                self.connection_id,
                self.client_name,
                self.describe(exc),
            )
            return
        entry.suppressed += 1
        entry.last = exc
        if entry.timer is None:
            delay = max(0.0, entry.since + ERROR_LOG_INTERVAL - now)
            entry.timer = asyncio.get_running_loop().call_later(delay, self._summarise_errors, entry)

    def _summarise_errors(self, entry: _ErrorLog) -> None:
        """Timer callback (never raises): the summary line of the errors counted in an interval."""
        entry.timer = None
        with contextlib.suppress(Exception):
            self._log_summary(entry, time.monotonic())

    def _log_summary(self, entry: _ErrorLog, now: float) -> None:
        count = entry.suppressed
        if not count:
            return
        self.logger.warning(
            "naq.connection: connection %d (%s) error repeated %d time(s) in the last %.1f s "
            "(repeats are summarised, one line per %g s); latest: %s",
            self.connection_id,
            self.client_name,
            count,
            now - entry.since,
            ERROR_LOG_INTERVAL,
            self.describe(entry.last),
        )
        entry.suppressed = 0
        entry.last = None
        entry.since = now  # a new interval: repeats from now on are summarised again

    def _flush_error_logs(self) -> None:
        """At close: the pending summary lines now, and no timer left behind."""
        now = time.monotonic()
        for entry in list((self.error_logs or {}).values()):
            if entry.timer is not None:
                entry.timer.cancel()
                entry.timer = None
            self._log_summary(entry, now)

    def _shrink_attempt_timeout(self) -> None:
        """Cut nats-py's per-attempt ``connect_timeout`` to what is left of the connect budget."""
        if not self.own_walk or self.conn is None:
            return
        remaining = self.deadline - time.monotonic()
        timeout = max(MIN_ATTEMPT_TIMEOUT, min(self.attempt_timeout, remaining))
        _nats_compat.set_attempt_timeout(self.conn, timeout)

    async def disconnected_cb(self) -> None:
        """Lost the server (nats-py may reconnect). nats-py also calls this from every close(): a
        close by us or by the caller is not reported, a close after a fatal error is."""
        try:
            if self.closing or self.connecting or self.disconnected:
                return
            conn = self.conn
            if conn.is_closed is True and not isinstance(conn.last_error, BaseException):
                return  # someone called close() on a healthy connection: not a lost server
            self.disconnected = True
            server = server_of(self.conn)
            cause = self.last_error
            self.logger.warning(
                "naq.connection: connection %d (%s) lost server %s%s; %s",
                self.connection_id,
                self.client_name,
                server,
                f" ({self.describe(cause)})" if cause is not None else "",
                _reconnect_plan(self.config),
            )
            if events.has_listeners():
                self.emit(ConnectionEventKind.DISCONNECTED, server=server, error=cause)
        except Exception:  # noqa: S110
            pass

    async def reconnected_cb(self) -> None:
        try:
            self.disconnected = False
            self.last_error = None
            server = server_of(self.conn)
            self.logger.info(
                "naq.connection: connection %d (%s) reconnected to %s",
                self.connection_id,
                self.client_name,
                server,
            )
            if events.has_listeners():
                self.emit(ConnectionEventKind.RECONNECTED, server=server)
        except Exception:  # noqa: S110
            pass

    async def closed_cb(self) -> None:
        if not self.connecting:
            self.on_closed()  # never raises
