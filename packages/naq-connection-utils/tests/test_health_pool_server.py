"""Health checks on what the application already has (a pool, a held client), against a real server:
nothing new is opened, and a reconnecting connection is reported unhealthy within the timeout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats
import pytest

from naq.connection import utils
from naq.connection.pool import ConnectionPool

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("nats_leak_check")]


def connections_ever(server: Any) -> int:
    """How many client connections the server has accepted since it started (``/varz``)."""
    return int(server.varz()["total_connections"])


async def test_1000_pooled_readiness_checks_open_no_new_connection(nats_server: Any) -> None:
    async with ConnectionPool(nats_server.url) as pool:
        assert await utils.test_nats_connection(pool, timeout=5) is True  # the pool's one connection
        before = await asyncio.to_thread(connections_ever, nats_server)
        results = [await utils.test_nats_connection(pool, timeout=5) for _ in range(1000)]
        assert await utils.test_jetstream_connection(pool, timeout=5) is True
        info = await utils.get_nats_server_info(pool, timeout=5)
        after = await asyncio.to_thread(connections_ever, nats_server)
    assert all(results)
    assert info["jetstream"] is True
    assert info["version"]
    assert after == before  # zero new server connections


async def test_a_held_client_is_checked_without_a_new_connection(nats_server: Any) -> None:
    client = await nats.connect(nats_server.url)
    try:
        before = await asyncio.to_thread(connections_ever, nats_server)
        assert await utils.test_nats_connection(client, timeout=5) is True
        assert (await utils.get_nats_server_info(client))["server_id"]
        after = await asyncio.to_thread(connections_ever, nats_server)
        assert client.is_connected  # used, not closed
    finally:
        await client.close()
    assert after == before


async def test_false_within_the_timeout_while_the_pooled_connection_reconnects(
    nats_server_factory: Any,
) -> None:
    server = nats_server_factory(jetstream=False)
    async with ConnectionPool(server.url) as pool:
        async with pool.connection() as nc:
            assert await utils.test_nats_connection(pool, timeout=5) is True
            await asyncio.to_thread(server.kill)
            for _ in range(500):  # up to ~10 s on a busy machine
                if nc.is_reconnecting:
                    break
                await asyncio.sleep(0.02)
            assert nc.is_reconnecting
        started = time.monotonic()
        assert await utils.test_nats_connection(pool, timeout=1.0) is False
        assert time.monotonic() - started < 1.0 + 2.0  # generous: "does not hang"
        await asyncio.to_thread(server.restart)
