"""Area 2 -- lifecycle under faults, each run in a loop against real sockets.

Exception in the body, cancellation during connect (a TCP listener that never sends INFO), during
the body and during close, ``asyncio.wait_for`` timeouts around every context manager, a missing KV
bucket, a server without JetStream. After each loop: the server reports zero client connections,
and this process is back to its baseline of file descriptors and asyncio tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import nats
import pytest
from naq_e2e_state import inspector
from naq_e2e_support import Baseline, assert_no_clients, silent_listener, unique

from naq.connection import (
    ConnectionPool,
    NaqBucketNotFoundError,
    NaqConnectionError,
    NatsConfig,
    nats_connection,
    nats_jetstream,
    nats_kv_store,
    nats_object_store,
)
from naq.connection import events as naq_events
from naq.connection import utils as health  # health checks: health.test_nats_connection(...)
from naq.connection import utils as naq_utils
from naq.connection.decorators import (
    retry_on_connection_failure,
    with_connection_monitoring,
    with_jetstream_context,
    with_kv_store,
    with_nats_connection,
)
from naq.connection.events import ConnectionEvent, ConnectionEventKind
from naq.testing import NatsServer

pytestmark = pytest.mark.integration

LOOPS = 20
WAIT_FOR = 0.05  # s: the wait_for timeout put around each context manager
WAIT_LOOPS = 10


def _cfg(url: str, **overrides: Any) -> NatsConfig:
    opts: dict[str, Any] = {
        "servers": url,
        "connection_timeout": 3.0,
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0.1,
        "drain_timeout": 2.0,
    }
    opts.update(overrides)
    return NatsConfig(**opts)


@pytest.fixture
def recorded_events() -> Iterator[list[ConnectionEvent]]:
    seen: list[ConnectionEvent] = []
    remove = naq_events.add_listener(seen.append)
    yield seen
    remove()


def _count(events: list[ConnectionEvent], kind: ConnectionEventKind) -> int:
    return sum(1 for e in events if e.kind is kind)


class Boom(Exception):
    """The caller's own exception: must come out of every context manager unchanged."""


# ---- exception in the body -------------------------------------------------------------------


def _cm_factories(
    url: str, bucket: str
) -> dict[str, Callable[[], contextlib.AbstractAsyncContextManager[Any]]]:
    return {
        "nats_connection": lambda: nats_connection(_cfg(url)),
        "nats_jetstream": lambda: nats_jetstream(_cfg(url)),
        "nats_kv_store": lambda: nats_kv_store(bucket, _cfg(url)),
        "nats_object_store": lambda: nats_object_store(f"{bucket}_obj", _cfg(url), create=True),
    }


@pytest.fixture
async def bucket(js_server: NatsServer) -> AsyncIterator[str]:
    name = unique("lc")
    async with inspector(js_server.url) as nc:
        await nc.jetstream().create_key_value(bucket=name)
    yield name
    async with inspector(js_server.url) as nc:
        js = nc.jetstream()
        await js.delete_key_value(name)
        with contextlib.suppress(Exception):
            await js.delete_object_store(f"{name}_obj")


CM_NAMES = ["nats_connection", "nats_jetstream", "nats_kv_store", "nats_object_store"]


@pytest.mark.parametrize("cm_name", CM_NAMES)
async def test_exception_in_body_propagates_unchanged_and_closes(
    js_server: NatsServer, bucket: str, cm_name: str, recorded_events: list[ConnectionEvent]
) -> None:
    make = _cm_factories(js_server.url, bucket)[cm_name]

    async def once() -> None:
        err = Boom("mine")
        with pytest.raises(Boom) as info:
            async with make():
                raise err
        assert info.value is err  # the very same object, not wrapped

    await once()  # warm-up: lazy imports, loggers
    base = Baseline.take()
    recorded_events.clear()
    for _ in range(LOOPS):
        await once()
    await base.assert_restored(js_server)
    assert _count(recorded_events, ConnectionEventKind.CONNECTED) == LOOPS
    assert _count(recorded_events, ConnectionEventKind.CLOSED) == LOOPS


async def test_exception_in_pooled_body_keeps_pool_usable(js_server: NatsServer) -> None:
    async with ConnectionPool(_cfg(js_server.url)) as pool:
        for _ in range(LOOPS):
            with pytest.raises(Boom):
                async with pool.connection() as nc:
                    raise Boom
            async with pool.connection() as nc:
                assert nc.is_connected
                await nc.rtt()
        assert js_server.client_count() == 1
    await assert_no_clients(js_server)


# ---- cancellation during connect, body and close ---------------------------------------------


