"""``@with_connection_monitoring`` on a pooled fast-path wrapper: fused into one compiled coroutine.

Each behaviour is checked on the fused wrapper and on the generic one (monitoring around a plain
``async def`` doing the same), so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from unittest.mock import ANY, AsyncMock, call

import pytest

import naq.connection.decorators as deco
from naq.connection import ConnectionPool
from naq.connection.decorators import with_connection_monitoring, with_nats_connection
from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.unit

CONN = object()
Build = Callable[..., Callable[..., Awaitable[Any]]]


@pytest.fixture
def live_pool() -> ConnectionPool:
    """A real ConnectionPool (the decorators take the compiled path) lending CONN; no server."""
    pool = ConnectionPool("nats://127.0.0.1:1")
    pool.acquire_nowait = lambda: CONN  # type: ignore[method-assign]
    return pool


def is_fused(fn: Any) -> bool:
    return "monitored pooled wrapper" in fn.__code__.co_filename


@pytest.fixture(params=["fused", "generic"])
def build(request: pytest.FixtureRequest, live_pool: ConnectionPool) -> Build:
    """``build(body, monitor=None)``: ``body(conn, *args)`` behind pooled injection and monitoring."""

    def make(body: Callable[..., Awaitable[Any]], monitor: Any = None) -> Callable[..., Awaitable[Any]]:
        if request.param == "fused":
            inner = with_nats_connection(pool=live_pool)(body)
        else:

            async def inner(*args: Any) -> Any:  # what the pooled wrapper does, uncompiled
                return await body(CONN, *args)

        wrapped = with_connection_monitoring(monitor=monitor)(inner)
        assert is_fused(wrapped) is (request.param == "fused")
        return wrapped

    return make


async def test_success_is_counted_with_its_duration(build: Build, counts: Any) -> None:
    monitor = ConnectionMonitor()
    seen: list[tuple[Any, int, int]] = []

    async def body(conn: Any, x: int) -> int:
        seen.append((conn, x, monitor.get_metrics().active_connections))
        await asyncio.sleep(0.01)
        return x * 2

    work = build(body, monitor)
    assert await work(21) == 42
    assert seen == [(CONN, 21, 1)]
    assert counts(monitor) == (1, 0, 1, 0)
    assert monitor.get_metrics().total_connection_time >= 0.01


async def test_failure_is_counted_closed_out_and_the_same_error_reraised(build: Build, counts: Any) -> None:
    monitor = ConnectionMonitor()
    error = ConnectionResetError("reset")

    async def body(conn: Any) -> None:
        raise error

    with pytest.raises(ConnectionResetError) as info:
        await build(body, monitor)()
    assert info.value is error
    assert counts(monitor) == (1, 0, 0, 1)


async def test_cancellation_is_closed_out_but_neither_success_nor_failure(build: Build, counts: Any) -> None:
    monitor = ConnectionMonitor()
    started = asyncio.Event()

    async def body(conn: Any) -> None:
        started.set()
        await asyncio.sleep(30)

    task = asyncio.ensure_future(build(body, monitor)())
    await started.wait()
    assert counts(monitor) == (1, 1, 0, 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counts(monitor) == (1, 0, 0, 0)


async def test_default_monitor_is_looked_up_per_call(
    build: Build, counts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(conn: Any) -> str:
        return "done"

    work = build(body)
    first, second = ConnectionMonitor(), ConnectionMonitor()
    monkeypatch.setattr(deco, "connection_monitor", first)
    await work()
    monkeypatch.setattr(deco, "connection_monitor", second)
    await work()
    await work()
    assert counts(first) == (1, 0, 1, 0)
    assert counts(second) == (2, 0, 2, 0)


async def test_other_monitors_get_the_async_records(build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monitor = AsyncMock(spec=ConnectionMonitor)  # not exactly ConnectionMonitor: the generic accounting
    monkeypatch.setattr(deco, "connection_monitor", monitor)

    async def body(conn: Any, x: int) -> tuple[Any, int]:
        return conn, x

    assert await build(body)(5) == (CONN, 5)
    assert monitor.mock_calls == [call.record_connection_start(), call.record_connection_end(ANY)]


async def test_a_patched_surface_is_honoured_inside_the_fused_wrapper(
    live_pool: ConnectionPool, counts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = ConnectionMonitor()
    patched_conn = object()

    @with_connection_monitoring(monitor=monitor)
    @with_nats_connection(pool=live_pool)
    async def work(conn: Any) -> Any:
        return conn

    assert is_fused(work)
    assert await work() is CONN

    @asynccontextmanager
    async def fake_nats_connection(*args: Any, **kwargs: Any) -> Any:
        yield patched_conn

    monkeypatch.setattr(deco, "nats_connection", fake_nats_connection)
    assert await work() is patched_conn
    assert counts(monitor) == (2, 0, 2, 0)


async def test_a_failed_borrow_counts_as_a_failure(live_pool: ConnectionPool, counts: Any) -> None:
    monitor = ConnectionMonitor()
    error = ConnectionRefusedError("no server")
    live_pool.acquire_nowait = lambda: None  # type: ignore[method-assign]

    async def acquire() -> Any:
        raise error

    live_pool.acquire = acquire  # type: ignore[method-assign]

    @with_connection_monitoring(monitor=monitor)
    @with_nats_connection(pool=live_pool)
    async def work(conn: Any) -> None:
        pytest.fail("body must not run")

    assert is_fused(work)
    with pytest.raises(ConnectionRefusedError):
        await work()
    assert counts(monitor) == (1, 0, 0, 1)


async def test_metadata_signature_and_methods(live_pool: ConnectionPool) -> None:
    monitor = ConnectionMonitor()

    class Publisher:
        @with_connection_monitoring(monitor=monitor)
        @with_nats_connection(pool=live_pool)
        async def send(self, conn: Any, subject: str, *, data: bytes = b"") -> tuple[Any, Any, str, bytes]:
            """Send it."""
            return self, conn, subject, data

    publisher = Publisher()
    assert is_fused(Publisher.send)
    assert Publisher.send.__name__ == "send"
    assert Publisher.send.__doc__ == "Send it."
    assert list(inspect.signature(Publisher.send).parameters) == ["self", "subject", "data"]
    assert await publisher.send("s", data=b"d") == (publisher, CONN, "s", b"d")
    assert monitor.get_metrics().successful_connections == 1


async def test_parameters_named_like_the_template_builtins_are_fine(live_pool: ConnectionPool) -> None:
    monitor = ConnectionMonitor()

    @with_connection_monitoring(monitor=monitor)
    @with_nats_connection(pool=live_pool)
    async def work(
        conn: Any, type: str, Exception: int = 0, perf_counter: float = 1.0
    ) -> tuple[str, int, float]:
        return type, Exception, perf_counter

    assert is_fused(work)
    assert await work("t", 2) == ("t", 2, 1.0)
    assert monitor.get_metrics().successful_connections == 1


async def test_monitoring_twice_counts_twice_and_fuses_only_the_inner_one(
    live_pool: ConnectionPool, counts: Any
) -> None:
    inner_monitor, outer_monitor = ConnectionMonitor(), ConnectionMonitor()

    @with_connection_monitoring(monitor=outer_monitor)
    @with_connection_monitoring(monitor=inner_monitor)
    @with_nats_connection(pool=live_pool)
    async def work(conn: Any) -> Any:
        return conn

    assert not is_fused(work)
    assert is_fused(work.__wrapped__)
    assert await work() is CONN
    assert counts(inner_monitor) == counts(outer_monitor) == (1, 0, 1, 0)
