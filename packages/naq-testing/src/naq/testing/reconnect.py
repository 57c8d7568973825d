"""Waiting until a nats-py client can use a server again after a restart, a crash or a freeze.

``NatsServer.restart()`` / ``resume()`` are synchronous: they block the event loop, so when they
return no client has noticed yet that its socket died. The next request would go out on the dead
socket and time out. ``await wait_reconnected(nc)`` waits until ``nc`` has a connection that
answers a PING (two round trips, so subscriptions replayed on reconnect and buffered publishes
have reached the server), bounded by ``timeout``.

The client factories register the clients they make with the servers they target
(``track_client``); ``NatsServer.arestart()`` / ``aresume()`` and ``NatsCluster.aheal()`` wait for
every such client (``wait_clients_of``). Only public nats-py API is used: ``is_connected``,
``is_reconnecting``, ``is_closed``, ``stats["reconnects"]`` and ``rtt()``. This module imports
neither nats-py nor the server module.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterable
from typing import Any

from naq.testing._redact import redact_url
from naq.testing.errors import NatsServerError

__all__ = [
    "DEFAULT_RECONNECT_TIMEOUT",
    "track_client",
    "tracked_clients",
    "wait_clients_of",
    "wait_reconnected",
]

DEFAULT_RECONNECT_TIMEOUT = 30.0
_POLL = 0.02

# server (any object, compared by identity) -> the clients the toolkit made for it
_CLIENTS: weakref.WeakKeyDictionary[Any, weakref.WeakSet[Any]] = weakref.WeakKeyDictionary()


def track_client(server: Any, client: Any) -> None:
    """Remember that ``client`` was made for ``server``: its async fault injection waits for it."""
    _CLIENTS.setdefault(server, weakref.WeakSet()).add(client)


def tracked_clients(servers: Iterable[Any]) -> list[Any]:
    """The open clients tracked for any of ``servers`` (each once)."""
    seen: dict[int, Any] = {}
    for server in servers:
        for client in list(_CLIENTS.get(server, ())):
            if not client.is_closed:
                seen.setdefault(id(client), client)
    return list(seen.values())


def _describe(nc: Any) -> str:
    """``client 'name' (nats://127.0.0.1:4222)``, credentials removed."""
    name = (getattr(nc, "options", None) or {}).get("name")
    urls = []
    for server in getattr(nc, "servers", ()):
        url = server.geturl() if hasattr(server, "geturl") else str(server)
        urls.append(redact_url(url))
    where = ", ".join(urls) or "?"
    return f"client {name!r} ({where})" if name else f"client ({where})"


async def _one_round_trip(nc: Any, deadline: float) -> bool:
    """One PING/PONG on the current connection; False (retry) if the client disconnects or
    reconnects meanwhile: nats-py drops the PONG waiters of a connection it replaces.

    The PING is not abandoned while its connection lives: nats-py 2.16 answers a late PONG by
    setting the result of the waiter it cancelled, which ends its read loop (the client then reads
    nothing until its ping interval finds the connection stale).
    """
    reconnects = nc.stats["reconnects"]
    ping = asyncio.ensure_future(nc.rtt(max(deadline - time.monotonic(), 0.01)))
    try:
        while not ping.done():
            if not nc.is_connected or nc.stats["reconnects"] != reconnects:
                return False
            await asyncio.wait({ping}, timeout=_POLL)
    finally:
        if not ping.done():
            ping.cancel()
            await asyncio.wait({ping})
    return not ping.cancelled() and ping.exception() is None


async def wait_reconnected(nc: Any, timeout: float = DEFAULT_RECONNECT_TIMEOUT) -> None:
    """Wait until ``nc`` (a nats-py client) has a working connection: two PING/PONG round trips in
    a row on the same connection.

    Call it after ``NatsServer.restart()``, ``restart(kill=True)``, ``resume()`` or a cluster
    heal, for a client the toolkit did not make (the ``a*`` variants of those calls wait for the
    toolkit's own clients). Raises ``NatsServerError`` when the client is closed (it gave up
    reconnecting, or ``allow_reconnect=False``) or after ``timeout`` seconds.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0; got {timeout!r}")
    deadline = time.monotonic() + timeout
    while True:
        if nc.is_closed:
            raise NatsServerError(
                f"{_describe(nc)} is closed, so it will not reconnect: it gave up (max_reconnect_attempts) "
                "or was made with allow_reconnect=False; connect a new client"
            )
        reconnects = nc.stats["reconnects"]
        if (
            nc.is_connected
            and await _one_round_trip(nc, deadline)
            and await _one_round_trip(nc, deadline)
            and nc.stats["reconnects"] == reconnects
        ):
            return
        if time.monotonic() >= deadline:
            raise NatsServerError(
                f"{_describe(nc)} did not get a working connection within {timeout:g}s "
                f"(connected={nc.is_connected}, reconnecting={nc.is_reconnecting}); is the server "
                "running and not paused? A flush() or rtt() that timed out on a frozen server stops "
                "nats-py 2.16 from reading once the late PONG arrives, until its ping_interval finds the "
                "connection stale: give such clients a short ping_interval (the toolkit's use 2s)"
            )
        await asyncio.sleep(_POLL)


async def wait_clients_of(servers: Iterable[Any], timeout: float = DEFAULT_RECONNECT_TIMEOUT) -> None:
    """``wait_reconnected`` for every open client tracked for ``servers``, concurrently."""
    clients = tracked_clients(servers)
    if clients:
        await asyncio.gather(*(wait_reconnected(client, timeout) for client in clients))
