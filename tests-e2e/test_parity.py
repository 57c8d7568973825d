"""Area 1 -- migration parity: raw nats-py vs context managers vs decorators, per call and pooled.

Each naq pattern ("connect, publish, close", "connect, JetStream, add stream, publish, close",
"connect, JetStream, KV bucket, put / get, close") is run once by hand with nats-py and once through
the variant under test, under different unique names; the server-side state (messages, headers,
stream settings, KV keys / values / revisions) must be identical once the names are normalised.
The number of TCP connections each variant made is read from the server's /varz, and the server
must report no client left open afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pytest
from naq_e2e_state import inspector, kv_snapshot, stream_snapshot
from naq_e2e_support import assert_no_clients, total_connections, unique

from naq.connection import ConnectionPool, NatsConfig, nats_connection, nats_jetstream, nats_kv_store
from naq.connection.decorators import with_jetstream_context, with_kv_store, with_nats_connection

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("nats_leak_check")]

VARIANTS = ["cm", "cm_pooled", "decorator", "decorator_pooled"]
PAYLOADS = [b"m0", b"m1", b"\x00binary\xff"]


def _cfg(url: str) -> NatsConfig:
    return NatsConfig(servers=url, connection_timeout=3.0, max_reconnect_attempts=2, reconnect_time_wait=0.2)


# ---- pattern 1: connect, publish, close ------------------------------------------------------


async def _core_raw(url: str, subject: str) -> None:
    nc = await nats.connect(url)
    for i, p in enumerate(PAYLOADS):
        await nc.publish(subject, p, headers={"n": str(i)})
    await nc.close()


def _core_variant(
    kind: str, cfg: NatsConfig, pool: ConnectionPool | None
) -> Callable[[str], Awaitable[None]]:
    if kind.startswith("cm"):

        async def run_cm(subject: str) -> None:
            async with nats_connection(None if pool else cfg, pool=pool) as nc:
                for i, p in enumerate(PAYLOADS):
                    await nc.publish(subject, p, headers={"n": str(i)})

        return run_cm

    deco = with_nats_connection(pool=pool) if pool is not None else with_nats_connection(config=cfg)

    @deco
    async def publish_one(nc: Any, subject: str, i: int, payload: bytes) -> None:
        await nc.publish(subject, payload, headers={"n": str(i)})

    async def run_deco(subject: str) -> None:
        for i, p in enumerate(PAYLOADS):
            await publish_one(subject, i, p)

    return run_deco


async def _collect(url: str, subject: str, run: Callable[[], Awaitable[None]]) -> list[tuple[bytes, str]]:
    async with inspector(url) as nc:
        sub = await nc.subscribe(subject)
        await nc.flush()
        await run()
        got = []
        for _ in PAYLOADS:
            msg = await sub.next_msg(timeout=2)
            got.append((msg.data, (msg.headers or {}).get("n", "")))
        with pytest.raises(nats.errors.TimeoutError):  # nothing extra delivered
            await sub.next_msg(timeout=0.1)
        return got


def _expected_connections(kind: str, per_call: int) -> int:
    return 1 if kind.endswith("pooled") else per_call


async def _with_pool(
    kind: str, cfg: NatsConfig, body: Callable[[ConnectionPool | None], Awaitable[Any]]
) -> Any:
    if not kind.endswith("pooled"):
        return await body(None)
    async with ConnectionPool(cfg) as pool:
        return await body(pool)


@pytest.mark.parametrize("kind", VARIANTS)
async def test_core_publish_parity(js_server: Any, kind: str) -> None:
    url = js_server.url
    raw_subject, subject = unique("parity.core"), unique("parity.core")
    expected = await _collect(url, raw_subject, lambda: _core_raw(url, raw_subject))
    assert expected == [(p, str(i)) for i, p in enumerate(PAYLOADS)]

    before = total_connections(js_server)

    async def body(pool: ConnectionPool | None) -> list[tuple[bytes, str]]:
        run = _core_variant(kind, _cfg(url), pool)
        return await _collect(url, subject, lambda: run(subject))

    got = await _with_pool(kind, _cfg(url), body)
    assert got == expected
    # inspector = 1 connection; the variant: one per publish when per call, one for the pool.
    per_call = 1 if kind == "cm" else len(PAYLOADS)
    assert total_connections(js_server) - before == 1 + _expected_connections(kind, per_call)
    await assert_no_clients(js_server)


# ---- pattern 2: connect, JetStream, add stream, publish, close --------------------------------


async def _js_pattern(js: Any, stream: str, subject: str) -> list[tuple[int, bool]]:
    await js.add_stream(name=stream, subjects=[f"{subject}.>"])
    acks = []
    for i, p in enumerate(PAYLOADS):
        ack = await js.publish(f"{subject}.a", p, headers={"Nats-Msg-Id": f"{subject}-{i}"})
        acks.append((ack.seq, bool(ack.duplicate)))
    # a re-sent message id is de-duplicated the same way everywhere
    ack = await js.publish(f"{subject}.a", PAYLOADS[0], headers={"Nats-Msg-Id": f"{subject}-0"})
    acks.append((ack.seq, bool(ack.duplicate)))
    return acks


async def _js_raw(url: str, stream: str, subject: str) -> list[tuple[int, bool]]:
    nc = await nats.connect(url)
    try:
        return await _js_pattern(nc.jetstream(), stream, subject)
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", VARIANTS)
async def test_jetstream_publish_parity(js_server: Any, kind: str) -> None:
    url = js_server.url
    p_raw, p_var = unique("PARJS"), unique("PARJS")
    raw_acks = await _js_raw(url, p_raw, p_raw.lower())
    assert raw_acks == [(1, False), (2, False), (3, False), (1, True)]

    before = total_connections(js_server)

    async def body(pool: ConnectionPool | None) -> list[tuple[int, bool]]:
        if kind.startswith("cm"):
            async with nats_jetstream(None if pool else _cfg(url), pool=pool) as (_nc, js):
                return await _js_pattern(js, p_var, p_var.lower())
        deco = (
            with_jetstream_context(pool=pool)
            if pool is not None
            else with_jetstream_context(config=_cfg(url))
        )

        @deco
        async def work(js: Any, stream: str, subject: str) -> list[tuple[int, bool]]:
            return await _js_pattern(js, stream, subject)

        return await work(p_var, p_var.lower())

    acks = await _with_pool(kind, _cfg(url), body)
    assert total_connections(js_server) - before == 1
    assert acks == raw_acks

    raw_state = await stream_snapshot(url, p_raw, p_raw.lower())
    state = await stream_snapshot(url, p_var, p_var.lower())
    assert raw_state["messages"] == 3
    assert raw_state["subjects"] == ["<P>.>"]
    assert state == raw_state
    await assert_no_clients(js_server)


# ---- pattern 3: connect, JetStream, KV bucket, put / get, close -------------------------------


async def _kv_pattern(kv: Any) -> list[Any]:
    out: list[Any] = []
    out.append(await kv.put("k1", b"v1"))
    out.append(await kv.put("k2", b"v2"))
    out.append(await kv.put("k1", b"v1b"))
    out.append((await kv.get("k1")).value)
    out.append((await kv.get("k2")).value)
    await kv.delete("k2")
    out.append(await kv.put("k3", b""))
    return out


async def _kv_raw(url: str, bucket: str) -> list[Any]:
    nc = await nats.connect(url)
    try:
        kv = await nc.jetstream().create_key_value(bucket=bucket)
        return await _kv_pattern(kv)
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", VARIANTS)
async def test_kv_parity(js_server: Any, kind: str) -> None:
    url = js_server.url
    b_raw, b_var = unique("parkv"), unique("parkv")
    raw_out = await _kv_raw(url, b_raw)
    assert raw_out == [1, 2, 3, b"v1b", b"v2", 5]

    before = total_connections(js_server)

    async def body(pool: ConnectionPool | None) -> list[Any]:
        if kind.startswith("cm"):
            async with nats_kv_store(b_var, None if pool else _cfg(url), create=True, pool=pool) as kv:
                return await _kv_pattern(kv)
        if pool is not None:
            deco = with_kv_store(b_var, pool=pool, create=True)
        else:
            deco = with_kv_store(b_var, config=_cfg(url), create=True)

        @deco
        async def work(kv: Any) -> list[Any]:
            return await _kv_pattern(kv)

        return await work()

    out = await _with_pool(kind, _cfg(url), body)
    assert out == raw_out
    assert total_connections(js_server) - before == 1

    raw_state = await kv_snapshot(url, b_raw)
    state = await kv_snapshot(url, b_var)
    assert raw_state["keys"] == ["k1", "k3"]
    assert state == raw_state
    await assert_no_clients(js_server)


async def test_pooled_variants_share_one_connection(js_server: Any) -> None:
    """All three patterns through one pool: one TCP connection in total, closed with the pool."""
    url = js_server.url
    prefix = unique("PARPOOL")
    before = total_connections(js_server)
    async with ConnectionPool(_cfg(url)) as pool:

        @with_nats_connection(pool=pool)
        async def pub(nc: Any) -> None:
            await nc.publish(f"{prefix}.core", b"x")

        @with_jetstream_context(pool=pool)
        async def jspub(js: Any) -> int:
            await js.add_stream(name=prefix, subjects=[f"{prefix}.js"])
            return int((await js.publish(f"{prefix}.js", b"y")).seq)

        @with_kv_store(f"{prefix}_kv", pool=pool, create=True)
        async def kvput(kv: Any) -> int:
            return int(await kv.put("k", b"z"))

        results = await asyncio.gather(pub(), jspub(), kvput(), pub(), kvput())
        assert results[1] == 1
        assert sorted([results[2], results[4]]) == [1, 2]
        assert js_server.client_count() == 1
    assert total_connections(js_server) - before == 1
    await assert_no_clients(js_server)


async def test_reuse_connections_env_pools_unchanged_code(
    js_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NAQ_NATS_REUSE_CONNECTIONS=true: per-call code, unedited, shares one connection per event loop."""
    from naq.connection.config import reset_config
    from naq.connection.pool import close_default_pools

    monkeypatch.setenv("NAQ_NATS_URL", js_server.url)
    monkeypatch.setenv("NAQ_NATS_REUSE_CONNECTIONS", "true")
    reset_config()
    prefix = unique("REUSE")

    @with_jetstream_context()
    async def jspub(js: Any, i: int) -> int:
        return int((await js.publish(f"{prefix}.js", str(i).encode())).seq)

    before = total_connections(js_server)
    try:
        async with nats_jetstream() as (_nc, js):
            await js.add_stream(name=prefix, subjects=[f"{prefix}.js"])
        seqs = sorted(await asyncio.gather(*(jspub(i) for i in range(20))))
        async with nats_kv_store(f"{prefix}_kv", create=True) as kv:
            await kv.put("k", b"v")
        async with nats_connection() as nc:
            await nc.rtt()
        assert seqs == list(range(1, 21))
        assert total_connections(js_server) - before == 1  # one pooled connection for all of it
        assert js_server.client_count() == 1
    finally:
        await close_default_pools()
    await assert_no_clients(js_server)
