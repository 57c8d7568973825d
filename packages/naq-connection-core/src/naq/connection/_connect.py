"""Pure helpers of the fail-fast connect: nats-py keywords, TLS contexts, teardown of half-built clients.

Nothing here looks anything up through the patch points of :mod:`naq.connection.context_managers`
(``nats``, ``get_config``, ``logger``, ``asyncio``); that module does the calling, these helpers only
compute values and tear down objects they are handed.

Why the initial connect differs from the configured reconnect behaviour (nats-py 2.x, checked in
``nats/aio/client.py``): ``Client.connect`` walks its server pool with the same
``max_reconnect_attempts`` / ``reconnect_time_wait`` it later uses for reconnects -- each server is
tried ``max_reconnect_attempts + 1`` times, ``reconnect_time_wait`` apart (~2 minutes with nats-py's
defaults, whatever ``allow_reconnect`` says). So the initial walk runs with :data:`INITIAL_ATTEMPTS`
and :data:`INITIAL_TIME_WAIT` (every server tried twice, quickly) and ``open_connection`` installs
:attr:`ConnectPlan.reconnect_options`, the configured values, in ``nc.options`` -- the dict
nats-py reads on every reconnect -- once the connect succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from nats.aio.client import Client

from naq.connection.config import redact

if TYPE_CHECKING:
    from naq.connection.config import NatsConfig

__all__ = [
    "CLOSE_CALLBACKS",
    "DEADLINE_GRACE",
    "LATE_CALLBACKS",
    "INITIAL_ATTEMPTS",
    "INITIAL_TIME_WAIT",
    "LAST_RESORT_DELAY",
    "MIN_ATTEMPT_TIMEOUT",
    "ConnectPlan",
    "abandon",
    "attempt_timeout",
    "connect_kwargs",
    "describe",
    "plan",
]

INITIAL_ATTEMPTS = 1
"""``max_reconnect_attempts`` during the initial walk: each server is tried twice (1 retry).

nats-py discards a server once its failed attempts exceed this; 0 would mean "forever"."""
INITIAL_TIME_WAIT = 0.05
"""``reconnect_time_wait`` (s) during the initial walk: the pause before retrying the same server."""
MIN_ATTEMPT_TIMEOUT = 0.05
"""Smallest per-attempt ``connect_timeout`` (s) handed to nats-py once the budget is spent."""
DEADLINE_GRACE = 0.3
"""Seconds past ``connection_timeout`` before the hard deadline cancels the connect.

nats-py normally fails by itself within the budget (its per-attempt timeouts are cut to what is
left); the hard deadline only catches what those timeouts do not cover, well inside the promised
``connection_timeout + 1 s``."""

LAST_RESORT_DELAY = 0.3
"""Seconds after the hard deadline before the connecting task itself is cancelled, for the case
where tearing the client down does not end nats-py's wait (still inside ``connection_timeout + 1 s``)."""

_KWARGS_CACHE_LIMIT = 64
_kwargs_cache: dict[int, tuple[NatsConfig, dict[str, Any]]] = {}


def connect_kwargs(config: NatsConfig) -> dict[str, Any]:
    """nats-py ``connect()`` keywords for ``config`` (without callbacks), as configured.

    Cached per config object (identity; configs are frozen), so the ``ssl.SSLContext`` of
    ``config.ssl_context()`` is built once per config: the result is shared, copy before changing it.
    ``tls_hostname`` is always ``None`` (nats-py then verifies the URL's host name; NatsConfig has no
    override). Every keyword is checked against ``nats.aio.client.Client.connect``; note nats-py's
    ``connect_timeout`` (ours is ``connection_timeout``) and that ``user_credentials`` /
    ``nkeys_seed`` take file paths.
    """
    hit = _kwargs_cache.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    kwargs: dict[str, Any] = {
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
        "tls_hostname": None,
        "tls_handshake_first": config.tls.handshake_first,
    }
    if len(_kwargs_cache) >= _KWARGS_CACHE_LIMIT:
        _kwargs_cache.clear()
    _kwargs_cache[id(config)] = (config, kwargs)
    return kwargs


