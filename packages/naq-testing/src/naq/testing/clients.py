"""``NatsClientFactory``: nats-py clients for tests, connected with bounded waits, closed at teardown.

``nats.connect`` is looked up at call time, so a patched ``nats.connect`` (``fake_nats``) is used.
Defaults suit tests: a short reconnect wait so restart/pause tests are quick, quiet callbacks
(nats-py's default error callback prints a traceback per failed reconnect attempt).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import nats

from naq.testing._redact import redact_url
from naq.testing.reconnect import track_client
from naq.testing.server import NatsServer, live_servers

__all__ = ["DEFAULT_CONNECT_OPTIONS", "NatsClientFactory"]

logger = logging.getLogger("naq.testing")

DEFAULT_CONNECT_OPTIONS: dict[str, Any] = {
    "name": "naq-testing",
    "connect_timeout": 2,
    "reconnect_time_wait": 0.25,
    "max_reconnect_attempts": 120,
    "allow_reconnect": True,
    # A dead read loop (nats-py 2.16 ends it when a PONG arrives for a flush/rtt that timed out,
    # e.g. on a paused server) is found stale and replaced within seconds instead of minutes.
    "ping_interval": 2,
    "max_outstanding_pings": 2,
}


async def _quiet_error(exc: Exception) -> None:
    logger.debug("naq-testing client error: %s", exc)


async def _quiet_event() -> None:
    return None


class NatsClientFactory:
    """``await factory(server_or_url=None, **nats_connect_options) -> nats client``.

    ``server_or_url``: a ``NatsServer`` (its URL, auth and TLS are used), a URL string, or None for
    the default server (the session ``nats_server``). Every client made is closed by ``aclose()``.
    """

    def __init__(
        self,
        default_server: Callable[[], NatsServer | str] | None = None,
        *,
        timeout: float = 5.0,
        close_timeout: float = 5.0,
    ) -> None:
        self._default_server = default_server
        self.timeout = timeout
        self.close_timeout = close_timeout
        self.clients: list[Any] = []

    def _target(self, server: NatsServer | str | None) -> NatsServer | str:
        if server is not None:
            return server
        if self._default_server is None:
            raise ValueError("no default server: pass a NatsServer or a URL")
        return self._default_server()

    def _options(self, target: NatsServer | str, overrides: dict[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = dict(DEFAULT_CONNECT_OPTIONS)
        options.update(error_cb=_quiet_error, disconnected_cb=_quiet_event, reconnected_cb=_quiet_event)
        if isinstance(target, NatsServer):
            options.update(target.connect_options())
        else:
            options["servers"] = [target]
        options.update(overrides)
        return options

    async def __call__(self, server: NatsServer | str | None = None, **options: Any) -> Any:
        """Connect (bounded by ``timeout``) and remember the client for ``aclose()``."""
        target = self._target(server)
        connect_options = self._options(target, options)
        try:
            client = await asyncio.wait_for(nats.connect(**connect_options), self.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"naq-testing: no connection to {redact_url(str(connect_options['servers']))} "
                f"within {self.timeout:g}s; is the server running and reachable?"
            ) from None
        self.clients.append(client)
        _track(client, target if isinstance(target, NatsServer) else None, connect_options["servers"])
        return client

    async def aclose(self) -> None:
        """Close every client still open (each bounded by ``close_timeout``); never raises."""
        clients, self.clients = self.clients, []
        for client in reversed(clients):
            if not client.is_closed:
                await _close_quietly(client, self.close_timeout)


def _track(client: Any, target: NatsServer | None, servers: Any) -> None:
    """Register the client with its target and with every running server it may connect to, so
    ``arestart()`` / ``aresume()`` / ``aheal()`` of any of them wait for it."""
    urls = {servers} if isinstance(servers, str) else {str(url) for url in servers}
    for server in live_servers():
        if server is target or server.url in urls:
            track_client(server, client)
    if target is not None:
        track_client(target, client)


async def _close_quietly(client: Any, timeout: float) -> None:
    """``await client.close()`` bounded by ``timeout``; failures are logged, never raised.

    ``close()`` runs in a task of its own so that a ``CancelledError`` nats-py raises *inside* it
    is not mistaken for a cancellation of the caller. nats-py 2.16 raises one when the client is
    closed while its reconnect task awaits the closing socket (the server just went away, e.g. a
    test stopped it before its clients): ``close()`` cancels that task, which cancels the socket's
    shared close-waiter future, and ``close()`` then awaits the same, now cancelled, future. The
    client is closed by then (status, socket and tasks), only its close callbacks are skipped.
    A real cancellation of the caller still propagates (and cancels the close).
    """
    closer = asyncio.ensure_future(client.close())
    try:
        done, _ = await asyncio.wait({closer}, timeout=timeout)
    except asyncio.CancelledError:
        closer.cancel()
        raise
    if not done:
        closer.cancel()
        await asyncio.wait({closer}, timeout=1.0)
        logger.warning("naq-testing: closing a test client took more than %gs; abandoned", timeout)
    elif closer.cancelled():
        logger.debug("naq-testing: nats-py cancelled its own close() (closed while reconnecting)")
    elif closer.exception() is not None:
        logger.warning("naq-testing: closing a test client failed: %s", closer.exception())
