"""The compiled pooled wrapper forwards every kind of parameter exactly like the generic one."""

from __future__ import annotations

import inspect
from contextlib import asynccontextmanager
from typing import Any

import pytest

import naq.connection.decorators as deco
from naq.connection import ConnectionPool
from naq.connection.decorators import with_jetstream_context, with_nats_connection

pytestmark = pytest.mark.unit

CONN = object()


@pytest.fixture
def live_pool() -> ConnectionPool:
    """A real ConnectionPool (so the decorators take the direct path) that lends CONN, no server."""
    pool = ConnectionPool("nats://127.0.0.1:1")
    pool.acquire_nowait = lambda: CONN  # type: ignore[method-assign]
    return pool


async def test_every_parameter_kind_is_forwarded(live_pool: ConnectionPool) -> None:
    default = ["shared default"]

    @with_nats_connection(pool=live_pool)
    async def fn(
        conn: Any, a: int, /, b: int, c: list[str] = default, *rest: int, d: int, e: int = 5, **extra: Any
    ) -> tuple[Any, ...]:
        return conn, a, b, c, rest, d, e, extra

    assert fn.__name__ == "fn"
    assert "_naq_fast_" in fn.__code__.co_name  # the compiled wrapper, not the generic one
    assert str(inspect.signature(fn)) == str(inspect.signature(fn.__wrapped__)).replace("conn: 'Any', ", "")
    result = await fn(1, 2, d=4)
    assert result == (CONN, 1, 2, default, (), 4, 5, {})
    assert result[3] is default  # the same default object, not a copy
    assert await fn(1, b=2, c=["x"], d=4, e=6, z=7) == (CONN, 1, 2, ["x"], (), 4, 6, {"z": 7})
    assert await fn(1, 2, ["y"], 8, 9, d=0) == (CONN, 1, 2, ["y"], (8, 9), 0, 5, {})
    with pytest.raises(TypeError, match="d"):
        await fn(1, 2)  # missing keyword-only argument, reported like the function itself would
    with pytest.raises(TypeError):
        await fn(a=1, b=2, d=3)  # a is positional-only


async def test_methods_get_the_connection_after_self(live_pool: ConnectionPool) -> None:
    class Publisher:
        @with_nats_connection(pool=live_pool)
        async def send(self, conn: Any, subject: str, *, data: bytes = b"") -> tuple[Any, Any, str, bytes]:
            return self, conn, subject, data

    publisher = Publisher()
    assert "_naq_fast_" in Publisher.send.__code__.co_name
    assert await publisher.send("s", data=b"d") == (publisher, CONN, "s", b"d")
    assert list(inspect.signature(Publisher.send).parameters) == ["self", "subject", "data"]


async def test_falls_back_to_acquire_when_nothing_can_be_lent_now(live_pool: ConnectionPool) -> None:
    lent = object()
    live_pool.acquire_nowait = lambda: None  # type: ignore[method-assign]

    async def acquire() -> Any:
        return lent

    live_pool.acquire = acquire  # type: ignore[method-assign]

    @with_nats_connection(pool=live_pool)
    async def fn(conn: Any, x: int) -> tuple[Any, int]:
        return conn, x

    assert await fn(3) == (lent, 3)


async def test_a_patched_surface_is_honoured(
    live_pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    @asynccontextmanager
    async def fake_nats_connection(**kwargs: Any) -> Any:
        calls.append(kwargs)
        yield "patched-conn"

    @with_nats_connection(pool=live_pool)
    async def fn(conn: Any, x: int) -> tuple[Any, int]:
        return conn, x

    monkeypatch.setattr(deco, "nats_connection", fake_nats_connection)
    assert await fn(1) == ("patched-conn", 1)
    assert calls == [{"pool": live_pool}]


async def test_unusual_signatures_keep_the_generic_wrapper(live_pool: ConnectionPool) -> None:
    @with_nats_connection(pool=live_pool)
    async def into_args(*args: Any) -> tuple[Any, ...]:
        return args

    @with_nats_connection(pool=live_pool)
    async def clashing(conn: Any, _naq_fast_call: int) -> tuple[Any, int]:
        return conn, _naq_fast_call

    assert "_naq_fast_" not in into_args.__code__.co_name
    assert "_naq_fast_" not in clashing.__code__.co_name
    assert await into_args(1, 2) == (CONN, 1, 2)
    assert await clashing(_naq_fast_call=4) == (CONN, 4)


async def test_generic_wrappers_borrow_and_honour_patches_too(
    live_pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_pool = ConnectionPool("nats://127.0.0.1:1")
    empty_pool.acquire_nowait = lambda: None  # type: ignore[method-assign]

    async def acquire() -> Any:
        return "acquired"

    empty_pool.acquire = acquire  # type: ignore[method-assign]

    class Worker:
        @with_nats_connection(pool=live_pool)
        async def run(self, *args: Any) -> tuple[Any, ...]:  # injected into *args after self
            return (self, *args)

        @with_nats_connection(pool=empty_pool)
        async def run_later(self, *args: Any) -> tuple[Any, ...]:
            return (self, *args)

    @with_nats_connection(pool=empty_pool)
    async def plain(*args: Any) -> tuple[Any, ...]:
        return args

    worker = Worker()
    assert "_naq_fast_" not in Worker.run.__code__.co_name
    assert await worker.run(1) == (worker, CONN, 1)
    assert await worker.run_later(2) == (worker, "acquired", 2)
    assert await plain(3) == ("acquired", 3)

    @asynccontextmanager
    async def fake_nats_connection(**kwargs: Any) -> Any:
        yield "patched-conn"

    monkeypatch.setattr(deco, "nats_connection", fake_nats_connection)
    assert await worker.run(4) == (worker, "patched-conn", 4)
    assert await plain(5) == ("patched-conn", 5)


async def test_pooled_jetstream_context_takes_the_compiled_path(
    live_pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    js, slow_js, patched_js = object(), object(), object()
    lendable = [js]
    live_pool.jetstream_nowait = lambda: lendable[0]  # type: ignore[method-assign]

    async def acquire_jetstream() -> Any:
        return slow_js

    live_pool.acquire_jetstream = acquire_jetstream  # type: ignore[method-assign]

    @with_jetstream_context(pool=live_pool)
    async def fn(jsc: Any, subject: str) -> tuple[Any, str]:
        return jsc, subject

    assert "_naq_fast_" in fn.__code__.co_name
    assert await fn("s") == (js, "s")
    lendable[0] = None  # nothing lendable without awaiting: acquire_jetstream()
    assert await fn("t") == (slow_js, "t")

    @asynccontextmanager
    async def fake_nats_jetstream(*args: Any, **kwargs: Any) -> Any:
        yield object(), patched_js

    monkeypatch.setattr(deco, "nats_jetstream", fake_nats_jetstream)
    assert await fn("u") == (patched_js, "u")