async def test_cancel_during_connect_to_silent_server(recorded_events: list[ConnectionEvent]) -> None:
    """A server that accepts TCP and never sends INFO: cancelling the connect leaves nothing behind."""
    async with silent_listener() as listener:

        async def connect_forever() -> None:
            async with nats_connection(_cfg(listener.url, connection_timeout=30.0)):
                raise AssertionError("must never connect to a server that sends no INFO")

        async def once() -> None:
            accepted = listener.accepted
            task = asyncio.create_task(connect_forever())
            deadline = time.monotonic() + 5
            while listener.accepted == accepted and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            assert listener.accepted == accepted + 1, "the client never reached the listener"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)

        await once()
        base = Baseline.take()
        recorded_events.clear()
        for _ in range(LOOPS):
            await once()
        assert await listener.open_connections() == 0, "a cancelled connect kept its socket open"
        await base.assert_restored()
    assert _count(recorded_events, ConnectionEventKind.CONNECTING) == LOOPS
    assert _count(recorded_events, ConnectionEventKind.CONNECT_FAILED) == LOOPS
    assert _count(recorded_events, ConnectionEventKind.CONNECTED) == 0


async def test_silent_server_fails_fast_with_typed_error() -> None:
    """Without cancellation, the connect gives up within connection_timeout + 1 s (not 2 minutes)."""
    async with silent_listener() as listener:
        base = Baseline.take()
        for _ in range(2):
            start = time.monotonic()
            with pytest.raises(NaqConnectionError) as info:
                async with nats_connection(_cfg(listener.url, connection_timeout=0.3)):
                    pass
            assert time.monotonic() - start < 0.3 + 1.0 + 0.5
            assert f"127.0.0.1:{listener.port}" in str(info.value)
        assert await listener.open_connections() == 0
        await base.assert_restored()


async def test_cancel_during_body(js_server: NatsServer, recorded_events: list[ConnectionEvent]) -> None:
    async def once() -> None:
        entered = asyncio.Event()

        async def body() -> None:
            async with nats_connection(_cfg(js_server.url)) as nc:
                await nc.subscribe(unique("lc.sub"))  # a live subscription must not leak its task
                entered.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(body())
        await asyncio.wait_for(entered.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)

    await once()
    base = Baseline.take()
    recorded_events.clear()
    for _ in range(LOOPS):
        await once()
    await base.assert_restored(js_server)
    assert _count(recorded_events, ConnectionEventKind.CLOSED) == LOOPS


async def test_cancel_during_close(js_server: NatsServer, recorded_events: list[ConnectionEvent]) -> None:
    """Cancel the task while the context manager is closing: the connection must still be closed.

    The client's ``drain`` / ``close`` are wrapped so the first of them to be called signals and
    pauses briefly; the cancellation lands inside that pause, i.e. inside the close path.
    """

    async def once() -> None:
        closing = asyncio.Event()

        async def body() -> None:
            async with nats_connection(_cfg(js_server.url)) as nc:
                await nc.subscribe(unique("lc.sub"))
                state = {"first": True}

                def slow(orig: Callable[..., Any]) -> Callable[..., Any]:
                    async def wrapper(*args: Any, **kwargs: Any) -> Any:
                        if state["first"]:
                            state["first"] = False
                            closing.set()
                            await asyncio.sleep(0.2)
                        return await orig(*args, **kwargs)

                    return wrapper

                nc.drain = slow(nc.drain)
                nc.close = slow(nc.close)

        task = asyncio.create_task(body())
        await asyncio.wait_for(closing.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)

    await once()
    await assert_no_clients(js_server)
    base = Baseline.take()
    recorded_events.clear()
    for _ in range(LOOPS):
        await once()
    await base.assert_restored(js_server)
    assert _count(recorded_events, ConnectionEventKind.CLOSED) == LOOPS


# ---- asyncio.wait_for around every context manager -------------------------------------------


@pytest.mark.parametrize("cm_name", [*CM_NAMES, "pool.connection", "pool.jetstream", "pool.kv_store"])
async def test_wait_for_timeout_around_each_cm(js_server: NatsServer, bucket: str, cm_name: str) -> None:
    async def run(make: Callable[[], contextlib.AbstractAsyncContextManager[Any]]) -> None:
        async def hang() -> None:
            async with make():
                await asyncio.sleep(3600)

        start = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(hang(), WAIT_FOR)
        assert time.monotonic() - start < 3.0

    if cm_name.startswith("pool."):
        async with ConnectionPool(_cfg(js_server.url)) as pool:
            make = {
                "pool.connection": pool.connection,
                "pool.jetstream": pool.jetstream,
                "pool.kv_store": lambda: pool.kv_store(bucket),
            }[cm_name]
            await run(make)
            base = Baseline.take()
            for _ in range(WAIT_LOOPS):
                await run(make)
            assert js_server.client_count() == 1  # the pool's own connection survives timeouts
            async with pool.connection() as nc:
                await nc.rtt()
        await base.assert_restored(js_server)
        return

    make = _cm_factories(js_server.url, bucket)[cm_name]
    await run(make)
    base = Baseline.take()
    for _ in range(WAIT_LOOPS):
        await run(make)
    await base.assert_restored(js_server)