def attempt_timeout(config: NatsConfig) -> float:
    """Per-attempt timeout of the initial walk: the budget shared between the servers."""
    count = len(config.servers)
    return config.connection_timeout / count if count > 1 else config.connection_timeout


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

CLOSE_CALLBACKS = ("_disconnected_cb", "_closed_cb")
"""nats-py attributes holding the callbacks its ``close()`` awaits."""
LATE_CALLBACKS = all(
    name in Client.__init__.__code__.co_names for name in ("_reconnected_cb", *CLOSE_CALLBACKS)
)
"""Whether nats-py keeps ``disconnected_cb`` / ``reconnected_cb`` / ``closed_cb`` in the attributes of
the same name (it does in 2.9 to 2.16, and reads them when they fire). Then core passes only
``error_cb`` to ``connect()`` (the only callback the initial walk needs), installs the other three
once connected and removes the two ``close()`` would await before closing a connection itself:
nats-py checks every callback with ``inspect.iscoroutinefunction`` on connect, and these steps were
~1% of a local connect + close. If a nats-py release stores them elsewhere, all four callbacks go
to ``connect()`` as before."""


class ConnectPlan:
    """What :func:`open_connection` / :func:`close_connection` derive from one config, computed once.

    ``kwargs``: nats-py ``connect()`` keywords for the fail-fast initial walk (no callbacks; shared:
    never change it). Every server is tried (``allow_reconnect`` on, so a timeout or protocol error on
    one server moves on to the next instead of raising), at most twice, ``INITIAL_TIME_WAIT`` apart,
    each attempt bounded by ``attempt_timeout``. ``reconnect_options``: what goes into ``nc.options``
    once connected: nats-py reads ``nc.options[...]`` afresh on every reconnect attempt
    (``_select_next_server``, ``_process_op_err``, ``_attempt_reconnect``). ``hard_deadline``:
    seconds before the initial connect is cut. ``close_timeout`` / ``drain_close_timeout``: bounds of a close.
    """

    __slots__ = (
        "attempt_timeout",
        "budget",
        "close_timeout",
        "drain_close_timeout",
        "hard_deadline",
        "kwargs",
        "reconnect_options",
    )

    def __init__(self, config: NatsConfig) -> None:
        # nats-py's defaults for these are None / False: leaving them out saves binding them per call
        kwargs = {
            key: value
            for key, value in connect_kwargs(config).items()
            if not (key in _OMIT_WHEN_UNSET and value in (None, False))
        }
        if len(config.servers) == 1:
            # nats-py parses one URL string directly; a list also goes through its scheme-mixing check
            kwargs["servers"] = config.servers[0]
        self.attempt_timeout = attempt_timeout(config)
        kwargs["connect_timeout"] = self.attempt_timeout
        kwargs["max_reconnect_attempts"] = INITIAL_ATTEMPTS
        kwargs["reconnect_time_wait"] = min(INITIAL_TIME_WAIT, config.reconnect_time_wait)
        kwargs["allow_reconnect"] = True
        self.kwargs = kwargs
        self.budget = config.connection_timeout
        self.hard_deadline = config.connection_timeout + DEADLINE_GRACE
        self.reconnect_options = {
            "connect_timeout": config.connection_timeout,
            "max_reconnect_attempts": config.max_reconnect_attempts,
            "reconnect_time_wait": config.reconnect_time_wait,
            "allow_reconnect": config.allow_reconnect,
        }
        self.close_timeout = config.flush_timeout + config.reconnect_time_wait
        self.drain_close_timeout = config.drain_timeout + config.flush_timeout


_plans: dict[int, tuple[NatsConfig, ConnectPlan]] = {}


def plan(config: NatsConfig) -> ConnectPlan:
    """The :class:`ConnectPlan` of ``config``, cached per config object (identity; configs are frozen)."""
    hit = _plans.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    result = ConnectPlan(config)
    if len(_plans) >= _KWARGS_CACHE_LIMIT:
        _plans.clear()
    _plans[id(config)] = (config, result)
    return result


