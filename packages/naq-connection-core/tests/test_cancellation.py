"""A cancel always takes effect, leaves nothing open, and a cancelled waiter never cancels the others.

Runs on every Python of the matrix: on 3.10 and 3.11, nats-py's own ``asyncio.wait_for`` can drop a
cancellation that arrives as its inner wait finishes (measured: about one cancel in four of a raw
``nats.connect()``); the layer must not pass that through.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable

import pytest

from naq.connection import ConnectionPool, nats_connection, nats_kv_store
from naq.testing import NatsServer

pytestmark = pytest.mark.integration

FOREVER = 3600.0


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


async def _settle(server: NatsServer, tasks_before: int, fds_before: int) -> tuple[int, int, int]:
    """Wait (bounded) for abandoned attempts and closes to finish; then what is still open."""
    for _ in range(200):
        clients = server.client_count()
        tasks = len(asyncio.all_tasks())
        fds = _open_fds()
        if clients == 0 and tasks <= tasks_before and fds <= fds_before:
            break
        await asyncio.sleep(0.05)
    return server.client_count(), len(asyncio.all_tasks()), _open_fds()


async def _cancel_and_check(task: asyncio.Task[None]) -> bool:
    """Cancel ``task``; True when the cancel took effect (it ended cancelled within 5 s)."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    if not done:  # the cancel was lost: the body sleeps for an hour
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        return False
    return task.cancelled()


async def test_a_thousand_cancels_at_spread_out_points_all_take_effect(nats_server: NatsServer) -> None:
    url = nats_server.url
    async with nats_kv_store("cancel-bucket", url, create=True):
        pass
    await asyncio.sleep(0.1)
    tasks_before = len(asyncio.all_tasks())
    fds_before = _open_fds()
    rng = random.Random(1234)  # reproducible spread of cancel points

    async def connection_body() -> None:
        async with nats_connection(url):
            await asyncio.sleep(FOREVER)

    async def bucket_body() -> None:
        async with nats_kv_store("cancel-bucket", url):
            await asyncio.sleep(FOREVER)

    scenarios: list[Callable[[], Awaitable[None]]] = [connection_body, bucket_body]
    lost = 0
    for i in range(600):
        task = asyncio.ensure_future(scenarios[i % len(scenarios)]())
        await asyncio.sleep(rng.uniform(0, 0.004))  # before, during or after the connect / bind
        if not await _cancel_and_check(task):
            lost += 1

    # pooled: borrowers share one connect and one bucket lookup; cancel some of them while they wait
    for _ in range(50):
        async with ConnectionPool(url) as pool:

            async def borrow_connection(pool: ConnectionPool = pool) -> None:
                async with pool.connection():
                    await asyncio.sleep(FOREVER)

            async def borrow_bucket(pool: ConnectionPool = pool) -> None:
                async with pool.kv_store("cancel-bucket"):
                    await asyncio.sleep(FOREVER)

            group = [
                asyncio.ensure_future(borrow_connection() if n % 2 else borrow_bucket()) for n in range(8)
            ]
            await asyncio.sleep(rng.uniform(0, 0.003))
            victims, survivors = group[:4], group[4:]
            for task in victims:
                if not await _cancel_and_check(task):
                    lost += 1
            # the others were not cancelled with them: they are still running (or got their borrow)
            await asyncio.sleep(0.05)
            assert not any(task.done() for task in survivors), [
                task.exception() for task in survivors if task.done() and not task.cancelled()
            ]
            for task in survivors:
                if not await _cancel_and_check(task):
                    lost += 1

    assert lost == 0, f"{lost} of 1000 cancels were lost"
    clients, tasks, fds = await _settle(nats_server, tasks_before, fds_before)
    assert clients == 0, f"{clients} connection(s) left open on the server"
    assert tasks <= tasks_before, f"{tasks - tasks_before} task(s) left running"
    assert fds <= fds_before, f"{fds - fds_before} file descriptor(s) left open"


async def test_a_cancelled_connect_raises_cancelled_error_not_a_connection_error(
    blackhole_url: str,
) -> None:
    """Cancelling while nats-py waits for a server that never answers: CancelledError, at once."""

    async def connect() -> None:
        async with nats_connection(blackhole_url):
            pass

    task = asyncio.ensure_future(connect())
    await asyncio.sleep(0.2)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done, "the cancel did not end the connect"
    assert task.cancelled()
