"""Area 9 -- the original naq pattern vs the new packages: same results, same server state.

The old pattern (``naq_e2e_old_naq``: module-global connection via ``get_nats_connection`` /
``get_jetstream_context`` / ``close_nats_connection``, as naq had it) and the new one (context
managers per call, and decorators over a pool) run the same job-queue scenario -- enqueue jobs with
de-duplicating ids, a worker storing results in a KV bucket, results read back -- under different
names. Results, stream contents, consumer state and KV contents must be identical. Failures the
caller sees must be the same exception types where the new API promises "unchanged" propagation.
Performance comparisons live in the benchmark suite, never here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import naq_e2e_old_naq as old
import pytest
from naq_e2e_state import inspector, kv_snapshot, stream_snapshot
from naq_e2e_support import assert_no_clients, total_connections, unique
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from naq.connection import (
    ConnectionPool,
    NaqBucketNotFoundError,
    NatsConfig,
    nats_jetstream,
    nats_kv_store,
)
from naq.connection.decorators import with_jetstream_context, with_kv_store
from naq.testing import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("nats_leak_check")]

JOBS = [("default", "job-a", b"alpha"), ("default", "job-b", b"beta"), ("high", "job-c", b"gamma")]


@pytest.fixture(autouse=True)
async def _old_closed() -> AsyncIterator[None]:
    yield
    await old.close_nats_connection()


def _cfg(url: str) -> NatsConfig:
    return NatsConfig(servers=url, connection_timeout=3.0)


async def _scenario_old(url: str, stream: str, bucket: str) -> dict[str, Any]:
    acks = [await old.enqueue(url, stream, q, f"{stream}-{jid}", p) for q, jid, p in JOBS]
    acks.append(await old.enqueue(url, stream, "default", f"{stream}-job-a", b"alpha"))  # re-sent
    done = await old.process_jobs(url, stream, bucket, len(JOBS))
    results = [await old.get_result(url, bucket, f"{stream}-{jid}") for _q, jid, _p in JOBS]
    await old.close_nats_connection()
    return {"acks": acks, "done": done, "results": results}


# ---- the new pattern, two ways -------------------------------------------------------------


async def _scenario_new_per_call(url: str, stream: str, bucket: str) -> dict[str, Any]:
    cfg = _cfg(url)

    async def enqueue(queue: str, job_id: str, payload: bytes) -> tuple[int, bool]:
        async with nats_jetstream(cfg) as (_nc, js):
            await old.ensure_stream(js, stream, [f"{stream.lower()}.queue.*"])
            ack = await js.publish(
                f"{stream.lower()}.queue.{queue}", payload, headers={"Nats-Msg-Id": job_id}
            )
            return ack.seq, bool(ack.duplicate)

    acks = [await enqueue(q, f"{stream}-{jid}", p) for q, jid, p in JOBS]
    acks.append(await enqueue("default", f"{stream}-job-a", b"alpha"))

    done = []
    async with nats_jetstream(cfg) as (_nc, js), nats_kv_store(bucket, cfg, create=True) as kv:
        sub = await js.pull_subscribe(f"{stream.lower()}.queue.*", durable="worker", stream=stream)
        for msg in await sub.fetch(len(JOBS), timeout=5):
            job_id = (msg.headers or {})["Nats-Msg-Id"]
            await kv.put(job_id, msg.data.upper())
            await msg.ack()
            done.append(job_id)
        await sub.unsubscribe()

    results = []
    for _q, jid, _p in JOBS:
        async with nats_kv_store(bucket, cfg) as kv:
            results.append((await kv.get(f"{stream}-{jid}")).value)
    return {"acks": acks, "done": done, "results": results}


async def _scenario_new_pooled(url: str, stream: str, bucket: str) -> dict[str, Any]:
    async with ConnectionPool(_cfg(url)) as pool:

        @with_jetstream_context(pool=pool)
        async def enqueue(js: Any, queue: str, job_id: str, payload: bytes) -> tuple[int, bool]:
            await old.ensure_stream(js, stream, [f"{stream.lower()}.queue.*"])
            ack = await js.publish(
                f"{stream.lower()}.queue.{queue}", payload, headers={"Nats-Msg-Id": job_id}
            )
            return ack.seq, bool(ack.duplicate)

        @with_kv_store(bucket, pool=pool, create=True)
        async def store(kv: Any, job_id: str, value: bytes) -> None:
            await kv.put(job_id, value)

        @with_jetstream_context(pool=pool)
        async def work(js: Any) -> list[str]:
            sub = await js.pull_subscribe(f"{stream.lower()}.queue.*", durable="worker", stream=stream)
            ids = []
            for msg in await sub.fetch(len(JOBS), timeout=5):
                job_id = (msg.headers or {})["Nats-Msg-Id"]
                await store(job_id, msg.data.upper())
                await msg.ack()
                ids.append(job_id)
            await sub.unsubscribe()
            return ids

        @with_kv_store(bucket, pool=pool)
        async def result(kv: Any, job_id: str) -> bytes:
            return bytes((await kv.get(job_id)).value)

        acks = [await enqueue(q, f"{stream}-{jid}", p) for q, jid, p in JOBS]
        acks.append(await enqueue("default", f"{stream}-job-a", b"alpha"))
        done = await work()
        results = [await result(f"{stream}-{jid}") for _q, jid, _p in JOBS]
    return {"acks": acks, "done": done, "results": results}


async def _consumer_state(url: str, stream: str) -> tuple[int, int, int]:
    async with inspector(url) as nc:
        info = await nc.jetstream().consumer_info(stream, "worker")
    return info.delivered.stream_seq, info.ack_floor.stream_seq, info.num_pending


def _normalise(out: dict[str, Any], stream: str) -> dict[str, Any]:
    return {**out, "done": [d.replace(stream, "<S>") for d in out["done"]]}


@pytest.mark.parametrize("new_style", ["per_call", "pooled"])
async def test_job_queue_scenario_is_equivalent(js_server: NatsServer, new_style: str) -> None:
    url = js_server.url
    s_old, s_new = unique("OLDQ"), unique("NEWQ")
    b_old, b_new = unique("oldres"), unique("newres")

    before = total_connections(js_server)
    out_old = await _scenario_old(url, s_old, b_old)
    assert total_connections(js_server) - before == 1  # the old module-global connection
    await assert_no_clients(js_server)

    run = _scenario_new_per_call if new_style == "per_call" else _scenario_new_pooled
    before = total_connections(js_server)
    out_new = await run(url, s_new, b_new)
    made = total_connections(js_server) - before
    assert made == (1 if new_style == "pooled" else len(JOBS) + 1 + 2 + len(JOBS))
    await assert_no_clients(js_server)

    assert out_old["acks"] == [(1, False), (2, False), (3, False), (1, True)]
    assert out_old["results"] == [b"ALPHA", b"BETA", b"GAMMA"]
    assert _normalise(out_new, s_new) == _normalise(out_old, s_old)

    assert await stream_snapshot(url, s_new, s_new.lower()) == _renamed(
        await stream_snapshot(url, s_old, s_old.lower()), s_old, s_new
    )
    assert await _consumer_state(url, s_new) == await _consumer_state(url, s_old) == (3, 3, 0)
    kv_old, kv_new = await kv_snapshot(url, b_old), await kv_snapshot(url, b_new)
    assert [k.replace(s_new, "<S>") for k in kv_new["keys"]] == [
        k.replace(s_old, "<S>") for k in kv_old["keys"]
    ]
    assert sorted(v for v in kv_new["entries"].values()) == sorted(v for v in kv_old["entries"].values())
    assert kv_new["config"] == kv_old["config"]
    await assert_no_clients(js_server)


def _renamed(snapshot: dict[str, Any], old_name: str, new_name: str) -> dict[str, Any]:
    """Stream snapshots normalise the lower-case subject prefix; message ids carry the stream name."""
    msgs = [
        (subj, data, {k: v.replace(old_name, new_name) for k, v in headers.items()})
        for subj, data, headers in snapshot["msgs"]
    ]
    return {**snapshot, "msgs": msgs}


async def test_missing_key_raises_the_same_error_old_and_new(js_server: NatsServer) -> None:
    url = js_server.url
    bucket = unique("samekey")
    async with inspector(url) as nc:
        await nc.jetstream().create_key_value(bucket=bucket)

    with pytest.raises(KeyNotFoundError):
        await old.get_result(url, bucket, "nope")
    await old.close_nats_connection()

    with pytest.raises(KeyNotFoundError):  # propagated unchanged through the context manager
        async with nats_kv_store(bucket, _cfg(url)) as kv:
            await kv.get("nope")

    @with_kv_store(bucket, config=_cfg(url))
    async def get(kv: Any, key: str) -> Any:
        return await kv.get(key)

    with pytest.raises(KeyNotFoundError):  # and through the decorator
        await get("nope")
    await assert_no_clients(js_server)


async def test_missing_bucket_old_vs_new_documented_difference(js_server: NatsServer) -> None:
    """Old: nats-py's BucketNotFoundError (no name in it). New: NaqBucketNotFoundError naming the bucket."""
    url = js_server.url
    bucket = unique("nobucket")
    with pytest.raises(BucketNotFoundError) as old_err:
        await old.get_result(url, bucket, "k")
    await old.close_nats_connection()
    assert bucket not in str(old_err.value)  # what the old pattern gave users

    with pytest.raises(NaqBucketNotFoundError) as new_err:
        async with nats_kv_store(bucket, _cfg(url)):
            pass
    assert new_err.value.bucket == bucket
    assert bucket in str(new_err.value)
    assert isinstance(new_err.value.__cause__, BucketNotFoundError)  # the nats-py error is chained
    await assert_no_clients(js_server)
