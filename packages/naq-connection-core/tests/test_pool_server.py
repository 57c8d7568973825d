"""ConnectionPool behaviour against a real nats-server (naq-testing fixtures)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import nats.js.errors
import pytest

from naq.connection import events
from naq.connection.config import NatsConfig
from naq.connection.errors import NaqBucketNotFoundError, NaqConnectionError
from naq.connection.pool import ConnectionPool, close_default_pools, get_default_pool

pytestmark = pytest.mark.integration


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` (bounded): the server notices closed clients asynchronously."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


async def async_wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def clients_named(server: Any, name: str) -> int:
    """Open connections with client name ``name`` (/connz): immune to other tests' clients closing."""
    return sum(1 for conn in server.connz(limit=4096).get("connections") or () if conn.get("name") == name)


def config_for(url: str, **overrides: Any) -> NatsConfig:
    settings: dict[str, Any] = {
        "client_name": unique("pool-it"),
        "connection_timeout": 2.0,
        "drain_timeout": 2.0,
    }
    settings.update(overrides)
    return NatsConfig(servers=url, **settings)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def raw_js(nats_url: str) -> AsyncIterator[Any]:
    """A plain nats-py client for managing buckets behind the pool's back."""
    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def test_200_concurrent_first_borrowers_share_one_connection(nats_server: Any, nats_url: str) -> None:
    received: list[bytes] = []
    subject = unique("pool.share")

    async def on_message(msg: Any) -> None:
        received.append(msg.data)

    listener = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        await listener.subscribe(subject, cb=on_message)
        await listener.flush()
        cfg = config_for(nats_url)
        async with ConnectionPool(cfg) as pool:

            async def borrower(i: int) -> int:
                async with pool.connection() as nc:  # all 200 arrive before any connection exists
                    await nc.publish(subject, str(i).encode())
                    await nc.flush()
                    return id(nc)

            ids = await asyncio.gather(*(borrower(i) for i in range(200)))
            assert len(set(ids)) == 1
            assert clients_named(nats_server, cfg.client_name) == 1
            await async_wait_until(lambda: len(received) == 200, what="200 messages")
            stats = pool.stats()
            assert stats.connections_opened == 1
            assert stats.borrows == 200
        wait_until(lambda: clients_named(nats_server, cfg.client_name) == 0, what="/connz back to 0")
    finally:
        await listener.close()


async def test_size_three_opens_three_connections_and_closes_them(nats_server: Any, nats_url: str) -> None:
    cfg = config_for(nats_url)
    pool = ConnectionPool(cfg, size=3)
    seen = []
    for _ in range(9):
        async with pool.connection() as nc:
            seen.append(id(nc))
            await nc.flush()
    assert len(set(seen)) == 3
    assert seen[:3] == seen[3:6] == seen[6:]  # round-robin
    assert clients_named(nats_server, cfg.client_name) == 3
    await pool.close()
    await pool.close()
    wait_until(lambda: clients_named(nats_server, cfg.client_name) == 0, what="/connz back to 0")


async def test_kv_and_object_store_borrow(nats_url: str, raw_js: Any) -> None:
    bucket = unique("poolkv")
    obj_bucket = unique("poolobj")
    async with ConnectionPool(config_for(nats_url)) as pool:
        with pytest.raises(NaqBucketNotFoundError) as info:
            async with pool.kv_store(bucket):
                pass
        assert info.value.bucket == bucket
        async with pool.kv_store(bucket, create=True, history=3) as kv:
            await kv.put("k", b"v1")
        async with pool.kv_store(bucket) as kv2:
            assert kv2 is kv
            assert (await kv2.get("k")).value == b"v1"
            with pytest.raises(nats.js.errors.KeyNotFoundError):
                await kv2.get("missing")
        assert pool.stats().bucket_invalidations == 0
        async with pool.object_store(obj_bucket, create=True) as obj:
            await obj.put("file", b"content")
        async with pool.object_store(obj_bucket) as obj2:
            assert (await obj2.get("file")).data == b"content"
        async with pool.jetstream() as js:
            assert (await js.account_info()).streams >= 2
    await raw_js.delete_key_value(bucket)
    await raw_js.delete_object_store(obj_bucket)


