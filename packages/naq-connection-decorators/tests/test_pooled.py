"""``pool=`` against a real nats-server: what a decorated call gets, forwards, counts and raises."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest

import naq.connection.decorators as deco
from naq.connection.config import NatsConfig
from naq.connection.decorators import (
    with_connection_monitoring,
    with_jetstream_context,
    with_kv_store,
    with_nats_connection,
)
from naq.connection.errors import NaqBucketNotFoundError, NaqConnectionError
from naq.connection.pool import ConnectionPool
from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.integration


@pytest.fixture
async def live_pool(nats_url: str) -> AsyncIterator[ConnectionPool]:
    async with ConnectionPool(nats_url) as pool:
        yield pool


def spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Record every call of ``naq.connection.decorators.<name>`` while still calling core's function."""
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    real = getattr(deco, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(deco, name, recording)
    return calls


async def test_every_call_goes_through_the_surface_with_pool(
    live_pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch, nats_names: Any
) -> None:
    conn_calls = spy(monkeypatch, "nats_connection")
    js_calls = spy(monkeypatch, "nats_jetstream")
    kv_calls = spy(monkeypatch, "nats_kv_store")
    bucket = nats_names.bucket("pooled")

    @with_nats_connection(pool=live_pool)
    async def rtt(conn: Any) -> float:
        return float(await conn.rtt())

    @with_jetstream_context(pool=live_pool)
    async def info(js: Any) -> Any:
        return await js.account_info()

    @with_kv_store(bucket, pool=live_pool, create=True)
    async def put(kv: Any, key: str) -> int:
        return int(await kv.put(key, b"v"))

    assert await rtt() >= 0
    assert await rtt() >= 0
    assert (await info()).streams >= 0
    assert await put("a") == 1
    assert conn_calls == [((), {"pool": live_pool})] * 2
    assert js_calls == [((), {"pool": live_pool})]
    assert kv_calls == [((bucket,), {"pool": live_pool, "create": True})]
    assert live_pool.stats().connections_opened == 1


async def test_every_parameter_kind_is_forwarded(live_pool: ConnectionPool) -> None:
    @with_nats_connection(pool=live_pool)
    async def call(
        conn: Any, a: int, /, b: int, c: int = 3, *rest: int, d: int, e: int = 5, **more: int
    ) -> Any:
        assert conn.is_connected
        return a, b, c, rest, d, e, more

    assert await call(1, 2, d=4) == (1, 2, 3, (), 4, 5, {})
    assert await call(1, 2, 30, 40, 50, d=4, e=6, f=7) == (1, 2, 30, (40, 50), 4, 6, {"f": 7})
    with pytest.raises(TypeError):
        await call(1, 2)  # d is missing: the function's own TypeError


async def test_methods_classmethods_and_staticmethods(live_pool: ConnectionPool) -> None:
    class Service:
        @with_nats_connection(pool=live_pool)
        async def connected(self, conn: Any, tag: str) -> tuple[Any, bool, str]:
            return self, conn.is_connected, tag

        @classmethod
        @with_nats_connection(pool=live_pool)
        async def klass(cls, conn: Any) -> tuple[Any, bool]:
            return cls, conn.is_connected

        @with_nats_connection(pool=live_pool)
        @staticmethod
        async def static(conn: Any, tag: str) -> tuple[bool, str]:
            return conn.is_connected, tag

    service = Service()
    assert await service.connected("x") == (service, True, "x")
    assert await Service.klass() == (Service, True)
    assert await service.static("y") == (True, "y")


async def test_missing_bucket_through_a_pool(live_pool: ConnectionPool, nats_names: Any) -> None:
    @with_kv_store(nats_names.bucket("absent"), pool=live_pool)
    async def get(kv: Any) -> None:
        raise AssertionError("not reached")

    with pytest.raises(NaqBucketNotFoundError):
        await get()


async def test_monitoring_a_pooled_call(live_pool: ConnectionPool, counts: Any) -> None:
    monitor = ConnectionMonitor()
    started = asyncio.Event()

    @with_connection_monitoring(monitor=monitor)
    @with_nats_connection(pool=live_pool)
    async def work(conn: Any, outcome: str) -> str:
        await conn.flush()
        if outcome == "fail":
            raise KeyError(outcome)
        if outcome == "hang":
            started.set()
            await asyncio.sleep(3600)
        return outcome

    assert await work("ok") == "ok"
    with pytest.raises(KeyError):
        await work("fail")
    task = asyncio.create_task(work("hang"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counts(monitor) == (3, 0, 1, 1)  # the cancelled call is neither a success nor a failure
    assert monitor.get_metrics().operations_cancelled == 1
    assert await work("ok") == "ok"  # the pool's connection is still good after the cancel


async def test_a_failed_borrow_raises_and_counts_as_a_failure(counts: Any) -> None:
    monitor = ConnectionMonitor()
    refused = NatsConfig(servers="nats://127.0.0.1:1", connection_timeout=2.0)
    async with ConnectionPool(refused) as pool:

        @with_connection_monitoring(monitor=monitor)
        @with_nats_connection(pool=pool)
        async def ping(conn: Any) -> None:
            raise AssertionError("not reached")

        with pytest.raises(NaqConnectionError):
            await ping()
    assert counts(monitor) == (1, 0, 0, 1)


async def test_tracebacks_show_source_lines(live_pool: ConnectionPool) -> None:
    @with_connection_monitoring
    @with_nats_connection(pool=live_pool)
    async def broken(conn: Any) -> None:
        raise LookupError("from the body")

    with pytest.raises(LookupError) as info:
        await broken()
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].line == 'raise LookupError("from the body")'
    for frame in frames:
        assert not frame.filename.startswith("<"), frame
        assert frame.line, frame  # every frame has real source behind it
