"""Open and close NATS connections: the one place that does, for the context managers and the pool.

Fail fast. nats-py walks its server pool for the *initial* connect with the reconnect settings
(about two minutes with its defaults) before raising, even with ``allow_reconnect=False``.
:func:`open_connection` instead:

- tries every server twice, :data:`INITIAL_TIME_WAIT` apart, each attempt bounded by
  ``connection_timeout / len(servers)`` and, after a failed attempt, by what is left of the budget;
  a refusing server fails in milliseconds;
- stops at once on a decisive error (TLS failure, rejected credentials);
- bounds the whole connect by ``connection_timeout`` + :data:`DEADLINE_GRACE`;
- then installs the configured reconnect settings, which nats-py uses from then on.

Cancellation always wins. On Python < 3.12, nats-py's internal ``asyncio.wait_for`` can drop a
cancellation that arrives as its inner wait finishes, and the cancelled task would go on as if
nothing happened. On Python 3.11+ the task's ``cancelling()`` count still shows such a cancel, so it
is raised again once the connect returns (and the client torn down); the deadline is an
``asyncio.timeout``. Python 3.10 has neither: there the connect runs in a task of its own that the
caller waits for with ``asyncio.wait`` (which never drops a cancel); past the deadline the half-built
client is torn down and, :data:`LAST_RESORT_DELAY` later, the attempt is abandoned. Closing follows
the same split, so a ``CancelledError`` nats-py raises inside its own ``close()`` is a failed close,
not a cancellation of the caller.

``nats.connect`` is looked up on every call: when something replaced it (a test double such as
``naq.testing.fake``, an instrumentation wrapper), that replacement is called with the configured
keywords instead of core's own walk (see :func:`naq.connection._nats_compat.replaced_connect`).

Failures raise :class:`~naq.connection.errors.NaqConnectionError` naming the servers (redacted), with
the last attempt's error chained as ``__cause__`` (rather than nats-py's generic ``NoServersError``,
so ``is_transient`` can tell a refused connection from an authorization failure).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import ssl
import sys
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats
import nats.errors as nats_errors

from naq.connection import _nats_compat
from naq.connection._lifecycle import AbortConnect, Lifecycle
from naq.connection.errors import NaqConnectionError

if TYPE_CHECKING:
    from nats.aio.client import Client

    from naq.connection.config import NatsConfig

__all__ = [
    "DEADLINE_GRACE",
    "INITIAL_ATTEMPTS",
    "INITIAL_TIME_WAIT",
    "LAST_RESORT_DELAY",
    "close_connection",
    "connection_id",
    "open_connection",
]

logger = logging.getLogger("naq.connection")

INITIAL_ATTEMPTS = 1
"""``max_reconnect_attempts`` during the initial walk: each server is tried twice (0 would mean forever)."""
INITIAL_TIME_WAIT = 0.05
"""``reconnect_time_wait`` (s) during the initial walk: the pause before retrying the same server."""
DEADLINE_GRACE = 0.3
"""Seconds past ``connection_timeout`` before the half-built client is torn down."""
LAST_RESORT_DELAY = 0.3
"""Seconds after the teardown before a connect attempt that still has not ended is abandoned."""
DEFAULT_CLOSE_TIMEOUT = 10.0
"""Bound (s) on closing a connection that core did not open (no config to derive one from)."""

_OMIT_WHEN_UNSET = frozenset(
    {
        "user",
        "password",
        "token",
        "user_credentials",
        "nkeys_seed",
        "tls",
        "tls_hostname",
        "tls_handshake_first",
    }
)


@dataclass(frozen=True)
class _Plan:
    """What one config means for nats-py: keywords for core's walk, for a replaced ``nats.connect``,
    the reconnect settings installed once connected, and the bounds of a close."""

    walk: dict[str, Any]
    configured: dict[str, Any]
    reconnect_options: dict[str, Any]
    attempt_timeout: float
    close_timeout: float
    drain_close_timeout: float


@functools.lru_cache(maxsize=64)
def _plan(config: NatsConfig) -> _Plan:
    """The plan of ``config`` (configs are frozen and hashable; the TLS context is built once)."""
    configured: dict[str, Any] = {
        "servers": list(config.servers),
        "name": config.client_name,
        "connect_timeout": config.connection_timeout,
        "reconnect_time_wait": config.reconnect_time_wait,
        "max_reconnect_attempts": config.max_reconnect_attempts,
        "ping_interval": config.ping_interval,
        "max_outstanding_pings": config.max_outstanding_pings,
        "allow_reconnect": config.allow_reconnect,
        "drain_timeout": config.drain_timeout,
        "flush_timeout": config.flush_timeout,
        "user": config.user,
        "password": config.password,
        "token": config.token,
        "user_credentials": config.creds_file,
        "nkeys_seed": config.nkeys_seed_file,
        "tls": config.ssl_context(),
        "tls_hostname": None,  # nats-py then verifies the URL's host name
        "tls_handshake_first": config.tls.handshake_first,
    }
    count = len(config.servers)
    attempt_timeout = config.connection_timeout / count if count > 1 else config.connection_timeout
    walk = {k: v for k, v in configured.items() if not (k in _OMIT_WHEN_UNSET and v in (None, False))}
    walk.update(
        connect_timeout=attempt_timeout,
        max_reconnect_attempts=INITIAL_ATTEMPTS,
        reconnect_time_wait=min(INITIAL_TIME_WAIT, config.reconnect_time_wait),
        allow_reconnect=True,  # so a failed attempt moves on to the next server instead of raising
    )
    return _Plan(
        walk=walk,
        configured=configured,
        reconnect_options={
            "connect_timeout": config.connection_timeout,
            "max_reconnect_attempts": config.max_reconnect_attempts,
            "reconnect_time_wait": config.reconnect_time_wait,
            "allow_reconnect": config.allow_reconnect,
        },
        attempt_timeout=attempt_timeout,
        close_timeout=config.flush_timeout + config.reconnect_time_wait,
        drain_close_timeout=config.drain_timeout + config.flush_timeout,
    )


_states: weakref.WeakKeyDictionary[Any, Lifecycle] = weakref.WeakKeyDictionary()
"""The lifecycle of each connection core opened (for its close bounds, events and id)."""


def _state_of(conn: object) -> Lifecycle | None:
    try:
        return _states.get(conn)
    except TypeError:  # not weak-referenceable: not a connection core opened
        return None


def connection_id(conn: object) -> int:
    """The id core's events carry for ``conn`` (opened by :func:`open_connection`), else ``id(conn)``."""
    state = _state_of(conn)
    return state.connection_id if state is not None else id(conn)