async def test_bucket_deleted_and_recreated_under_a_live_pool(nats_url: str, raw_js: Any) -> None:
    bucket = unique("poolre")
    async with ConnectionPool(config_for(nats_url)) as pool:
        async with pool.kv_store(bucket, create=True, direct=True) as kv:
            await kv.put("k", b"old")
        lookups = pool.stats().bucket_lookups

        await raw_js.delete_key_value(bucket)

        # The stale handle reports the missing stream; the error reaches the caller unchanged ...
        async def put_through_stale_handle() -> None:
            async with pool.kv_store(bucket) as stale:
                assert stale is kv
                await stale.put("k", b"lost")

        with pytest.raises(nats.js.errors.NoStreamResponseError):
            await put_through_stale_handle()
        # ... and the handle is dropped: the next borrow looks the bucket up and finds it missing.
        with pytest.raises(NaqBucketNotFoundError):
            async with pool.kv_store(bucket):
                pass

        await raw_js.create_key_value(bucket=bucket, history=5)  # recreated, different settings
        async with pool.kv_store(bucket) as fresh:
            assert fresh is not kv
            await fresh.put("k", b"new")
            entry = await fresh.get("k")
        assert entry.value == b"new"
        assert (await fresh.status()).history == 5
        assert pool.stats().bucket_lookups > lookups
        assert pool.stats().bucket_invalidations == 1
    await raw_js.delete_key_value(bucket)


async def test_recreated_bucket_without_direct_get_is_relooked_up(nats_url: str, raw_js: Any) -> None:
    """Delete + recreate with no failed call in between: the stale handle still puts (same
    subjects); its direct-get setting is stale and the first failing get drops it."""
    bucket = unique("pooldirect")
    async with ConnectionPool(config_for(nats_url)) as pool:
        async with pool.kv_store(bucket, create=True, direct=True) as kv:
            await kv.put("k", b"old")
        await raw_js.delete_key_value(bucket)
        await raw_js.create_key_value(bucket=bucket)  # direct get off now
        async with pool.kv_store(bucket) as stale:
            await stale.put("k", b"new")  # works: a KV put is a publish to $KV.<bucket>.k
        with pytest.raises(nats.errors.NoRespondersError):
            async with pool.kv_store(bucket) as stale:
                await stale.get("k")
        async with pool.kv_store(bucket) as fresh:
            assert fresh is not kv
            assert (await fresh.get("k")).value == b"new"
    await raw_js.delete_key_value(bucket)


async def test_connection_closed_for_good_is_replaced(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=False)
    cfg = config_for(server.url, max_reconnect_attempts=1, reconnect_time_wait=0.1, connection_timeout=1.0)
    async with ConnectionPool(cfg) as pool:
        async with pool.connection() as first:
            await first.flush()
        server.kill()
        await async_wait_until(lambda: first.is_closed, timeout=15, what="reconnect attempts to run out")
        with pytest.raises(NaqConnectionError, match="failed"):  # still down: this attempt fails
            async with pool.connection():
                pass
        await asyncio.to_thread(server.restart)
        async with pool.connection() as second:
            assert second is not first
            assert second.is_connected
            await second.flush()
            assert await second.rtt() >= 0
        stats = pool.stats()
        assert stats.replacements == 1  # counted although the first attempt failed
        assert stats.connect_failures == 1
        assert stats.connections_opened == 2
        assert server.client_count() == 1
    wait_until(lambda: server.client_count() == 0, what="/connz back to 0")


@pytest.mark.parametrize("create", [False, True])
async def test_jetstream_disabled_server_gives_the_context_managers_error(
    nats_server_factory: Any, create: bool
) -> None:
    from naq.connection.context_managers import nats_kv_store

    server = nats_server_factory(jetstream=False)
    url = server.url.replace("nats://", "nats://dave:pool-pw@")  # the server has no auth: ignored
    async with ConnectionPool(config_for(url)) as pool:
        with pytest.raises(NaqConnectionError, match="JetStream is not available") as from_pool:
            async with pool.kv_store("settings", create=create):
                pytest.fail("body must not run")
        with pytest.raises(NaqConnectionError, match="JetStream is not available") as via_cm:
            async with nats_kv_store("settings", create=create, pool=pool):
                pytest.fail("body must not run")
    for caught in (from_pool, via_cm):
        error = caught.value
        assert isinstance(error.__cause__, nats.js.errors.ServiceUnavailableError)
        assert error.servers == pool.config.redacted_servers()
        assert "nats://dave:***@127.0.0.1:" in str(error)
        assert "pool-pw" not in str(error)
    wait_until(lambda: server.client_count() == 0, what="/connz back to 0")


