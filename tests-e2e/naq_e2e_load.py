"""A JetStream producer for the fault scenarios: unique Nats-Msg-Id per message, acks recorded.

Shared by the server-restart (area 3) and cluster-failover (area 4) tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.js.errors


@dataclass
class ProducerResult:
    acked: dict[str, int] = field(default_factory=dict)  # msg id -> stream sequence
    duplicates: int = 0  # acks flagged duplicate (a retry of a message the server already had)
    failed: dict[str, str] = field(default_factory=dict)  # msg id -> error type after retries gave up
    ack_times: list[float] = field(default_factory=list)  # monotonic time of every ack


async def produce(
    publish: Callable[[str, int], Awaitable[Any]],
    count: int,
    *,
    prefix: str,
    workers: int = 8,
    result: ProducerResult | None = None,
) -> ProducerResult:
    """Publish ``count`` messages through ``publish(msg_id, i)`` with ``workers`` concurrent producers.

    Pass ``result`` to watch progress from another task while this runs.
    """
    result = ProducerResult() if result is None else result
    next_i = iter(range(count))

    async def worker() -> None:
        for i in next_i:
            msg_id = f"{prefix}-{i:05d}"
            try:
                ack = await publish(msg_id, i)
            except Exception as exc:
                result.failed[msg_id] = type(exc).__name__
                continue
            result.ack_times.append(time.monotonic())
            result.acked[msg_id] = int(ack.seq)
            if ack.duplicate:
                result.duplicates += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return result


async def consume_all(servers: list[str], stream: str, expected: int, *, timeout: float = 30.0) -> list[str]:
    """Read the whole stream with a durable pull consumer, acking each; return the Nats-Msg-Ids seen."""
    nc = await nats.connect(
        servers=servers, connect_timeout=2, max_reconnect_attempts=5, reconnect_time_wait=0.2
    )
    try:
        js = nc.jetstream(timeout=2.0)
        deadline = time.monotonic() + timeout
        while True:  # after a node loss the cluster may still be electing leaders: retry, bounded
            try:
                sub = await js.pull_subscribe("", durable=f"{stream}_check", stream=stream)
                break
            except (
                asyncio.TimeoutError,
                nats.js.errors.ServiceUnavailableError,
                nats.errors.NoRespondersError,
            ):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        ids: list[str] = []
        while time.monotonic() < deadline:
            try:
                msgs = await sub.fetch(500, timeout=1.0)
            except asyncio.TimeoutError:  # nats-py raises either its own or the builtin one
                if len(ids) >= expected:
                    break
                continue
            for m in msgs:
                ids.append((m.headers or {}).get("Nats-Msg-Id", "<none>"))
                await m.ack()
        await sub.unsubscribe()
        return ids
    finally:
        await nc.close()
