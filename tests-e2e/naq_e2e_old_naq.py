"""The original naq connection helpers, written by hand as naq had them (the "old pattern").

A module-global connection and JetStream context, ``get_nats_connection`` connecting on first use,
``get_jetstream_context`` caching ``nc.jetstream()``, ``close_nats_connection`` closing and forgetting
both, and ``ensure_stream``. Kept deliberately close to the original so the equivalence tests compare
the new packages against what naq really did -- not against an improved rewrite.
"""

from __future__ import annotations

from typing import Any

import nats
from nats.aio.client import Client as NATSClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

DEFAULT_NATS_URL = "nats://localhost:4222"

_nc: NATSClient | None = None
_js: JetStreamContext | None = None


async def get_nats_connection(url: str = DEFAULT_NATS_URL) -> NATSClient:
    """Return the shared connection, connecting on first use (as naq's connection.py did)."""
    global _nc
    if _nc is None or not _nc.is_connected:
        _nc = await nats.connect(url, name="naq_client")
    return _nc


async def get_jetstream_context(nc: NATSClient | None = None) -> JetStreamContext:
    """Return the shared JetStream context."""
    global _js
    if _js is None:
        if nc is None:
            nc = await get_nats_connection()
        _js = nc.jetstream()
    return _js


async def close_nats_connection() -> None:
    """Close the shared connection and forget it and its JetStream context."""
    global _nc, _js
    if _nc is not None and not _nc.is_closed:
        await _nc.close()
    _nc = None
    _js = None


async def ensure_stream(js: JetStreamContext, stream_name: str, subjects: list[str]) -> None:
    """Create the stream unless it exists."""
    try:
        await js.stream_info(stream_name)
    except NotFoundError:
        await js.add_stream(name=stream_name, subjects=subjects)


# ---- the naq operations built on them -------------------------------------------------------


async def enqueue(url: str, stream: str, queue: str, job_id: str, payload: bytes) -> tuple[int, bool]:
    nc = await get_nats_connection(url)
    js = await get_jetstream_context(nc)
    await ensure_stream(js, stream, [f"{stream.lower()}.queue.*"])
    ack = await js.publish(f"{stream.lower()}.queue.{queue}", payload, headers={"Nats-Msg-Id": job_id})
    return ack.seq, bool(ack.duplicate)


async def process_jobs(url: str, stream: str, results_bucket: str, count: int) -> list[str]:
    """Fetch ``count`` jobs, store ``payload.upper()`` as each job's result, ack; return job ids in order."""
    nc = await get_nats_connection(url)
    js = await get_jetstream_context(nc)
    try:
        kv = await js.key_value(results_bucket)
    except Exception:
        kv = await js.create_key_value(bucket=results_bucket)
    sub = await js.pull_subscribe(f"{stream.lower()}.queue.*", durable="worker", stream=stream)
    done = []
    msgs = await sub.fetch(count, timeout=5)
    for msg in msgs:
        job_id = (msg.headers or {})["Nats-Msg-Id"]
        await kv.put(job_id, msg.data.upper())
        await msg.ack()
        done.append(job_id)
    await sub.unsubscribe()
    return done


async def get_result(url: str, results_bucket: str, job_id: str) -> Any:
    nc = await get_nats_connection(url)
    js = await get_jetstream_context(nc)
    kv = await js.key_value(results_bucket)
    return (await kv.get(job_id)).value
