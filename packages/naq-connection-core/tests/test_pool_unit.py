"""ConnectionPool wiring with fake connections: no server (mocks prove wiring)."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import nats
import nats.errors
import nats.js.errors
import pytest

from naq.connection import events
from naq.connection.config import NatsConfig
from naq.connection.errors import NaqBucketNotFoundError, NaqConfigError, NaqConnectionError
from naq.connection.pool import ConnectionPool, PoolStats, close_default_pools, get_default_pool

pytestmark = pytest.mark.unit


# ---------------------------------------------------------------------- fakes


@dataclass(frozen=True)
class FakeConfig:
    servers: tuple[str, ...] = ("nats://alice:s3cret@127.0.0.1:4999",)
    client_name: str = "pool-test"

    def redacted_servers(self) -> tuple[str, ...]:
        return tuple(s.replace("alice:s3cret@", "***@") for s in self.servers)


class FakeKV:
    def __init__(self, bucket: str, js: FakeJS | None = None) -> None:
        self.bucket = bucket
        self.js = js


class FakeJS:
    def __init__(self, world: World, options: dict[str, Any]) -> None:
        self.world = world
        self.options = options
        self.conn: FakeConn | None = None

    async def key_value(self, bucket: str) -> FakeKV:
        self.world.kv_lookups += 1
        await asyncio.sleep(self.world.lookup_delay)
        if self.world.lookup_error is not None:
            raise self.world.lookup_error
        if bucket not in self.world.kv_buckets:
            raise nats.js.errors.BucketNotFoundError
        return FakeKV(bucket, self)

    async def create_key_value(self, *, bucket: str, **config: Any) -> FakeKV:
        if isinstance(self.world.create_error, nats.js.errors.ServiceUnavailableError):
            raise self.world.create_error
        if self.world.create_error is not None:
            self.world.kv_buckets[bucket] = {"by": "someone else"}
            raise self.world.create_error
        self.world.kv_buckets[bucket] = config
        return FakeKV(bucket)

    async def object_store(self, bucket: str) -> FakeKV:
        self.world.os_lookups += 1
        if self.world.lookup_error is not None:
            raise self.world.lookup_error
        if bucket not in self.world.os_buckets:
            raise nats.js.errors.BucketNotFoundError
        return FakeKV(bucket)

    async def create_object_store(self, *, bucket: str, **config: Any) -> FakeKV:
        if isinstance(self.world.create_error, nats.js.errors.ServiceUnavailableError):
            raise self.world.create_error
        self.world.os_buckets[bucket] = config
        return FakeKV(bucket)


class FakeConn:
    def __init__(self, world: World, n: int) -> None:
        self.world = world
        self.n = n
        self.is_closed = False
        self.is_reconnecting = False
        self.close_calls = 0
        self.jetstream_calls = 0
        self.connected_url = urlparse("nats://127.0.0.1:4999")
        self.is_connected = True

    async def close(self) -> None:
        self.close_calls += 1
        self.is_closed = True
        self.world.closed.append(self)

    def jetstream(self, **options: Any) -> FakeJS:
        self.jetstream_calls += 1
        js = FakeJS(self.world, options)
        js.conn = self
        return js


class World:
    """Stands in for context_managers.open_connection / close_connection and a server."""

    def __init__(self) -> None:
        self.opened: list[FakeConn] = []
        self.closed: list[FakeConn] = []
        self.open_calls: list[tuple[Any, bool]] = []
        self.connect_delay = 0.0
        self.lookup_delay = 0.0
        self.fail_next: list[BaseException] = []
        self.gate: asyncio.Event | None = None
        self.cancelled_connects = 0
        self.kv_buckets: dict[str, dict[str, Any]] = {}
        self.os_buckets: dict[str, dict[str, Any]] = {}
        self.kv_lookups = 0
        self.os_lookups = 0
        self.create_error: Exception | None = None
        self.lookup_error: Exception | None = None

    async def connect(self, **kwargs: Any) -> FakeConn:
        """Stands in for ``nats.connect`` (the documented seam): called by core with the config's keywords."""
        self.open_calls.append((kwargs, kwargs.get("name")))
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(self.connect_delay)
        except asyncio.CancelledError:
            self.cancelled_connects += 1
            raise
        if self.fail_next:
            raise self.fail_next.pop(0)
        conn = FakeConn(self, len(self.opened))
        self.opened.append(conn)
        return conn

    def live(self) -> list[FakeConn]:
        return [c for c in self.opened if not c.is_closed]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    w = World()
    monkeypatch.setattr(nats, "connect", w.connect)
    return w