# ---------------------------------------------------------------------------------------- open


async def open_connection(config: NatsConfig, *, pooled: bool = False) -> Client:
    """Connect to NATS with ``config``: fail fast, quiet callbacks, lifecycle events.

    Raises :class:`~naq.connection.errors.NaqConnectionError` within ``config.connection_timeout``
    + 1 s when no server can be reached, naming the servers (redacted) with the error chained.
    Emits CONNECTING and then CONNECTED or CONNECT_FAILED, and later DISCONNECTED / RECONNECTED /
    ERROR / CLOSED (``pooled`` is copied into every event). A cancellation always propagates and
    leaves nothing open. Close the result with :func:`close_connection`.
    """
    plan = _plan(config)
    state = Lifecycle(
        config,
        pooled=pooled,
        logger=logger,
        attempt_timeout=plan.attempt_timeout,
        close_timeout=plan.close_timeout,
        drain_close_timeout=plan.drain_close_timeout,
    )
    state.on_connecting()
    try:
        conn = await _attempt(state, plan, config.connection_timeout + DEADLINE_GRACE)
    except BaseException as exc:
        if not isinstance(
            exc, Exception
        ):  # cancelled (or interrupted): nothing left open, the cancel goes on
            state.on_connect_failed(exc)
            raise
        error: BaseException = exc
        if state.deadline_hit:
            error = asyncio.TimeoutError()
        elif isinstance(exc, AbortConnect):  # error_cb stopped the walk on a decisive error
            error = exc.error
        raise _connect_failed(state, error) from _cause(state, error)
    if state.own_walk:
        _nats_compat.set_reconnect_options(conn, plan.reconnect_options)
    _states[conn] = state
    state.on_connected(conn)
    return conn


async def _connect(state: Lifecycle, plan: _Plan) -> Client:
    """The connect itself: core's own walk, or whatever replaced ``nats.connect`` (decided now)."""
    callbacks: dict[str, Any] = {
        "error_cb": state.error_cb,
        "disconnected_cb": state.disconnected_cb,
        "reconnected_cb": state.reconnected_cb,
        "closed_cb": state.closed_cb,
    }
    replaced = _nats_compat.replaced_connect()
    if replaced is not None:
        conn: Client = await replaced(**plan.configured, **callbacks)
        return conn
    client: Client = nats.NATS()  # type: ignore[attr-defined]  # looked up now, like nats.connect
    state.conn = client
    state.own_walk = True
    try:
        await client.connect(**plan.walk, **callbacks)
    except BaseException:
        _nats_compat.abort(client)
        raise
    return client


