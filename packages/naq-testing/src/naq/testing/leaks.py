"""Connection leak detection through nats-server's ``/connz``.

``LeakCheck.snapshot()`` records the client connections open on every running server of this
process (``live_servers()``); ``await LeakCheck.check()`` waits (bounded) for the connections
opened since then to go away and returns those still open. The ``nats_leak_check`` fixture turns
a non-empty result into ``NatsLeakError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from naq.testing.errors import NatsLeakError, NatsServerError
from naq.testing.server import NatsServer, live_servers

__all__ = ["LeakCheck", "LeakedConnection", "format_leaks"]


@dataclass(frozen=True)
class LeakedConnection:
    """One client connection still open at teardown.

    ``address``: the client's ``ip:port`` as the server sees it; ``server``: how the server is
    described in the report (its name, or its URL).
    """

    server_url: str
    cid: int
    name: str | None
    lang: str | None
    subscriptions: int
    address: str | None = None
    server: str | None = None

    def __str__(self) -> str:
        name = f" name={self.name!r}" if self.name else ""
        lang = f" lang={self.lang}" if self.lang else ""
        address = f" from {self.address}" if self.address else ""
        server = f" ({self.server})" if self.server and self.server != self.server_url else ""
        return (
            f"client cid={self.cid}{name}{lang}{address} subscriptions={self.subscriptions}, "
            f"on server {self.server_url}{server}"
        )


def _checkable(server: NatsServer) -> bool:
    if not server.running or server.paused:
        return False
    try:
        server.monitor_url  # noqa: B018 - raises when an external server has no monitoring
    except NatsServerError:
        return False
    return True


def _open_connections(server: NatsServer) -> dict[int, dict[str, Any]]:
    connz = server.connz(limit=100_000, timeout=2.0)
    return {int(conn["cid"]): conn for conn in connz.get("connections") or []}


class LeakCheck:
    """Baseline-and-compare of open connections across this process's servers."""

    def __init__(self, servers: Callable[[], list[NatsServer]] = live_servers, timeout: float = 2.0) -> None:
        self._servers = servers
        self.timeout = timeout
        self.baseline: dict[int, set[int]] = {}

    def snapshot(self) -> None:
        """Remember which connections are open right now (they are not this test's)."""
        self.baseline = {
            id(server): set(_open_connections(server)) for server in self._servers() if _checkable(server)
        }

    def new_connections(self) -> list[LeakedConnection]:
        """Connections open now that were not open at ``snapshot()``."""
        leaks: list[LeakedConnection] = []
        for server in self._servers():
            if not _checkable(server):
                continue
            known = self.baseline.get(id(server), set())
            for cid, conn in sorted(_open_connections(server).items()):
                if cid not in known:
                    address = f"{conn['ip']}:{conn['port']}" if conn.get("ip") and conn.get("port") else None
                    leaks.append(
                        LeakedConnection(
                            server_url=server.url,
                            cid=cid,
                            name=conn.get("name") or None,
                            lang=conn.get("lang") or None,
                            subscriptions=int(conn.get("subscriptions") or 0),
                            address=address,
                            server=server.name or server.url,
                        )
                    )
        return leaks

    async def check(self) -> list[LeakedConnection]:
        """Wait up to ``timeout`` for new connections to close (the server sees a close a little
        after the client does); return the ones still open."""
        deadline = time.monotonic() + self.timeout
        while True:
            leaks = self.new_connections()
            if not leaks or time.monotonic() >= deadline:
                return leaks
            await asyncio.sleep(0.05)

    async def assert_no_leaks(self, test_name: str = "the test") -> None:
        """Raise ``NatsLeakError`` listing the connections ``test_name`` left open."""
        __tracebackhide__ = True
        leaks = await self.check()
        if leaks:
            raise NatsLeakError(format_leaks(leaks, test_name))


def format_leaks(leaks: list[LeakedConnection], test_name: str) -> str:
    lines = "\n".join(f"  - {leak}" for leak in leaks)
    return (
        f"{test_name} left {len(leaks)} NATS connection(s) open:\n{lines}\n"
        "Close every client the test (or a fixture of yours) opens before it ends: "
        "await nc.close() or await nc.drain(), or make it with nats_client / nats_client_factory, "
        "which close theirs. The cid and address match the server's /connz entry."
    )
