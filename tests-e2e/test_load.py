"""Area 8 -- load: 1,000 concurrent decorated operations, through one pool and per call.

Zero errors; every message delivered exactly once; the call monitor (``with_connection_monitoring``
on the default monitor) and the connection monitor (``enable_connection_monitoring`` on a separate
monitor) report exactly the operations and connections performed; the server's own counter of
accepted connections agrees; RSS growth stays under a generous bound. No timing asserts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from naq_e2e_state import inspector, kv_snapshot
from naq_e2e_support import (
    Baseline,
    assert_no_clients,
    rss_bytes,
    total_connections,
    unique,
    wait_for_clients,
)

from naq.connection import ConnectionPool, NatsConfig
from naq.connection import utils as naq_utils
from naq.connection.decorators import with_connection_monitoring, with_kv_store, with_nats_connection
from naq.connection.utils import ConnectionMonitor, enable_connection_monitoring, get_connection_metrics
from naq.testing import NatsServer

pytestmark = pytest.mark.integration

N = 1000
RSS_BOUND = 64 * 1024 * 1024  # generous: a leak of one connection per op would be far larger


def _cfg(url: str) -> NatsConfig:
    return NatsConfig(servers=url, connection_timeout=20.0, max_reconnect_attempts=1, reconnect_time_wait=0.2)


async def _collect(sub: Any, count: int) -> Counter[bytes]:
    got: Counter[bytes] = Counter()
    for _ in range(count):
        msg = await sub.next_msg(timeout=10)
        got[msg.data] += 1
    return got


async def _run_load(server: NatsServer, pool: ConnectionPool | None) -> dict[str, Any]:
    subject = unique("load")
    conn_monitor = ConnectionMonitor()
    enable_connection_monitoring(monitor=conn_monitor)
    inject = (
        with_nats_connection(pool=pool) if pool is not None else with_nats_connection(config=_cfg(server.url))
    )

    @with_connection_monitoring
    @inject
    async def op(nc: Any, i: int) -> int:
        await nc.publish(subject, str(i).encode())
        return i

    async with inspector(server.url) as nc:
        sub = await nc.subscribe(subject)
        await nc.flush()
        # warm-up (lazy imports, first connect), then measure from a clean slate
        assert await asyncio.gather(*(op(-1 - i) for i in range(50))) == [-1 - i for i in range(50)]
        await _collect(sub, 50)
        base = Baseline.take()
        rss_before = rss_bytes()
        await naq_utils.reset_connection_metrics()
        conn_monitor.reset_metrics()
        accepted_before = total_connections(server)

        results = await asyncio.gather(*(op(i) for i in range(N)), return_exceptions=True)

        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors == [], f"{len(errors)} errors, e.g. {errors[:3]!r}"
        assert sorted(results) == list(range(N))  # type: ignore[type-var]
        got = await _collect(sub, N)
        assert got == Counter(str(i).encode() for i in range(N))  # each exactly once
        accepted = total_connections(server) - accepted_before
        rss_growth = rss_bytes() - rss_before
        await sub.unsubscribe()
    return {
        "calls": await get_connection_metrics(),
        "conns": conn_monitor.get_metrics(),
        "accepted": accepted,
        "rss_growth": rss_growth,
        "baseline": base,
    }


async def test_1000_concurrent_ops_through_one_pool(js_server: NatsServer, record_property: Any) -> None:
    async with ConnectionPool(_cfg(js_server.url)) as pool:
        out = await _run_load(js_server, pool)
        conns = out["conns"]
        assert await wait_for_clients(js_server, 1) == 1  # the pool's one connection, still open
    calls = out["calls"]
    assert (calls.operations_started, calls.operations_succeeded, calls.operations_failed) == (N, N, 0)
    assert calls.active_operations == 0
    assert calls.total_connections == 0  # calls are operations, never connections
    assert out["accepted"] == 0  # the pool was already connected: not one new TCP connection
    assert conns.total_connections == 0
    assert conns.failed_connections == 0
    assert conns.borrows == N, conns
    record_property("rss_growth_bytes", out["rss_growth"])
    assert out["rss_growth"] < RSS_BOUND
    await out["baseline"].assert_restored(js_server)


async def test_1000_concurrent_ops_with_a_connection_per_call(
    js_server: NatsServer, record_property: Any
) -> None:
    out = await _run_load(js_server, None)
    calls, conns = out["calls"], out["conns"]
    assert (calls.operations_started, calls.operations_succeeded, calls.operations_failed) == (N, N, 0)
    assert calls.active_operations == 0
    assert calls.total_connections == 0  # calls are operations, never connections
    assert out["accepted"] == N  # one TCP connection per call, as the server counts them
    assert (conns.total_connections, conns.successful_connections, conns.failed_connections) == (N, N, 0)
    assert conns.active_connections == 0
    assert conns.borrows == 0
    record_property("rss_growth_bytes", out["rss_growth"])
    assert out["rss_growth"] < RSS_BOUND
    await out["baseline"].assert_restored(js_server)


async def test_1000_concurrent_kv_puts_through_one_pool(js_server: NatsServer) -> None:
    bucket = unique("loadkv")
    async with ConnectionPool(_cfg(js_server.url)) as pool:

        @with_connection_monitoring
        @with_kv_store(bucket, pool=pool, create=True)
        async def put(kv: Any, i: int) -> int:
            return int(await kv.put(f"k{i:04d}", str(i).encode()))

        await put(-1)  # creates the bucket once
        await naq_utils.reset_connection_metrics()
        base = Baseline.take()
        revisions = await asyncio.gather(*(put(i) for i in range(N)), return_exceptions=True)
        errors = [r for r in revisions if isinstance(r, BaseException)]
        assert errors == []
        assert sorted(revisions) == list(range(2, N + 2))  # type: ignore[type-var]
        assert await wait_for_clients(js_server, 1) == 1
    calls = await get_connection_metrics()
    assert (calls.operations_started, calls.operations_succeeded, calls.operations_failed) == (N, N, 0)
    assert calls.active_operations == 0
    assert calls.total_connections == 0  # calls are operations, never connections
    state = await kv_snapshot(js_server.url, bucket)
    assert len(state["keys"]) == N + 1
    assert state["entries"]["k0999"][0] == b"999"
    await base.assert_restored(js_server)
    await assert_no_clients(js_server)