if sys.version_info >= (3, 11):

    async def _attempt(state: Lifecycle, plan: _Plan, budget: float) -> Client:
        """The connect, in the caller's task, bounded by ``budget``; a dropped cancel is raised again.

        nats-py's ``asyncio.wait_for`` can drop a cancellation on Python 3.11; the task's
        ``cancelling()`` count still shows it, so it is raised once the connect returns.
        """
        task = asyncio.current_task()
        assert task is not None, "open_connection runs in a task"
        requested = task.cancelling()
        deadline = asyncio.timeout(budget)
        try:
            async with deadline:
                conn = await _connect(state, plan)
        except BaseException:
            state.deadline_hit = deadline.expired()
            raise
        dropped_cancel = task.cancelling() > requested
        if dropped_cancel or deadline.expired():  # the connect finished as the cancel / deadline hit
            _discard(state, conn)
            if dropped_cancel:
                raise asyncio.CancelledError
            state.deadline_hit = True
            raise asyncio.TimeoutError
        return conn

else:

    async def _attempt(state: Lifecycle, plan: _Plan, budget: float) -> Client:
        """The connect, in a task of its own (Python 3.10 cannot see a cancel nats-py dropped).

        The caller waits with ``asyncio.wait``, which never drops a cancellation; past ``budget`` the
        half-built client is torn down, and :data:`LAST_RESORT_DELAY` later the attempt is abandoned.
        """
        attempt = asyncio.ensure_future(_connect(state, plan))
        try:
            done, _ = await asyncio.wait((attempt,), timeout=budget)
            if not done:
                state.on_deadline()
                done, _ = await asyncio.wait((attempt,), timeout=LAST_RESORT_DELAY)
        except BaseException:
            _abandon(attempt, state)
            raise
        if not done or state.deadline_hit:
            _abandon(attempt, state)
            state.deadline_hit = True
            raise asyncio.TimeoutError
        if attempt.cancelled():
            raise ConnectionError("the connect attempt was cancelled inside nats-py")
        return attempt.result()


def _abandon(attempt: asyncio.Future[Any], state: Lifecycle) -> None:
    """Give up on a connect attempt: tear its client down now, and whatever it still returns later."""
    if state.conn is not None:
        _nats_compat.abort(state.conn)
    attempt.cancel()
    attempt.add_done_callback(functools.partial(_discard_result, state))


def _discard_result(state: Lifecycle, attempt: asyncio.Future[Any]) -> None:
    """Done callback of an abandoned attempt: a client it still returned is nobody's, so it goes."""
    if not attempt.cancelled() and attempt.exception() is None:
        _discard(state, attempt.result())


def _discard(state: Lifecycle, conn: Any) -> None:
    """Tear down a client nobody will use (its connect finished too late)."""
    if state.own_walk:
        _nats_compat.abort(conn)
    else:  # a replaced connect's client: let it close itself
        close = getattr(conn, "close", None)
        if close is not None:
            _background(close())


_background_tasks: set[asyncio.Future[Any]] = set()


def _background(awaitable: Any) -> None:
    """Run ``awaitable`` to its end with nobody waiting (held here so it is not collected early)."""
    try:
        task = asyncio.ensure_future(awaitable)
    except TypeError:  # not awaitable
        return
    _background_tasks.add(task)
    task.add_done_callback(_finished_in_background)


def _finished_in_background(task: asyncio.Future[Any]) -> None:
    _background_tasks.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: nobody is waiting for it


def _cause(state: Lifecycle, exc: BaseException) -> BaseException:
    """The error to chain: what the last attempt hit, rather than nats-py's generic give-up errors."""
    if state.last_error is not None and isinstance(exc, (nats_errors.NoServersError, asyncio.TimeoutError)):
        return state.last_error
    return exc


def _connect_failed(state: Lifecycle, exc: BaseException) -> NaqConnectionError:
    cause = _cause(state, exc)
    state.on_connect_failed(cause)
    config = state.config
    servers = config.redacted_servers()
    timed_out = isinstance(exc, asyncio.TimeoutError) and not isinstance(exc, nats_errors.Error)
    what = f"timed out after {config.connection_timeout:g} s" if timed_out else "failed"
    return NaqConnectionError(
        f"connecting to NATS at {', '.join(servers)} {what} ({state.describe(cause)}){_hint(cause)}",
        servers=servers,
    )