CFG = NatsConfig(servers="nats://alice:s3cret@127.0.0.1:4999", client_name="pool-test")


# ---------------------------------------------------------------------- construction, lazy connect


@pytest.mark.parametrize("size", [0, -1])
def test_bad_size_is_config_error(world: World, size: Any) -> None:
    with pytest.raises(NaqConfigError, match="size must be an integer >= 1") as info:
        ConnectionPool(CFG, size=size)
    assert info.value.field == "size"


@pytest.mark.parametrize("size", [True, 1.5, "2", None])
def test_size_of_the_wrong_type_is_a_type_error(world: World, size: Any) -> None:
    with pytest.raises(TypeError, match=r"size must be an int >= 1, got") as info:
        ConnectionPool(CFG, size=size)
    assert not isinstance(info.value, NaqConnectionError)


def test_real_config_resolution_and_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    from naq.connection.config import Config, NatsConfig, reset_config

    monkeypatch.setenv("NAQ_NATS_CLIENT_NAME", "from-env")
    reset_config()
    try:
        by_url = ConnectionPool("nats://bob:hunter2@127.0.0.1:4999")
        assert by_url.config.servers == ("nats://bob:hunter2@127.0.0.1:4999",)
        assert by_url.config.client_name == "from-env"  # URL applied over the global config
        assert "hunter2" not in repr(by_url)
        nats_cfg = NatsConfig(servers="nats://127.0.0.1:4998")
        assert ConnectionPool(nats_cfg).config is nats_cfg
        assert ConnectionPool(Config(nats=nats_cfg)).config is nats_cfg
        lazy = ConnectionPool()
        assert "<global config>" in repr(lazy)
        assert lazy.config.client_name == "from-env"  # resolved on demand
    finally:
        reset_config()


@pytest.mark.parametrize("bucket", [None, 7, b"b"])
def test_bucket_of_the_wrong_type_is_a_type_error_at_once(world: World, bucket: Any) -> None:
    pool = ConnectionPool(CFG)
    with pytest.raises(TypeError, match="KV bucket name must be a str"):
        pool.kv_store(bucket)
    with pytest.raises(TypeError, match="object-store bucket name must be a str"):
        pool.object_store(bucket)


@pytest.mark.parametrize("bucket", ["", "a b", "a.b", "a*", "orders\n"])
async def test_bad_bucket_name_is_config_error_before_connecting(world: World, bucket: str) -> None:
    async with ConnectionPool(CFG) as pool:
        with pytest.raises(NaqConfigError, match=r"invalid KV bucket name") as info:
            pool.kv_store(bucket)  # raised by the call itself, as nats_kv_store does
        assert info.value.field == "bucket"
        with pytest.raises(NaqConfigError, match=r"invalid object-store bucket name"):
            pool.object_store(bucket)
        assert world.open_calls == []  # nothing connected
        assert world.kv_lookups == 0


