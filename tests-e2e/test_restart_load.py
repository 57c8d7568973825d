"""Area 3 -- server SIGKILLed and restarted (same port, same store) while a producer publishes.

5,000 JetStream messages with unique ``Nats-Msg-Id`` go through ``retry_on_connection_failure`` over
a pooled ``with_jetstream_context``. Mid-load the server is SIGKILLed and restarted on the same port
and JetStream store. Every message acknowledged to the producer must be in the stream exactly once,
a consumer must receive all of them, and the time from restart to the first successful publish is
reported (``record_property`` + stdout).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from naq_e2e_load import ProducerResult, consume_all, produce
from naq_e2e_state import inspector
from naq_e2e_support import assert_no_clients, unique

from naq.connection import ConnectionPool, NatsConfig
from naq.connection import events as naq_events
from naq.connection.decorators import retry_on_connection_failure, with_jetstream_context
from naq.connection.events import ConnectionEvent, ConnectionEventKind
from naq.testing import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 5000
KILL_AFTER = 1500
DOWN_FOR = 1.0  # s between SIGKILL and restart: longer than the publish timeout, so publishes fail


@pytest.fixture
def server() -> Iterator[NatsServer]:
    srv = NatsServer(jetstream=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def test_sigkill_restart_during_jetstream_load(server: NatsServer, record_property: Any) -> None:
    stream = unique("RESTART")
    subject = stream.lower()
    async with inspector(server.url) as nc:
        await nc.jetstream().add_stream(name=stream, subjects=[subject], duplicate_window=300.0)

    cfg = NatsConfig(
        servers=server.url, connection_timeout=2.0, max_reconnect_attempts=200, reconnect_time_wait=0.1
    )
    attempts: Counter[str] = Counter()
    timeline: dict[str, float] = {}
    result = ProducerResult()
    seen: list[ConnectionEvent] = []
    remove = naq_events.add_listener(seen.append)

    async with ConnectionPool(cfg) as pool:

        @retry_on_connection_failure(max_retries=60, retry_delay=0.05, backoff_factor=1.5, max_delay=0.5)
        @with_jetstream_context(pool=pool)
        async def publish(js: Any, msg_id: str, i: int) -> Any:
            attempts[msg_id] += 1
            return await js.publish(subject, f"m{i}".encode(), headers={"Nats-Msg-Id": msg_id}, timeout=0.5)

        async def chaos() -> None:
            while len(result.acked) < KILL_AFTER:  # noqa: ASYNC110 - polls the producer's counts
                await asyncio.sleep(0.005)
            timeline["acked_at_kill"] = len(result.acked)
            await asyncio.to_thread(server.kill)
            await asyncio.sleep(DOWN_FOR)
            await asyncio.to_thread(server.restart)
            timeline["restarted"] = time.monotonic()

        chaos_task = asyncio.create_task(chaos())
        await asyncio.wait_for(produce(publish, TOTAL, prefix=stream, workers=8, result=result), 120)
        await asyncio.wait_for(chaos_task, 30)

    remove()
    await assert_no_clients(server)

    # the fault really hit the load: killed mid-way, the pooled connection lost the server and
    # came back (the same connection: reconnected, not replaced), and publishing resumed after it
    assert timeline["acked_at_kill"] < TOTAL
    kinds = [e.kind for e in seen]
    assert kinds.count(ConnectionEventKind.DISCONNECTED) >= 1, kinds
    assert kinds.count(ConnectionEventKind.RECONNECTED) >= 1, kinds
    assert kinds.count(ConnectionEventKind.CONNECTED) == 1, kinds
    retried = sum(1 for n in attempts.values() if n > 1)

    assert result.failed == {}, f"publishes gave up: {Counter(result.failed.values())}"
    assert len(result.acked) == TOTAL

    first_after = min(t for t in result.ack_times if t >= timeline["restarted"])
    recovery = first_after - timeline["restarted"]
    record_property("restart_to_first_publish_s", round(recovery, 4))
    record_property("publishes_retried", retried)
    print(f"\nrestart -> first successful publish: {recovery * 1000:.1f} ms; {retried} publishes retried")

    ids = await consume_all([server.url], stream, TOTAL)
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert dupes == [], f"{len(dupes)} message ids stored more than once, e.g. {dupes[:5]}"
    assert set(ids) == set(result.acked), (
        f"missing {len(set(result.acked) - set(ids))}, unexpected {len(set(ids) - set(result.acked))}"
    )
    async with inspector(server.url) as nc:
        info = await nc.jetstream().stream_info(stream)
    assert info.state.messages == TOTAL
    await assert_no_clients(server)