def _hint(exc: BaseException) -> str:
    """What the user can do about a connect failure, from its cause."""
    text = str(exc).lower()
    if isinstance(exc, nats_errors.AuthorizationError) or "authorization violation" in text:
        return (
            ": the server rejected the credentials; check user/password, token, creds_file or nkeys_seed_file"
        )
    if isinstance(exc, ssl.SSLError) or "ssl" in text or "certificate" in text:
        return (
            ": the TLS handshake failed; check tls.ca_file (the CA that signed the server certificate), "
            "the server host name and tls.handshake_first"
        )
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return ": nothing accepts connections there; is nats-server running on that host and port?"
    if isinstance(exc, asyncio.TimeoutError):
        return (
            ": no NATS handshake in time; check host and port (a non-NATS or unreachable address), "
            "firewalls and server load, or raise connection_timeout"
        )
    return ""


# ---------------------------------------------------------------------------------------- close


async def close_connection(conn: Client, *, drain: bool = False, timeout: float | None = None) -> None:
    """Close ``conn``; never raises, except ``CancelledError`` (re-raised after the teardown).

    Plain ``close()`` by default: it flushes what was published and closes the socket, while
    ``drain=True`` also lets subscriptions finish handling their pending messages (bounded by
    ``drain_timeout``): only worth it for connections with subscriptions. The wait is bounded
    (``timeout``, default ``flush_timeout + reconnect_time_wait`` of the connection's config, or
    ``drain_timeout + flush_timeout`` when draining); past it, or when nats-py's close fails, the
    client is torn down without waiting (tasks cancelled, socket aborted). Already-closed
    connections are fine. Emits CLOSED exactly once for connections opened by :func:`open_connection`.
    """
    state = _state_of(conn)
    if conn.is_closed is not True:  # not already closed by nats-py (gave up) or by the caller
        if state is not None:
            state.closing = True
            if timeout is None:
                timeout = state.drain_close_timeout if drain else state.close_timeout
        elif timeout is None:
            timeout = DEFAULT_CLOSE_TIMEOUT
        closing = conn.drain() if drain and conn.is_connected is True else conn.close()
        try:
            failure = await _bounded_close(closing, timeout)
        except BaseException:  # the caller was cancelled: tear down, then let the cancel go on
            _nats_compat.abort(conn)
            if state is not None:
                state.on_closed()
            raise
        if failure is not None:
            _nats_compat.abort(conn)
            logger.debug(
                "naq.connection: closing connection %d %s; closed without waiting",
                connection_id(conn),
                failure,
            )
    if state is not None:
        state.on_closed()


if sys.version_info >= (3, 11):

    async def _bounded_close(closing: Awaitable[Any], timeout: float) -> str | None:
        """Await nats-py's close (or drain) for at most ``timeout``; why it failed, or None.

        nats-py's ``close()`` can raise a ``CancelledError`` of its own (closed mid-reconnect, or a
        websocket's shared drain future): with the task's ``cancelling()`` count unchanged, that is
        a failed close, not a cancellation of the caller, which is re-raised.
        """
        task = asyncio.current_task()
        assert task is not None, "close_connection runs in a task"
        requested = task.cancelling()
        bound = asyncio.timeout(timeout)
        try:
            async with bound:
                await closing
        except asyncio.CancelledError:
            if task.cancelling() > requested:
                raise
            return "failed (nats-py cancelled its own close)"
        except Exception as exc:
            return f"took over {timeout:g} s" if bound.expired() else f"failed ({type(exc).__name__})"
        return None

else:

    async def _bounded_close(closing: Awaitable[Any], timeout: float) -> str | None:
        """Python 3.10 (no ``cancelling()``): nats-py's close in a task of its own, so its own
        ``CancelledError`` shows as a cancelled task while the caller's wait returns normally."""
        task = asyncio.ensure_future(closing)
        task.add_done_callback(_retrieve)
        try:
            done, _ = await asyncio.wait((task,), timeout=timeout)
        except BaseException:
            task.cancel()
            raise
        if not done:
            task.cancel()
            return f"took over {timeout:g} s"
        if task.cancelled():
            return "failed (nats-py cancelled its own close)"
        error = task.exception()
        return None if error is None else f"failed ({type(error).__name__})"


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