@pytest.mark.parametrize("kind", ["kv_store", "object_store"])
async def test_bucket_options_without_create_are_rejected_like_the_context_managers(
    world: World, kind: str
) -> None:
    from naq.connection import context_managers as cm

    async with ConnectionPool(CFG) as pool:
        borrow = getattr(pool, kind)
        only_on_create = r"options \['history'\] only apply when the bucket is created"
        with pytest.raises(NaqConfigError, match=only_on_create):
            borrow("b", history=5)
        factory = cm.nats_kv_store if kind == "kv_store" else cm.nats_object_store
        with pytest.raises(NaqConfigError) as from_cm:
            factory("b", history=5)
        with pytest.raises(NaqConfigError) as from_pool:
            borrow("b", history=5)
        assert str(from_pool.value) == str(from_cm.value)  # one shared check, one message
        assert world.open_calls == []
        world.kv_buckets["b"] = {}
        world.os_buckets["b"] = {}
        async with borrow("b", create=True, history=5):  # with create=True they are fine
            pass


async def test_lazy_connect_then_shared(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        assert world.open_calls == []  # entering the pool does not connect
        async with pool.connection() as a:
            pass
        async with pool.connection() as b:
            pass
        assert a is b
        assert len(world.open_calls) == 1
        assert world.open_calls[0][1] == "pool-test"  # the pool's config reached nats.connect
        assert a.close_calls == 0  # borrowing never closes
    assert world.closed == [a]


async def test_100_concurrent_first_borrowers_share_one_connect(world: World) -> None:
    world.connect_delay = 0.02
    async with ConnectionPool(CFG) as pool:

        async def borrow() -> FakeConn:
            async with pool.connection() as nc:
                return nc  # type: ignore[no-any-return]

        conns = await asyncio.gather(*(borrow() for _ in range(100)))
        assert len(world.open_calls) == 1
        assert {id(c) for c in conns} == {id(world.opened[0])}
        assert pool.stats().borrows == 100


async def test_size_three_round_robin(world: World) -> None:
    async with ConnectionPool(CFG, size=3) as pool:
        seen = []
        for _ in range(7):
            async with pool.connection() as nc:
                seen.append(nc.n)
        assert seen == [0, 1, 2, 0, 1, 2, 0]
        assert len(world.opened) == 3
        assert pool.stats().open_connections == 3
    assert len(world.live()) == 0


async def test_open_connects_every_slot(world: World) -> None:
    async with ConnectionPool(CFG, size=2) as pool:
        await pool.open()
        assert len(world.opened) == 2
        await pool.open()  # already open: nothing new
        assert len(world.opened) == 2


async def test_config_none_resolved_at_first_use(world: World) -> None:
    from naq.connection.config import Config, set_config

    pool = ConnectionPool()
    assert "<global config>" in repr(pool)
    set_config(Config(nats=NatsConfig(servers="nats://127.0.0.1:4999", client_name="late")))
    async with pool, pool.connection():
        pass
    assert world.open_calls[0][1] == "late"  # the global config as it was at the first use


# ---------------------------------------------------------------------- failures and replacement


async def test_failed_connect_is_shared_and_not_cached(world: World) -> None:
    world.connect_delay = 0.01
    world.fail_next = [NaqConnectionError("no servers")]
    async with ConnectionPool(CFG) as pool:

        async def borrow() -> Any:
            async with pool.connection() as nc:
                return nc

        results = await asyncio.gather(*(borrow() for _ in range(10)), return_exceptions=True)
        assert all(isinstance(r, NaqConnectionError) for r in results)
        assert len(world.open_calls) == 1  # one attempt shared by all ten
        async with pool.connection() as nc:  # the failure is not cached
            assert nc is world.opened[0]
        stats = pool.stats()
        assert (stats.connect_failures, stats.connections_opened) == (1, 1)


async def test_closed_connection_replaced_on_next_borrow(world: World) -> None:
    world.kv_buckets["b"] = {}
    async with ConnectionPool(CFG) as pool:
        async with pool.kv_store("b") as kv1, pool.connection() as first:
            pass
        first.is_closed = True  # reconnect attempts exhausted
        async with pool.connection() as second, pool.kv_store("b") as kv2:
            pass
        assert second is not first
        assert kv2 is not kv1  # caches of the dead connection dropped
        assert world.kv_lookups == 2
        assert pool.stats().replacements == 1


async def test_replacement_counted_when_it_takes_several_attempts(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        async with pool.connection() as first:
            pass
        first.is_closed = True  # closed for good; the server is still down
        world.fail_next = [NaqConnectionError("refused"), NaqConnectionError("refused")]
        for _ in range(2):
            with pytest.raises(NaqConnectionError, match="refused"):
                async with pool.connection():
                    pass
        async with pool.connection() as second:  # the server is back
            assert second is not first
        stats = pool.stats()
        assert (stats.replacements, stats.connect_failures, stats.connections_opened) == (1, 2, 2)
        second.is_closed = True  # a second replacement, first try
        async with pool.connection():
            pass
        assert pool.stats().replacements == 2


async def test_first_connect_after_failures_is_not_a_replacement(world: World) -> None:
    world.fail_next = [NaqConnectionError("refused")]
    async with ConnectionPool(CFG) as pool:
        with pytest.raises(NaqConnectionError):
            async with pool.connection():
                pass
        async with pool.connection():
            pass
        assert pool.stats().replacements == 0  # the slot never had a connection to replace


async def test_reconnecting_connection_is_not_replaced(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        async with pool.connection() as first:
            pass
        first.is_reconnecting = True
        async with pool.connection() as again:
            assert again is first
        assert len(world.open_calls) == 1
        assert pool.stats().replacements == 0


async def test_borrower_cancelled_while_connecting_does_not_break_others(world: World) -> None:
    world.gate = asyncio.Event()
    async with ConnectionPool(CFG) as pool:

        async def borrow() -> Any:
            async with pool.connection() as nc:
                return nc

        first = asyncio.ensure_future(borrow())
        second = asyncio.ensure_future(borrow())
        await asyncio.sleep(0.01)
        first.cancel()  # the borrower that started the connect goes away ...
        await asyncio.sleep(0.01)
        world.gate.set()  # ... and the shared connect still completes for the other one
        assert await second is world.opened[0]
        with pytest.raises(asyncio.CancelledError):
            await first
        assert len(world.open_calls) == 1


# ---------------------------------------------------------------------- close


async def test_close_is_idempotent_and_borrow_after_close_is_clear(world: World) -> None:
    pool = ConnectionPool(CFG, size=2)
    await pool.open()
    await asyncio.gather(pool.close(), pool.close())
    await pool.close()
    assert [c.close_calls for c in world.opened] == [1, 1]
    assert pool.closed
    assert pool.stats().open_connections == 0
    with pytest.raises(NaqConnectionError, match="closed"):
        async with pool.connection():
            pass
    with pytest.raises(NaqConnectionError, match="closed"):
        async with pool:
            pass


async def test_close_never_used_pool(world: World) -> None:
    pool = ConnectionPool(CFG)
    await pool.close()
    assert world.open_calls == []


async def test_close_while_connecting_fails_waiters_clearly(world: World) -> None:
    world.gate = asyncio.Event()
    pool = ConnectionPool(CFG)

    async def borrow() -> Any:
        async with pool.connection() as nc:
            return nc

    waiter = asyncio.ensure_future(borrow())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(pool.close(), 5)
    with pytest.raises(NaqConnectionError, match="closed while connecting"):
        await waiter
    assert world.cancelled_connects == 1
    assert world.live() == []


async def test_pool_closed_after_connect_finished_closes_the_new_connection(world: World) -> None:
    world.connect_delay = 0.01
    pool = ConnectionPool(CFG)
    slot = pool._slots[0]
    pool._checkout()
    task = asyncio.ensure_future(pool._open_slot(slot))
    await asyncio.sleep(0)
    pool._closed = True  # closed between connect and install
    with pytest.raises(NaqConnectionError, match="closed while connecting"):
        await task
    assert world.opened[0].close_calls == 1


# ---------------------------------------------------------------------- loop binding


def _run_in_thread(coro_fn: Any) -> BaseException | None:
    result: list[BaseException | None] = [None]

    def target() -> None:
        try:
            asyncio.run(asyncio.wait_for(coro_fn(), 5))
        except BaseException as exc:
            result[0] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(10)
    assert not t.is_alive(), "other-loop use hung"
    return result[0]


async def test_use_from_another_loop_is_a_clear_error(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        async with pool.connection():
            pass

        async def other() -> None:
            async with pool.connection():
                pass

        async def other_close() -> None:
            await pool.close()

        for fn in (other, other_close):
            err = await asyncio.get_running_loop().run_in_executor(None, _run_in_thread, fn)
            assert isinstance(err, NaqConnectionError)
            assert "another event loop" in str(err)
            assert "(that loop is still open)" in str(err)
        assert not pool.closed


def test_pool_of_a_closed_loop(world: World, caplog: pytest.LogCaptureFixture) -> None:
    pool = ConnectionPool(CFG)

    async def use() -> None:
        async with pool.connection():
            pass

    asyncio.run(use())  # the pool was not closed: asyncio.run's shutdown closes it with its loop
    assert pool.closed
    assert world.live() == []
    with pytest.raises(NaqConnectionError, match="is closed"):
        asyncio.run(use())
    with caplog.at_level(logging.WARNING, logger="naq.connection"):
        asyncio.run(pool.close())  # idempotent
    assert pool.closed
    assert caplog.text == ""  # nothing was left to drop


def test_pool_of_a_loop_closed_without_shutdown_is_dropped_with_a_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    pool = ConnectionPool(CFG)

    async def use() -> None:
        async with pool.connection():
            pass

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(use())
    finally:
        loop.close()  # closed without cancelling its tasks: nothing closed the pool
    with caplog.at_level(logging.WARNING, logger="naq.connection"):
        asyncio.run(pool.close())
    assert pool.closed
    assert "dropped 1 pooled connection" in caplog.text


# ---------------------------------------------------------------------- JetStream and buckets


async def test_jetstream_contexts_cached_per_options(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        async with pool.jetstream() as js1, pool.jetstream() as js2:
            pass
        async with pool.jetstream(domain="x") as js3, pool.jetstream(domain="x") as js4:
            pass
        async with pool.jetstream(domain="y") as js5:
            pass
        async with pool.jetstream(opts=["unhashable"]) as js6, pool.jetstream(opts=["unhashable"]) as js7:
            pass
        assert js1 is js2
        assert js3 is js4
        assert js3.options == {"domain": "x"}
        assert len({id(js1), id(js3), id(js5)}) == 3
        assert js6 is not js7  # unhashable options: not cached, still work
        assert world.opened[0].jetstream_calls == 5


async def test_kv_missing_bucket_names_it(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        with pytest.raises(NaqBucketNotFoundError, match="'orders'") as info:
            async with pool.kv_store("orders"):
                pass
        assert info.value.bucket == "orders"
        assert isinstance(info.value.__cause__, nats.js.errors.BucketNotFoundError)
        with pytest.raises(NaqBucketNotFoundError, match="object-store bucket 'files'"):
            async with pool.object_store("files"):
                pass


@pytest.mark.parametrize("create", [False, True])
@pytest.mark.parametrize("kind", ["kv_store", "object_store"])
async def test_jetstream_unavailable_is_the_context_managers_error(
    world: World, kind: str, create: bool
) -> None:
    unavailable = nats.js.errors.ServiceUnavailableError()
    if create:
        world.create_error = unavailable  # the lookup says "missing", creating it hits the 503
    else:
        world.lookup_error = unavailable
    async with ConnectionPool(CFG) as pool:
        with pytest.raises(NaqConnectionError, match="JetStream is not available") as caught:
            async with getattr(pool, kind)("b", create=create):
                pytest.fail("body must not run")
    error = caught.value
    assert type(error) is NaqConnectionError
    assert error.__cause__ is unavailable  # chained, so is_transient sees the 503
    assert "nats://alice:***@127.0.0.1:4999" in str(error)  # the pool's servers, redacted
    assert "s3cret" not in str(error)
    assert error.servers == ("nats://alice:***@127.0.0.1:4999",)


async def test_kv_create_and_cache(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        async with pool.kv_store("b", create=True, history=5) as kv:
            assert kv.bucket == "b"
        assert world.kv_buckets["b"] == {"history": 5}
        for _ in range(10):
            async with pool.kv_store("b") as again:
                assert again is kv
        assert world.kv_lookups == 1  # the failed lookup before create; none after
        async with pool.object_store("o", create=True) as obj, pool.object_store("o") as obj2:
            assert obj is obj2
        assert world.os_buckets == {"o": {}}


async def test_concurrent_first_kv_borrowers_share_one_lookup(world: World) -> None:
    world.kv_buckets["b"] = {}
    world.lookup_delay = 0.02
    async with ConnectionPool(CFG) as pool:

        async def borrow() -> Any:
            async with pool.kv_store("b") as kv:
                return kv

        handles = await asyncio.gather(*(borrow() for _ in range(50)))
        assert world.kv_lookups == 1
        assert len({id(h) for h in handles}) == 1


@pytest.mark.parametrize(
    "error",
    [
        nats.js.errors.NoStreamResponseError(),
        nats.errors.NoRespondersError(),
        nats.js.errors.NotFoundError(code=404, err_code=10059, description="stream not found"),
    ],
    ids=["no-stream-response", "no-responders", "stream-not-found"],
)
async def test_stale_bucket_error_drops_cached_handle(world: World, error: Exception) -> None:
    world.kv_buckets["b"] = {}
    async with ConnectionPool(CFG) as pool:
        async with pool.kv_store("b") as kv1:
            pass
        with pytest.raises(type(error)):
            async with pool.kv_store("b"):
                raise error
        async with pool.kv_store("b") as kv2:
            pass
        assert kv2 is not kv1
        assert world.kv_lookups == 2
        assert pool.stats().bucket_invalidations == 1


@pytest.mark.parametrize(
    "error",
    [nats.js.errors.KeyNotFoundError(), nats.js.errors.ObjectNotFoundError(), RuntimeError("body")],
    ids=["key-not-found", "object-not-found", "other"],
)
async def test_other_errors_keep_cached_handle(world: World, error: Exception) -> None:
    world.os_buckets["o"] = {}
    async with ConnectionPool(CFG) as pool:
        async with pool.object_store("o") as h1:
            pass
        with pytest.raises(type(error)):
            async with pool.object_store("o"):
                raise error
        async with pool.object_store("o") as h2:
            pass
        assert h2 is h1
        assert world.os_lookups == 1


async def test_stale_error_does_not_drop_a_newer_handle(world: World) -> None:
    world.kv_buckets["b"] = {}
    async with ConnectionPool(CFG) as pool:
        stale = pool.kv_store("b")
        await stale.__aenter__()
        pool.invalidate("b")
        async with pool.kv_store("b") as fresh:
            pass
        await stale.__aexit__(None, nats.js.errors.NoStreamResponseError(), None)
        async with pool.kv_store("b") as again:
            assert again is fresh


async def test_invalidate_explicitly(world: World) -> None:
    world.kv_buckets.update(a={}, b={})
    async with ConnectionPool(CFG) as pool:
        for name in ("a", "b"):
            async with pool.kv_store(name):
                pass
        pool.invalidate("a")
        pool.invalidate("missing")
        assert world.kv_lookups == 2
        async with pool.kv_store("a"), pool.kv_store("b"):
            pass
        assert world.kv_lookups == 3
        pool.invalidate()
        async with pool.kv_store("a"), pool.kv_store("b"):
            pass
        assert world.kv_lookups == 5
        assert pool.stats().bucket_invalidations == 3


async def test_close_cancels_pending_lookups(world: World) -> None:
    world.kv_buckets["b"] = {}
    world.lookup_delay = 10
    pool = ConnectionPool(CFG)

    async def borrow() -> None:
        async with pool.kv_store("b"):
            pass

    waiter = asyncio.ensure_future(borrow())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(pool.close(), 2)
    with pytest.raises(NaqConnectionError, match="closed while binding bucket 'b'"):
        await waiter


# ---------------------------------------------------------------------- events, repr, stats


async def test_borrowed_events_only_with_listeners(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    emitted: list[events.ConnectionEvent] = []
    async with ConnectionPool(CFG) as pool:
        calls = 0
        real_emit = events.emit

        def counting_emit(event: events.ConnectionEvent) -> None:
            nonlocal calls
            calls += 1
            real_emit(event)

        monkeypatch.setattr(events, "emit", counting_emit)
        async with pool.connection():
            pass
        assert calls == 0  # nobody listens: no event built
        events.add_listener(emitted.append)
        async with pool.connection(), pool.jetstream():
            pass
        world.kv_buckets["b"] = {}
        async with pool.kv_store("b"):
            pass
    emitted = [e for e in emitted if e.kind is events.ConnectionEventKind.BORROWED]
    assert len(emitted) == 3
    assert all(e.pooled for e in emitted)
    assert emitted[0].client_name == "pool-test"
    assert emitted[0].server == "nats://127.0.0.1:4999"
    assert emitted[0].connection_id == emitted[2].connection_id != 0


async def test_repr_and_stats_never_show_secrets(world: World) -> None:
    async with ConnectionPool(CFG, size=2) as pool:
        async with pool.connection():
            pass
        text = repr(pool)
        assert "s3cret" not in text
        for part in ("size=2", "open_connections=1", "borrows=1"):
            assert part in text
        stats = pool.stats()
        assert stats == PoolStats(
            size=2,
            open_connections=1,
            lent=0,
            borrows=1,
            connections_opened=1,
            connect_failures=0,
            replacements=0,
            bucket_lookups=0,
            bucket_invalidations=0,
            closed=False,
        )
        assert pool.size == 2
        assert pool.config is CFG
    assert "closed" in repr(pool)


# ---------------------------------------------------------------------- unclosed pools


def test_pool_left_open_is_closed_with_its_loop(world: World) -> None:
    pools = [ConnectionPool(CFG)]

    async def use() -> None:
        async with pools[0].connection():
            pass

    asyncio.run(use())  # no close(): the loop's shutdown closes it
    assert pools[0].closed
    assert world.live() == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pools.clear()
        gc.collect()
    assert not any(issubclass(w.category, ResourceWarning) for w in caught)


# ---------------------------------------------------------------------- default pools


async def test_default_pool_per_config_and_loop(world: World) -> None:
    a = get_default_pool(CFG)  # type: ignore[arg-type]
    assert get_default_pool(CFG) is a  # type: ignore[arg-type]
    equal = NatsConfig(servers="nats://alice:s3cret@127.0.0.1:4999", client_name="pool-test")
    assert get_default_pool(equal) is a  # equal config, same pool
    other = get_default_pool(CFG.replace(client_name="x"))
    assert other is not a

    async def in_other_loop() -> ConnectionPool:
        return get_default_pool(CFG)  # type: ignore[arg-type]

    result: list[Any] = []
    t = threading.Thread(target=lambda: result.append(asyncio.run(in_other_loop())))
    t.start()
    t.join(10)
    assert result[0] is not a

    async with a.connection():
        pass
    await close_default_pools()
    assert a.closed
    assert other.closed
    assert world.live() == []
    fresh = get_default_pool(CFG)  # type: ignore[arg-type]
    assert fresh is not a
    await close_default_pools()
    await close_default_pools()  # idempotent


async def test_default_pool_replaced_when_closed_directly(world: World) -> None:
    a = get_default_pool(CFG)  # type: ignore[arg-type]
    await a.close()
    b = get_default_pool(CFG)  # type: ignore[arg-type]
    assert b is not a
    assert not b.closed
    await close_default_pools()


def test_default_pool_needs_a_running_loop() -> None:
    with pytest.raises(NaqConnectionError, match="running event loop"):
        get_default_pool(CFG)  # type: ignore[arg-type]


async def test_acquire_is_a_borrow_without_context_manager(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        first = await pool.acquire()
        assert await pool.acquire() is first
        async with pool.connection() as nc:
            assert nc is first
        first.is_closed = True
        assert await pool.acquire() is not first  # replacement works on this path too
        assert pool.stats().borrows == 4

    with pytest.raises(NaqConnectionError, match="closed"):
        await pool.acquire()


async def test_acquire_nowait_lends_only_a_live_connection_on_its_loop(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        assert pool.acquire_nowait() is None  # not connected yet: the caller must await acquire()
        assert pool.stats().borrows == 0
        first = await pool.acquire()
        assert pool.acquire_nowait() is first
        assert pool.stats().borrows == 2
        first.is_closed = True
        assert pool.acquire_nowait() is None  # replacement is the slow path's job
        assert pool.stats().borrows == 2
        assert await pool.acquire() is not first
    assert pool.acquire_nowait() is None  # closed pools lend nothing


async def test_jetstream_twins_lend_the_cached_default_context(world: World) -> None:
    async with ConnectionPool(CFG) as pool:
        assert pool.jetstream_nowait() is None  # not connected yet: the caller must await
        assert pool.stats().borrows == 0
        js = await pool.acquire_jetstream()
        async with pool.jetstream() as borrowed:
            assert borrowed is js  # the same cached context as the context-manager borrow
        assert pool.jetstream_nowait() is js
        assert pool.stats().borrows == 3
        first = world.opened[0]
        first.is_closed = True
        assert pool.jetstream_nowait() is None  # replacement is the slow path's job
        assert pool.stats().borrows == 3
        replacement = await pool.acquire_jetstream()
        assert replacement is not js  # a context of the new connection, not the dead one's
        assert pool.jetstream_nowait() is replacement
    assert pool.jetstream_nowait() is None  # closed pools lend nothing
    with pytest.raises(NaqConnectionError, match="closed"):
        await pool.acquire_jetstream()


async def test_bucket_created_concurrently_elsewhere_is_used(world: World) -> None:
    world.create_error = nats.js.errors.BadRequestError(code=400, err_code=10058, description="in use")
    async with ConnectionPool(CFG) as pool:
        async with pool.kv_store("raced", create=True, history=9) as kv:
            assert kv.bucket == "raced"
        assert world.kv_buckets["raced"] == {"by": "someone else"}
        assert world.kv_lookups == 2  # missing, then the concurrently created one


async def test_other_create_errors_propagate(world: World) -> None:
    world.create_error = nats.js.errors.BadRequestError(code=400, err_code=10052, description="bad config")
    async with ConnectionPool(CFG) as pool:
        with pytest.raises(nats.js.errors.BadRequestError) as info:
            async with pool.kv_store("bad", create=True, history=99):
                pass
        assert info.value.err_code == 10052


async def test_lookup_in_flight_on_a_replaced_connection_is_not_shared(world: World) -> None:
    world.kv_buckets["b"] = {}
    world.lookup_delay = 0.05
    async with ConnectionPool(CFG) as pool:
        first = await pool.acquire()

        async def borrow() -> Any:
            async with pool.kv_store("b") as kv:
                return kv

        old_lookup = asyncio.ensure_future(borrow())
        await asyncio.sleep(0.01)
        first.is_closed = True  # dies while its lookup is in flight
        fresh = await borrow()
        assert fresh.js.conn is world.opened[1]
        await old_lookup
        async with pool.kv_store("b") as cached:
            assert cached is fresh  # the old connection's late result was not cached
        assert world.kv_lookups == 2
