"""Area 5 -- a frozen server (SIGSTOP): unhealthy within ping_interval * max_outstanding_pings, no hangs.

The server process is stopped with SIGSTOP: TCP stays open (the kernel still accepts connections)
but nothing answers. Health checks must report unhealthy, an established connection must notice the
stale server within ``ping_interval * max_outstanding_pings`` (+ one interval, + slack), and every
operation must fail with its own timeout error -- each is wrapped in a much longer
``asyncio.wait_for`` and we assert that the outer bound was never what stopped it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import nats
import pytest
from naq_e2e_state import inspector
from naq_e2e_support import assert_no_clients, unique

from naq.connection import ConnectionPool, NaqConnectionError, NatsConfig, nats_connection
from naq.connection import events as naq_events
from naq.connection import utils as health  # health checks: health.test_nats_connection(...)
from naq.connection.events import ConnectionEvent, ConnectionEventKind
from naq.connection.utils import (
    ConnectionMonitor,
    enable_connection_monitoring,
    wait_for_nats_connection,
)
from naq.testing import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PING_INTERVAL = 0.2
MAX_PINGS = 2
CONNECT_TIMEOUT = 0.5
OUTER = 10.0  # the "hang" bound: nothing below may need it
SLACK = 1.5


@pytest.fixture
def server() -> Iterator[NatsServer]:
    srv = NatsServer(jetstream=True)
    srv.start()
    try:
        yield srv
    finally:
        if srv.paused:
            srv.resume()
        srv.stop()


def _cfg(url: str) -> NatsConfig:
    return NatsConfig(
        servers=url,
        ping_interval=PING_INTERVAL,
        max_outstanding_pings=MAX_PINGS,
        connection_timeout=CONNECT_TIMEOUT,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.1,
        drain_timeout=1.0,
        flush_timeout=0.5,
    )


async def _bounded(coro: Any, limit: float) -> tuple[Any, float, BaseException | None]:
    """Run ``coro`` inside wait_for(OUTER); return (result, elapsed, exception) and check the bound."""
    start = time.monotonic()
    try:
        result = await asyncio.wait_for(coro, OUTER)
        exc: BaseException | None = None
    except Exception as e:
        result, exc = None, e
    elapsed = time.monotonic() - start
    assert elapsed < limit, f"took {elapsed:.2f}s (limit {limit:.2f}s): a hang, not a timeout ({exc!r})"
    assert elapsed < OUTER - 0.5, "only the outer wait_for stopped it: the operation hung"
    return result, elapsed, exc


async def test_frozen_server_is_reported_unhealthy_and_nothing_hangs(server: NatsServer) -> None:
    cfg = _cfg(server.url)
    stream = unique("FROZEN")
    async with inspector(server.url) as nc:
        await nc.jetstream().add_stream(name=stream, subjects=[stream.lower()])

    seen: list[tuple[float, ConnectionEvent]] = []
    remove = naq_events.add_listener(lambda e: seen.append((time.monotonic(), e)))
    monitor = ConnectionMonitor()
    enable_connection_monitoring(monitor=monitor)

    assert await health.test_nats_connection(cfg, timeout=1.0) is True
    assert await health.test_jetstream_connection(cfg) is True

    async with ConnectionPool(cfg) as pool:
        async with pool.jetstream() as js:
            await js.publish(stream.lower(), b"before")
        async with pool.connection() as pooled:
            assert pooled.is_connected

        server.pause()
        frozen_at = time.monotonic()
        try:
            # 1. the established connection notices the stale server
            stale_bound = PING_INTERVAL * (MAX_PINGS + 1) + SLACK
            deadline = frozen_at + stale_bound
            while pooled.is_connected and time.monotonic() < deadline:  # noqa: ASYNC110 - nats-py state
                await asyncio.sleep(0.02)
            assert not pooled.is_connected, f"still 'connected' {stale_bound:.1f}s after the server froze"
            disconnects = [
                t for t, e in seen if e.kind is ConnectionEventKind.DISCONNECTED and t >= frozen_at
            ]
            assert disconnects, "no DISCONNECTED event for the stale connection"
            assert disconnects[0] - frozen_at <= stale_bound

            # 2. health checks say unhealthy, each within its own timeout
            healthy, _elapsed, exc = await _bounded(
                health.test_nats_connection(cfg, timeout=0.5), 0.5 + CONNECT_TIMEOUT + SLACK
            )
            assert exc is None
            assert healthy is False
            ok, _, exc = await _bounded(
                wait_for_nats_connection(cfg, timeout=1.0, interval=0.2), 1.0 + CONNECT_TIMEOUT + SLACK
            )
            assert exc is None
            assert ok is False

            # 3. operations fail with a typed timeout, not a hang
            async def new_connection() -> None:
                async with nats_connection(cfg):
                    pass

            _, _, exc = await _bounded(new_connection(), CONNECT_TIMEOUT + 1.0 + SLACK)
            assert isinstance(exc, NaqConnectionError), repr(exc)

            async def js_publish() -> Any:
                async with pool.jetstream() as js:
                    return await js.publish(stream.lower(), b"frozen", timeout=0.5)

            _, _, exc = await _bounded(js_publish(), 0.5 + SLACK)
            assert isinstance(exc, (nats.errors.TimeoutError, NaqConnectionError)), repr(exc)

            async def request() -> Any:
                async with pool.connection() as nc:
                    return await nc.request(unique("frozen.req"), b"?", timeout=0.5)

            _, _, exc = await _bounded(request(), 0.5 + SLACK)
            assert isinstance(exc, (nats.errors.TimeoutError, NaqConnectionError)), repr(exc)
        finally:
            server.resume()

        # 4. after SIGCONT the pooled connection comes back by itself and the data is intact
        deadline = time.monotonic() + 10
        while not pooled.is_connected and time.monotonic() < deadline:  # noqa: ASYNC110 - nats-py state
            await asyncio.sleep(0.05)
        assert pooled.is_connected
        async with pool.jetstream() as js:
            ack = await js.publish(stream.lower(), b"after", timeout=2)
        assert ack.stream == stream
        assert await health.test_nats_connection(cfg, timeout=2.0) is True

    remove()
    metrics = monitor.get_metrics()
    assert metrics.disconnects >= 1
    assert metrics.reconnects >= 1
    assert metrics.failed_connections >= 1  # the connect attempts made while frozen
    assert metrics.active_connections == 0
    await assert_no_clients(server)