def abandon(conn: Any) -> None:
    """Tear down a nats-py client synchronously: no awaits, so it cannot be interrupted.

    For a client that never finished connecting (``close()`` would raise ``AssertionError`` or wait
    on a server that never answers) and for a ``close()`` that timed out or was cancelled. It marks
    the client closed (so nats-py's own tasks stop instead of reconnecting), cancels its read, ping,
    flusher and reconnect tasks, and aborts the socket (no flushing of buffered writes to a peer
    that may never read them) -- for ``ws://`` / ``wss://`` too (see :func:`_abort_websocket`).
    Tolerates foreign objects and half-initialised clients; never raises.
    """
    with contextlib.suppress(Exception):  # best effort on foreign objects
        conn._status = 2  # nats.aio.client.Client.CLOSED
    for name in ("_reading_task", "_ping_interval_task", "_flusher_task", "_reconnection_task"):
        task = getattr(conn, name, None)
        cancel = getattr(task, "cancel", None)
        if cancel is not None:
            with contextlib.suppress(Exception):
                cancel()
    _cancel_subscriptions(conn)
    transport = getattr(conn, "_transport", None)
    if transport is None:
        return
    # TcpTransport keeps the raw writer and, after a TLS upgrade, the TLS writer: abort both.
    for attr in ("_io_writer", "_bare_io_writer"):
        writer = getattr(transport, attr, None)
        raw = getattr(writer, "transport", None)
        _abort(raw)
    if hasattr(transport, "_ws"):
        _abort_websocket(transport)
    with contextlib.suppress(Exception):
        transport.close()  # anything else (for a websocket: a no-op close once the socket is gone)


def _abort(raw: object) -> None:
    abort = getattr(raw, "abort", None)
    if abort is not None:
        with contextlib.suppress(Exception):
            abort()


_closing_sessions: set[asyncio.Task[Any]] = set()
"""Session-close tasks started by :func:`_abort_websocket` (held so they are not collected early)."""


def _abort_websocket(transport: Any) -> None:
    """nats-py's ``WebSocketTransport`` (``ws://``, ``wss://``; nats-py 2.x, aiohttp 3.x).

    It has no stream writers: the socket sits under an aiohttp ``ClientWebSocketResponse``
    (``_ws``), whose ``close()`` sends a close frame and waits for the answer, and whose sends wait
    for the socket to drain -- forever when the server stopped reading. So abort the TCP (or TLS)
    transport under the websocket's writer, which ends every such wait at once, and close the
    transport's own aiohttp ``ClientSession`` (``_client``): nats-py only closes it at the end of a
    ``close()`` that got that far, and an unclosed session is reported by aiohttp when collected.
    The session's ``close()`` is a coroutine, so it runs as a task (it finishes promptly: its
    connections are aborted or were never opened).
    """
    ws = getattr(transport, "_ws", None)
    _abort(getattr(getattr(ws, "_writer", None), "transport", None))
    session = getattr(transport, "_client", None)
    if session is None or getattr(session, "closed", True) is not False:
        return
    with contextlib.suppress(Exception):
        loop = asyncio.get_running_loop()
        task = loop.create_task(session.close())
        _closing_sessions.add(task)
        task.add_done_callback(_closing_sessions.discard)


def _cancel_subscriptions(conn: Any) -> None:
    """What nats-py's ``_close`` does for subscriptions: stop their message tasks and waiters."""
    subs = getattr(conn, "_subs", None)
    if not isinstance(subs, dict):
        return
    for sub in list(subs.values()):
        try:
            task = sub._wait_for_msgs_task
            if task is not None and not task.done():
                task.cancel()
            if sub._message_iterator is not None:
                sub._message_iterator._cancel()
            pending = sub._pending_next_msgs_calls
            if pending:
                for waiter in pending.values():
                    waiter.cancel()
                pending.clear()
        except Exception:  # noqa: S110 -- best effort, never raise from a teardown
            pass
    subs.clear()


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
