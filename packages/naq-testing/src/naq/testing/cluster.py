"""``NatsCluster``: a real nats-server cluster on loopback (routes between every node, JetStream
replicated), for tests of node loss and failover. Synchronous, usable outside pytest."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from naq.testing._ports import free_port
from naq.testing.errors import NatsServerError
from naq.testing.reconnect import DEFAULT_RECONNECT_TIMEOUT, wait_clients_of
from naq.testing.server import NatsServer, _PortInUse

__all__ = ["NatsCluster"]

_ATTEMPTS = 3


class NatsCluster:
    """``with NatsCluster(size=3) as cluster: nats.connect(servers=cluster.urls)``.

    ``servers[i]`` are ordinary ``NatsServer`` objects (kill / restart / pause one node);
    ``kill(i)`` / ``restart(i)`` are shortcuts and ``server_for(client)`` finds the node a nats-py
    client is connected to. ``start()`` returns once every node is healthy and, with JetStream,
    once a meta leader is elected.
    """

    def __init__(
        self,
        size: int = 3,
        jetstream: bool = True,
        *,
        name: str | None = None,
        args: Sequence[str] = (),
        binary: str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an int >= 1; got {size!r}")
        if size == 1 and jetstream:
            raise ValueError(
                "a one-node JetStream cluster cannot start (nats-server needs routes for clustered "
                "JetStream): use size >= 2, jetstream=False, or a plain NatsServer"
            )
        self.size = size
        self.jetstream = jetstream
        self.name = name or f"naq-{uuid.uuid4().hex[:8]}"
        self.args = tuple(args)
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.servers: list[NatsServer] = []

    # -- addresses -------------------------------------------------------------------------------
    @property
    def urls(self) -> list[str]:
        """Client URLs of every node, in node order."""
        return [server.url for server in self.servers]

    def connect_options(self) -> dict[str, Any]:
        """``nats.connect(**cluster.connect_options())`` connects to any node and fails over."""
        return {"servers": self.urls}

    def __repr__(self) -> str:
        return f"<NatsCluster {self.name} size={self.size} running={sum(s.running for s in self.servers)}>"

    def __len__(self) -> int:
        return len(self.servers)

    def __getitem__(self, index: int) -> NatsServer:
        return self.servers[index]

    def server_for(self, client_or_url: Any) -> NatsServer:
        """The node a nats-py client (its ``connected_url``) or a URL points at."""
        url = getattr(client_or_url, "connected_url", client_or_url)
        port = url.port if hasattr(url, "port") else urlsplit(str(url)).port
        for server in self.servers:
            if server.port == port:
                return server
        raise NatsServerError(f"no node of {self!r} listens on port {port}")

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _build(self) -> None:
        cluster_ports = [free_port() for _ in range(self.size)]
        routes = [f"nats://127.0.0.1:{port}" for port in cluster_ports]
        self.servers = [
            NatsServer(
                jetstream=self.jetstream,
                args=self.args,
                name=f"{self.name}-n{index}",
                binary=self.binary,
                startup_timeout=self.startup_timeout,
                stop_timeout=self.stop_timeout,
                cluster_name=self.name,
                cluster_port=cluster_ports[index],
                routes=[route for i, route in enumerate(routes) if i != index],
            )
            for index in range(self.size)
        ]

    def start(self) -> NatsCluster:
        """Start every node, wait until all are healthy (and a JetStream meta leader exists)."""
        if any(server.running for server in self.servers):
            raise NatsServerError(f"{self!r} is already running")
        for attempt in range(1, _ATTEMPTS + 1):
            self._build()
            try:
                for server in self.servers:
                    server.start(wait=False)
                for server in self.servers:
                    server.wait_ready()
                if self.jetstream:
                    self.wait_for_meta_leader()
                return self
            except _PortInUse:
                self.stop()
                if attempt == _ATTEMPTS:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop every node (bounded), remove their stores. Idempotent."""
        for server in self.servers:
            server.stop()

    def kill(self, index: int) -> NatsServer:
        """SIGKILL node ``index`` (its store is kept for ``restart(index)``)."""
        server = self.servers[index]
        server.kill()
        return server

    def restart(self, index: int) -> NatsServer:
        """Restart node ``index`` on its ports with its store and wait until it is healthy."""
        return self.servers[index].restart()

    def heal(self) -> None:
        """Resume paused nodes and restart stopped or killed ones (between tests sharing a cluster)."""
        for server in self.servers:  # all paused nodes first: a restarting node may need their votes
            if server.paused:
                server.resume()
        dead = [server for server in self.servers if not server.running]
        for server in dead:
            if server.log_path is None:  # stop()ped: its store is gone, start it afresh
                server.start(wait=False)
            else:  # killed or exited: same ports, same store
                server.restart(wait=False)
        for server in dead:
            server.wait_ready()

    async def arestart(self, index: int, *, timeout: float = DEFAULT_RECONNECT_TIMEOUT) -> NatsServer:
        """``restart(index)``, then wait until the toolkit's clients of that node work again."""
        return await self.servers[index].arestart(timeout=timeout)

    async def aheal(self, *, timeout: float = DEFAULT_RECONNECT_TIMEOUT) -> None:
        """``heal()`` (in a worker thread), then wait until every client the toolkit made for any
        node has a working connection again."""
        await asyncio.to_thread(self.heal)
        await wait_clients_of(self.servers, timeout)

    # -- JetStream -------------------------------------------------------------------------------
    def meta_leader(self) -> str | None:
        """Name of the JetStream meta leader as seen by a running node, or None if there is none."""
        for server in self.servers:
            if not server.running or server.paused:
                continue
            try:
                meta = server.jsz(timeout=1.0).get("meta_cluster") or {}
            except NatsServerError:
                continue
            leader = meta.get("leader")
            if leader:
                return str(leader)
        return None

    def wait_for_meta_leader(self, timeout: float | None = None) -> str:
        """Block until a JetStream meta leader is elected (bounded); return its server name."""
        timeout = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            leader = self.meta_leader()
            if leader:
                return leader
            if time.monotonic() >= deadline:
                raise NatsServerError(f"no JetStream meta leader in {self!r} after {timeout:g}s")
            time.sleep(0.1)

    def leader_server(self) -> NatsServer:
        """The node that is the JetStream meta leader."""
        leader = self.wait_for_meta_leader()
        for server in self.servers:
            if server.name == leader:
                return server
        raise NatsServerError(f"meta leader {leader!r} is not a node of {self!r}")  # pragma: no cover
