"""Read server-side state with a plain nats-py client, normalised so runs under different names compare.

The inspecting client is opened and closed here, so leak checks after these calls see only what the
code under test left behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.errors import NotFoundError


@contextlib.asynccontextmanager
async def inspector(url: str, **kwargs: Any) -> AsyncIterator[Client]:
    """A raw nats-py client for reading state, closed on exit."""
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1, allow_reconnect=False, **kwargs)
    try:
        yield nc
    finally:
        await nc.close()


def _norm(text: str, prefix: str) -> str:
    return text.replace(prefix, "<P>")


async def stream_snapshot(url: str, stream: str, prefix: str) -> dict[str, Any]:
    """Message count, and every message (subject, data, headers) with the test's prefix normalised."""
    async with inspector(url) as nc:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        msgs = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                m = await js.get_msg(stream, seq)
            except NotFoundError:
                continue
            headers = {k: _norm(v, prefix) for k, v in (m.headers or {}).items()}
            msgs.append((_norm(m.subject or "", prefix), m.data, headers))
        return {
            "messages": info.state.messages,
            "subjects": [_norm(s, prefix) for s in info.config.subjects or []],
            "msgs": msgs,
        }


async def msg_ids_in_stream(url: str, stream: str, **connect_kwargs: Any) -> list[str]:
    """Every Nats-Msg-Id stored in the stream, in sequence order (duplicates kept, to be counted)."""
    async with inspector(url, **connect_kwargs) as nc:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        ids = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                m = await js.get_msg(stream, seq)
            except NotFoundError:
                continue
            ids.append((m.headers or {}).get("Nats-Msg-Id", f"<no id at seq {seq}>"))
        return ids


KV_CONFIG_FIELDS = ("max_msgs_per_subject", "max_bytes", "max_age", "storage", "num_replicas", "allow_direct")


async def kv_snapshot(url: str, bucket: str) -> dict[str, Any]:
    """Keys, latest value and revision of each, and the bucket's stream settings."""
    async with inspector(url) as nc:
        js = nc.jetstream()
        kv = await js.key_value(bucket)
        try:
            keys = sorted(await kv.keys())
        except nats.js.errors.NoKeysError:
            keys = []
        entries = {}
        for key in keys:
            e = await kv.get(key)
            entries[key] = (e.value, e.revision)
        info = await js.stream_info(f"KV_{bucket}")
        cfg = {f: getattr(info.config, f) for f in KV_CONFIG_FIELDS}
        return {"keys": keys, "entries": entries, "config": cfg, "messages": info.state.messages}
