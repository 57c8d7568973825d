"""The only module that touches nats-py's private state.

Each function works around one nats-py 2.x behaviour, says which, and is pinned by a test in
``tests/test_nats_compat.py`` that fails when the installed nats-py no longer behaves that way (or
no longer has the attribute). Everything here is best effort on foreign objects (test doubles, a
half-built client): it never raises.

Nothing here exists for speed: only for correctness that nats-py's public API cannot give.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.transport import TcpTransport

__all__ = [
    "abort",
    "close_failed_attempt",
    "current_server_url",
    "replaced_connect",
    "server_info",
    "set_attempt_timeout",
    "set_reconnect_options",
    "stop_walk",
]

_CLOSED = 2
"""``nats.aio.client.Client.CLOSED``."""


def replaced_connect() -> Callable[..., Awaitable[Any]] | None:
    """``nats.connect`` when something replaced it (a test double, an instrumentation wrapper), else None.

    nats-py's own ``nats.connect`` is a function of the ``nats`` package (its ``__globals__`` are that
    package's namespace) that builds a ``nats.NATS()`` and awaits its ``connect()``. Core prefers doing
    that itself so it holds the half-built client and can tear it down on a deadline or a cancel.
    Anything else found at ``nats.connect`` *now* (this is looked up on every call, never remembered)
    is called instead, with the configured keywords.
    """
    connect = nats.connect
    if getattr(connect, "__globals__", None) is vars(nats):
        return None
    return connect


def server_info(conn: Any) -> dict[str, Any]:
    """The INFO the server sent on connect (a copy; empty when unknown).

    nats-py keeps it in ``Client._server_info`` and exposes only a few fields of it publicly
    (``max_payload``, ``client_id``, ``connected_server_version``).
    """
    info = getattr(conn, "_server_info", None)
    return dict(info) if isinstance(info, dict) else {}


def current_server_url(conn: Any) -> str | None:
    """The URL of the server ``conn`` uses, or last used while it reconnects (may hold credentials).

    nats-py's public ``connected_url`` is None while reconnecting; ``Client._current_server`` keeps
    the server it lost, which is what a DISCONNECTED report should name.
    """
    with contextlib.suppress(Exception):
        current = getattr(conn, "_current_server", None)
        for url in (getattr(current, "uri", None), conn.connected_url):
            text = url.geturl() if url is not None else None
            if isinstance(text, str):
                return text
    return None


def set_attempt_timeout(conn: Any, timeout: float) -> None:
    """Make nats-py's next connect attempt wait at most ``timeout`` seconds.

    nats-py reads ``options["connect_timeout"]`` afresh for every attempt of its server walk; core
    shrinks it to what is left of the connect budget after each failed attempt.
    """
    with contextlib.suppress(Exception):
        conn.options["connect_timeout"] = timeout


def set_reconnect_options(conn: Any, options: dict[str, Any]) -> None:
    """Install the configured reconnect settings once the initial connect succeeded.

    nats-py walks its server pool for the *initial* connect with the reconnect settings (about two
    minutes with its defaults, whatever ``allow_reconnect`` says), so core connects with fail-fast
    values and then puts the configured ones into ``options``, which nats-py reads on every reconnect.
    """
    conn.options.update(options)


def stop_walk(conn: Any) -> None:
    """End nats-py's initial server walk at its next server choice (the connect deadline passed).

    nats-py raises ``NoServersError`` when ``Client._server_pool`` is empty.
    """
    with contextlib.suppress(Exception):
        conn._server_pool.clear()


def close_failed_attempt(conn: Any) -> None:
    """Close the socket of a failed reconnect attempt, which nats-py leaves open.

    nats-py's reconnect loop reuses one ``TcpTransport``; each attempt replaces the stream writer of
    the previous one without closing it. Python 3.11+ closes an unreferenced writer when it is
    collected; Python 3.10 does not, so every failed attempt against a frozen server stayed open on
    the server. Websocket transports reuse their HTTP session, so only plain TCP transports are closed.
    """
    transport = getattr(conn, "_transport", None)
    if isinstance(transport, TcpTransport):
        with contextlib.suppress(Exception):
            transport.close()  # type: ignore[no-untyped-call]


def abort(conn: Any) -> None:
    """Tear a nats-py client down synchronously: no awaits, so it cannot be interrupted.

    For a client that never finished connecting (its ``close()`` raises ``AssertionError`` or waits
    on a server that never answers) and for a ``close()`` that ran out of time. nats-py has no
    public way to do this: mark it closed (its own tasks then stop instead of reconnecting), cancel
    its read, ping, flusher and reconnect tasks and its subscriptions' tasks, and abort the socket
    (no flushing to a peer that may never read) -- for ``ws://`` / ``wss://`` too. Never raises.
    """
    with contextlib.suppress(Exception):
        conn._status = _CLOSED
    for name in ("_reading_task", "_ping_interval_task", "_flusher_task", "_reconnection_task"):
        _cancel(getattr(conn, name, None))
    _cancel_subscriptions(conn)
    transport = getattr(conn, "_transport", None)
    if transport is None:
        return
    # TcpTransport keeps the raw writer and, after a TLS upgrade, the TLS writer: abort both.
    for attr in ("_io_writer", "_bare_io_writer"):
        _abort_socket(getattr(getattr(transport, attr, None), "transport", None))
    if hasattr(transport, "_ws"):
        _abort_websocket(transport)
    with contextlib.suppress(Exception):
        transport.close()


def _cancel(task: object) -> None:
    cancel = getattr(task, "cancel", None)
    if cancel is not None:
        with contextlib.suppress(Exception):
            cancel()


def _abort_socket(raw: object) -> None:
    abort_ = getattr(raw, "abort", None)
    if abort_ is not None:
        with contextlib.suppress(Exception):
            abort_()


_closing_sessions: set[asyncio.Task[Any]] = set()
"""aiohttp session-close tasks started by :func:`_abort_websocket` (held so they are not collected)."""


def _abort_websocket(transport: Any) -> None:
    """nats-py's ``WebSocketTransport``: abort the socket under aiohttp's websocket and close its session.

    Its ``close()`` sends a close frame and waits for the answer, forever when the server stopped
    reading; aborting the TCP transport under the websocket's writer ends every such wait. nats-py
    closes the transport's own ``ClientSession`` only at the end of a ``close()`` that got that far;
    an unclosed session is reported by aiohttp when collected, so close it here (a coroutine: a task).
    """
    ws = getattr(transport, "_ws", None)
    _abort_socket(getattr(getattr(ws, "_writer", None), "transport", None))
    session = getattr(transport, "_client", None)
    if session is None or getattr(session, "closed", True) is not False:
        return
    with contextlib.suppress(Exception):
        task = asyncio.get_running_loop().create_task(session.close())
        _closing_sessions.add(task)
        task.add_done_callback(_closing_sessions.discard)


def _cancel_subscriptions(conn: Any) -> None:
    """What nats-py's ``_close`` does for subscriptions: stop their message tasks and waiters."""
    subs = getattr(conn, "_subs", None)
    if not isinstance(subs, dict):
        return
    for sub in list(subs.values()):
        try:
            _cancel(sub._wait_for_msgs_task)
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