async def test_reconnecting_connection_is_kept(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=False)
    cfg = config_for(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    async with ConnectionPool(cfg) as pool:
        async with pool.connection() as first:
            await first.flush()
        server.kill()
        await async_wait_until(lambda: first.is_reconnecting, what="reconnecting")
        async with pool.connection() as during:
            assert during is first  # merely reconnecting: not replaced
        await asyncio.to_thread(server.restart)
        await async_wait_until(lambda: first.is_connected, timeout=15, what="reconnected")
        async with pool.connection() as after:
            assert after is first
            await after.flush()
        assert pool.stats().replacements == 0
        assert pool.stats().connections_opened == 1


async def test_use_from_another_thread_loop_fails_fast(nats_url: str) -> None:
    async with ConnectionPool(config_for(nats_url)) as pool:
        async with pool.connection() as nc:
            await nc.flush()
        errors: list[BaseException] = []

        def other_thread() -> None:
            async def borrow() -> None:
                async with pool.connection() as other:
                    await other.flush()

            try:
                asyncio.run(asyncio.wait_for(borrow(), 5))
            except BaseException as exc:
                errors.append(exc)

        started = time.monotonic()
        thread = threading.Thread(target=other_thread)
        thread.start()
        await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive()
        assert time.monotonic() - started < 5
        assert len(errors) == 1
        assert isinstance(errors[0], NaqConnectionError)
        assert "another event loop" in str(errors[0])
        async with pool.connection() as nc:  # still fine on its own loop
            await nc.flush()


async def test_events_count_one_pooled_connection(nats_url: str) -> None:
    seen: list[events.ConnectionEvent] = []
    remove = events.add_listener(seen.append)
    try:
        async with ConnectionPool(config_for(nats_url)) as pool:
            for _ in range(5):
                async with pool.connection():
                    pass
    finally:
        remove()
    kinds = [e.kind for e in seen]
    assert kinds.count(events.ConnectionEventKind.CONNECTED) == 1
    assert kinds.count(events.ConnectionEventKind.BORROWED) == 5
    assert kinds.count(events.ConnectionEventKind.CLOSED) == 1
    assert all(e.pooled for e in seen)
    connected = next(e for e in seen if e.kind is events.ConnectionEventKind.CONNECTED)
    assert {e.connection_id for e in seen} == {connected.connection_id}


async def test_default_pools_share_and_close(nats_server: Any, nats_url: str) -> None:
    cfg = config_for(nats_url)
    pool = get_default_pool(cfg)
    for _ in range(3):
        async with get_default_pool(cfg).connection() as nc:
            await nc.flush()
    assert get_default_pool(cfg) is pool
    assert clients_named(nats_server, cfg.client_name) == 1
    await close_default_pools()
    assert pool.closed
    wait_until(lambda: clients_named(nats_server, cfg.client_name) == 0, what="/connz back to 0")


def test_pools_left_open_are_closed_with_their_loop_quietly(
    nats_server: Any, nats_url: str, tmp_path: Any
) -> None:
    """asyncio.run cancels the loop's tasks at its end: the pools still open are closed then, cleanly."""
    script = tmp_path / "leave_open.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio
            from naq.connection.config import NatsConfig
            from naq.connection.pool import ConnectionPool, get_default_pool

            cfg = NatsConfig(servers={nats_url!r}, client_name="exit-test", drain_timeout=1.0)
            pool = ConnectionPool(cfg)

            async def main():
                async with pool.connection() as nc:
                    await nc.flush()
                async with get_default_pool(cfg).connection() as nc:
                    await nc.flush()
                print("done", flush=True)

            asyncio.run(main())
            """
        )
    )
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout
    assert "at interpreter exit" not in result.stderr, result.stderr  # nothing left open to warn about
    assert "Traceback" not in result.stderr
    assert "Unclosed" not in result.stderr
    wait_until(lambda: clients_named(nats_server, "exit-test") == 0, what="/connz back to 0")


async def test_nats_kv_store_with_pool_borrows_and_invalidates(nats_url: str, raw_js: Any) -> None:
    """The context manager's ``pool=`` path hands body errors to the pool, so invalidation works there too."""
    from naq.connection.context_managers import nats_kv_store

    bucket = unique("poolcm")
    async with ConnectionPool(config_for(nats_url)) as pool:
        async with nats_kv_store(bucket, create=True, pool=pool) as kv:
            await kv.put("k", b"1")
        await raw_js.delete_key_value(bucket)

        async def put() -> None:
            async with nats_kv_store(bucket, pool=pool) as stale:
                await stale.put("k", b"2")

        with pytest.raises(nats.js.errors.NoStreamResponseError):
            await put()
        await raw_js.create_key_value(bucket=bucket)
        async with nats_kv_store(bucket, pool=pool) as fresh:
            assert fresh is not kv
            await fresh.put("k", b"3")
            assert (await fresh.get("k")).value == b"3"
        assert pool.stats().connections_opened == 1
    await raw_js.delete_key_value(bucket)
