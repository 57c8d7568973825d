"""Area 4 -- cluster failover: kill the node the client is connected to, mid-load.

A 3-node JetStream cluster, a stream with 3 replicas. A pooled, retried producer publishes messages
with unique ``Nats-Msg-Id``; when a third of them are acknowledged the node the pool's connection
uses is SIGKILLed. Publishing must continue through the other nodes with zero acknowledged messages
lost (and none stored twice), and the utils monitor (``enable_connection_monitoring``) must count the
reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from naq_e2e_load import ProducerResult, consume_all, produce
from naq_e2e_state import inspector
from naq_e2e_support import assert_no_clients, unique
from nats.aio.client import Client

from naq.connection import ConnectionPool, NatsConfig
from naq.connection.decorators import retry_on_connection_failure, with_jetstream_context
from naq.connection.utils import ConnectionMonitor, enable_connection_monitoring
from naq.testing import NatsCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 1500
KILL_AFTER = 500


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    c = NatsCluster(size=3, jetstream=True)
    c.start()
    try:
        yield c
    finally:
        c.stop()


async def _move_stream_leader(nc: Client, stream: str, wanted: str, timeout: float = 15.0) -> None:
    """Step the stream leader down (preferring ``wanted``) until ``wanted`` leads the stream."""
    js = nc.jetstream()
    deadline = time.monotonic() + timeout
    while True:
        info = await js.stream_info(stream)
        if info.cluster is not None and info.cluster.leader == wanted:
            return
        assert time.monotonic() < deadline, f"could not make {wanted} the leader of {stream}"
        body = json.dumps({"placement": {"preferred": wanted}}).encode()
        with contextlib.suppress(Exception):
            await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", body, timeout=2)
        await asyncio.sleep(0.3)


async def test_kill_connected_node_mid_load(cluster: NatsCluster) -> None:
    urls = list(cluster.urls)
    stream = unique("FAILOVER")
    subject = stream.lower()
    async with inspector(urls[0]) as nc:  # servers=list works for the inspector too
        await nc.jetstream().add_stream(
            name=stream, subjects=[subject], num_replicas=3, duplicate_window=300.0
        )

    monitor = ConnectionMonitor()
    disable = enable_connection_monitoring(monitor=monitor)
    cfg = NatsConfig(
        servers=urls, connection_timeout=2.0, max_reconnect_attempts=100, reconnect_time_wait=0.1
    )
    attempts: Counter[str] = Counter()
    result = ProducerResult()
    killed: dict[str, Any] = {}

    try:
        async with ConnectionPool(cfg) as pool:
            # the worst case: the node the client uses also leads the stream (kill -> no leader)
            async with pool.connection() as nc:
                home = cluster.server_for(nc)
            async with inspector(urls[0]) as nc:
                await _move_stream_leader(nc, stream, str(home.name))

            @retry_on_connection_failure(max_retries=40, retry_delay=0.1, backoff_factor=1.5, max_delay=1.0)
            @with_jetstream_context(pool=pool)
            async def publish(js: Any, msg_id: str, i: int) -> Any:
                attempts[msg_id] += 1
                return await js.publish(
                    subject, f"m{i}".encode(), headers={"Nats-Msg-Id": msg_id}, timeout=1.0
                )

            async def chaos() -> None:
                while len(result.acked) < KILL_AFTER:  # noqa: ASYNC110 - polls the producer's counts
                    await asyncio.sleep(0.005)
                async with pool.connection() as nc:
                    node = cluster.server_for(nc)
                killed["index"] = cluster.servers.index(node)
                killed["acked_at_kill"] = len(result.acked)
                await asyncio.to_thread(cluster.kill, killed["index"])

            chaos_task = asyncio.create_task(chaos())
            await asyncio.wait_for(produce(publish, TOTAL, prefix=stream, workers=4, result=result), 150)
            await asyncio.wait_for(chaos_task, 10)

            async with pool.connection() as nc:
                assert nc.is_connected
                now_on = cluster.servers.index(cluster.server_for(nc))
            assert now_on != killed["index"], "the client is still on the node that was killed"
            assert cluster.servers[killed["index"]] is home
        metrics = monitor.get_metrics()
    finally:
        if callable(disable):
            disable()

    survivors = [s for i, s in enumerate(cluster.servers) if i != killed["index"]]
    await assert_no_clients(*survivors)

    assert killed["acked_at_kill"] < TOTAL
    assert result.failed == {}, f"publishes gave up: {Counter(result.failed.values())}"
    assert len(result.acked) == TOTAL
    assert metrics.reconnects >= 1, metrics
    assert metrics.total_connections == 1, metrics  # one pooled connection, reconnected, not replaced
    assert metrics.active_connections == 0, metrics

    ids = await consume_all([s.url for s in survivors], stream, TOTAL, timeout=60)
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert dupes == [], f"{len(dupes)} ids stored twice"
    assert set(ids) == set(result.acked), (
        f"lost {len(set(result.acked) - set(ids))} acknowledged messages after failover"
    )
    await assert_no_clients(*survivors)
