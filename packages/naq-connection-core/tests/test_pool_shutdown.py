"""Pools close cleanly: with requests in flight, and when their event loop ends without an explicit close."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from naq.connection import (
    ConnectionPool,
    NaqConnectionError,
    NatsConfig,
    get_default_pool,
    is_transient,
    nats_connection,
)
from naq.testing import NatsServer

pytestmark = pytest.mark.integration


async def _until_no_clients(server: NatsServer) -> int:
    for _ in range(100):
        if server.client_count() == 0:
            break
        await asyncio.sleep(0.05)
    return server.client_count()


async def test_close_lets_fifty_in_flight_jetstream_publishes_finish(nats_server: NatsServer) -> None:
    pool = ConnectionPool(nats_server.url)
    async with pool.jetstream() as js:
        await js.add_stream(name="SHUTDOWN", subjects=["shutdown.>"])

    async def publish(i: int) -> int:
        async with pool.jetstream() as js:
            ack = await js.publish(f"shutdown.{i}", b"x")
            return int(ack.seq)

    tasks = [asyncio.ensure_future(publish(i)) for i in range(50)]
    await asyncio.sleep(0)  # every publish has borrowed and sent its request
    started = time.monotonic()
    await pool.close()
    closed_after = time.monotonic() - started
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sorted(results) == list(range(1, 51))  # 50 acks, each message stored once
    assert closed_after < 4  # they finished well within the close's bound (flush_timeout: 5 s)
    assert await _until_no_clients(nats_server) == 0


async def test_a_closed_pool_raises_a_non_transient_error(nats_server: NatsServer) -> None:
    pool = ConnectionPool(nats_server.url)
    async with pool.connection():
        pass
    await pool.close()
    with pytest.raises(NaqConnectionError, match="is closed") as info:
        async with pool.connection():
            pass
    assert not is_transient(info.value)  # retry decorators stop instead of retrying into it


async def test_close_waits_no_longer_than_flush_timeout_for_a_borrow_that_never_ends(
    nats_server: NatsServer,
) -> None:
    pool = ConnectionPool(NatsConfig(servers=nats_server.url, flush_timeout=0.3))
    entered = asyncio.Event()

    async def hold() -> None:
        async with pool.connection():
            entered.set()
            await asyncio.sleep(3600)

    holder = asyncio.ensure_future(hold())
    await entered.wait()
    started = time.monotonic()
    await pool.close()
    assert time.monotonic() - started < 3
    holder.cancel()
    await asyncio.wait({holder})
    assert await _until_no_clients(nats_server) == 0


def test_default_pools_close_with_their_loop_on_asyncio_run(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    """naq's sync helpers run ``asyncio.run`` per call: each run's pool closes with it, quietly."""
    config = NatsConfig(servers=nats_server.url, reuse_connections=True)

    async def call() -> None:
        async with nats_connection(config) as nc:
            await nc.publish("sync.helper", b"x")

    with caplog.at_level(logging.DEBUG, logger="naq.connection"):
        for _ in range(20):
            asyncio.run(call())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    for _ in range(100):
        if nats_server.client_count() == 0:
            break
        time.sleep(0.05)
    assert nats_server.client_count() == 0


def test_a_pool_left_open_is_closed_when_its_thread_loop_ends(nats_server: NatsServer) -> None:
    pools: list[ConnectionPool] = []

    async def work() -> None:
        pool = ConnectionPool(nats_server.url)
        pools.append(pool)
        async with pool.connection() as nc:
            await nc.flush()
        default = get_default_pool(NatsConfig(servers=nats_server.url))
        async with default.connection() as nc:
            await nc.flush()
        pools.append(default)

    thread = threading.Thread(target=asyncio.run, args=(work(),))
    thread.start()
    thread.join(30)
    assert all(pool.closed for pool in pools)
    for _ in range(100):
        if nats_server.client_count() == 0:
            break
        time.sleep(0.05)
    assert nats_server.client_count() == 0