DECORATED = [
    "with_nats_connection",
    "with_jetstream_context",
    "with_kv_store",
    "with_nats_connection(pool)",
    "monitoring+retry+with_kv_store",
]


@pytest.mark.parametrize("deco_name", DECORATED)
async def test_wait_for_timeout_around_decorated_calls(
    js_server: NatsServer, bucket: str, deco_name: str
) -> None:
    """A decorated call cancelled by wait_for: its connection closed, the monitor's invariant kept."""
    cfg = _cfg(js_server.url)
    async with ConnectionPool(cfg) as pool:
        deco: Callable[[Any], Any] = {
            "with_nats_connection": with_nats_connection(config=cfg),
            "with_jetstream_context": with_jetstream_context(config=cfg),
            "with_kv_store": with_kv_store(bucket, config=cfg),
            "with_nats_connection(pool)": with_nats_connection(pool=pool),
            "monitoring+retry+with_kv_store": lambda fn: retry_on_connection_failure(
                max_retries=2, retry_delay=0.01
            )(with_connection_monitoring(with_kv_store(bucket, config=cfg)(fn))),
        }[deco_name]

        @deco
        async def hang(injected: Any) -> None:
            await asyncio.sleep(3600)

        async def once() -> None:
            start = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(hang(), WAIT_FOR)
            assert time.monotonic() - start < 3.0

        await once()
        base = Baseline.take()
        for _ in range(WAIT_LOOPS):
            await once()
        metrics = naq_utils.connection_monitor.get_metrics()
        assert metrics.active_connections == 0, metrics
        assert metrics.active_operations == 0, metrics
        if deco_name.startswith("monitoring"):
            assert metrics.operations_started == WAIT_LOOPS + 1  # each call is one operation
            assert metrics.operations_succeeded == 0  # a cancelled call is not a success
        async with pool.connection() as nc:
            await nc.rtt()
    await base.assert_restored(js_server)


async def test_wait_for_timeout_during_connect_to_silent_server() -> None:
    async with silent_listener() as listener:

        async def hang() -> None:
            async with nats_connection(_cfg(listener.url, connection_timeout=30.0)):
                pass

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(hang(), WAIT_FOR)
        base = Baseline.take()
        for _ in range(WAIT_LOOPS):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(hang(), WAIT_FOR)
        assert await listener.open_connections() == 0
        await base.assert_restored()


# ---- missing KV bucket -----------------------------------------------------------------------


async def test_missing_kv_bucket_is_a_typed_error_naming_it(js_server: NatsServer) -> None:
    missing = unique("missing")

    @with_kv_store(missing, config=_cfg(js_server.url))
    async def use(kv: Any) -> None:
        raise AssertionError("a missing bucket must not be injected")

    async def once() -> None:
        with pytest.raises(NaqBucketNotFoundError) as info:
            async with nats_kv_store(missing, _cfg(js_server.url)):
                pass
        assert info.value.bucket == missing
        assert missing in str(info.value)
        assert isinstance(info.value, LookupError)
        with pytest.raises(NaqBucketNotFoundError):
            await use()

    await once()
    base = Baseline.take()
    for _ in range(LOOPS // 2):
        await once()
    async with ConnectionPool(_cfg(js_server.url)) as pool:
        for _ in range(5):
            with pytest.raises(NaqBucketNotFoundError):
                async with pool.kv_store(missing):
                    pass
        async with pool.connection() as nc:  # the pool is still fine
            await nc.rtt()
    await base.assert_restored(js_server)
    # nothing was created on the way
    async with inspector(js_server.url) as nc:
        with pytest.raises(nats.js.errors.BucketNotFoundError):
            await nc.jetstream().key_value(missing)


# ---- JetStream disabled on the server --------------------------------------------------------


@pytest.fixture(scope="module")
def nojs_server() -> Iterator[NatsServer]:
    server = NatsServer(jetstream=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_jetstream_disabled_server(nojs_server: NatsServer) -> None:

    cfg = _cfg(nojs_server.url)
    bucket = unique("nojs")

    async def once() -> None:
        start = time.monotonic()
        with pytest.raises(Exception) as info:
            async with nats_kv_store(bucket, cfg, create=True):
                pass
        assert time.monotonic() - start < 5
        # a server without JetStream is not "bucket not found": the error must say what is wrong
        assert not isinstance(info.value, NaqBucketNotFoundError), info.value
        assert isinstance(info.value, (NaqConnectionError, nats.errors.Error)), repr(info.value)
        with pytest.raises((NaqConnectionError, nats.errors.Error)):
            async with nats_jetstream(cfg) as (_nc, js):
                await js.add_stream(name=unique("NOJS"), subjects=[unique("nojs")])

    await once()
    base = Baseline.take()
    for _ in range(10):
        await once()
    assert await health.test_nats_connection(cfg, timeout=2.0) is True
    assert await health.test_jetstream_connection(cfg) is False
    await base.assert_restored(nojs_server)
