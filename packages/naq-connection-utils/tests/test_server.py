"""Against a real nats-server (naq-testing's fixtures): health, wait-for, info, performance, monitoring."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from naq.connection import utils
from naq.connection.context_managers import nats_connection
from naq.connection.errors import NaqConnectionError
from naq.connection.pool import ConnectionPool
from naq.connection.utils import ConnectionMonitor
from naq.testing import NatsServer

from .conftest import free_port

# every test also fails if it leaves a connection open on any test server (checked through /connz)
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("nats_leak_check")]


@pytest.fixture
def dead_url() -> str:
    """A loopback port nothing listens on."""
    return f"nats://127.0.0.1:{free_port()}"


async def test_health_true_on_a_live_server(nats_url: str) -> None:
    assert await utils.test_nats_connection(nats_url, timeout=5) is True


async def test_health_false_within_the_timeout_on_a_dead_port(
    dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    start = time.monotonic()
    assert await utils.test_nats_connection(dead_url, timeout=2.0) is False
    assert time.monotonic() - start < 2.0 + 1.5
    errors = [r for r in caplog.records if r.name == "naq.connection.utils" and r.levelname == "ERROR"]
    assert len(errors) == 1


async def test_health_false_on_a_frozen_server(nats_server_factory: object) -> None:
    server = nats_server_factory(jetstream=False)  # type: ignore[operator]
    server.pause()
    try:
        start = time.monotonic()
        assert await utils.test_nats_connection(server.url, timeout=1.0) is False
        assert time.monotonic() - start < 1.0 + 1.5
    finally:
        server.resume()


async def test_wait_returns_true_when_the_server_starts_after_the_call(tmp_path: object) -> None:
    port = free_port()
    server = NatsServer(jetstream=False, port=port)
    loop = asyncio.get_running_loop()

    async def start_later() -> None:
        await asyncio.sleep(1.0)
        await loop.run_in_executor(None, server.start)

    starter = asyncio.create_task(start_later())
    try:
        started = time.monotonic()
        ready = await utils.wait_for_nats_connection(f"nats://127.0.0.1:{port}", timeout=20, interval=0.2)
        waited = time.monotonic() - started
        await starter
        assert ready is True
        assert 0.9 <= waited < 10  # it waited for the server, and returned soon after it came up
    finally:
        await starter
        server.stop()


async def test_wait_times_out_on_a_dead_port(dead_url: str) -> None:
    start = time.monotonic()
    assert await utils.wait_for_nats_connection(dead_url, timeout=1.0, interval=0.2) is False
    assert 1.0 <= time.monotonic() - start < 3.5


async def test_jetstream_true_on_a_jetstream_server(nats_url: str) -> None:
    assert await utils.test_jetstream_connection(nats_url) is True


async def test_jetstream_false_without_jetstream(
    nats_server_factory: object, caplog: pytest.LogCaptureFixture
) -> None:
    server = nats_server_factory(jetstream=False)  # type: ignore[operator]
    assert await utils.test_nats_connection(server.url) is True
    assert await utils.test_jetstream_connection(server.url, timeout=3) is False
    assert "JetStream is not enabled" in caplog.text


async def test_server_info_fields(nats_url: str, nats_server: NatsServer) -> None:
    info = await utils.get_nats_server_info(nats_url)
    varz = nats_server.varz()
    assert info["server_id"] == varz["server_id"]
    assert info["server_name"] == varz["server_name"]
    assert info["version"] == varz["version"]
    assert info["jetstream"] is True
    assert info["max_payload"] == varz["max_payload"]
    assert info["cluster"] is None
    assert 0 < info["rtt"] < 1
    assert info["connected_url"] == nats_url


async def test_server_info_redacts_credentials(nats_server_factory: object) -> None:
    server = nats_server_factory(jetstream=False, user="alice", password="s3cret-pw")  # type: ignore[operator]
    port = server.url.rsplit(":", 1)[1]
    info = await utils.get_nats_server_info(f"nats://alice:s3cret-pw@127.0.0.1:{port}")
    assert info["connected_url"] == f"nats://alice:***@127.0.0.1:{port}"
    assert info["jetstream"] is False
    assert "s3cret-pw" not in repr(info)


async def test_server_info_on_a_dead_port_raises(dead_url: str) -> None:
    with pytest.raises(NaqConnectionError):
        await utils.get_nats_server_info(dead_url, timeout=2)


async def test_measure_performance_against_a_live_server(nats_url: str) -> None:
    result = await utils.measure_connection_performance(nats_url, iterations=3)
    assert result["successes"] == 3
    assert result["success_rate"] == 1.0
    assert 0 < result["min_time"] <= result["p50"] <= result["max_time"] < 5


async def test_measure_performance_counts_failures(dead_url: str) -> None:
    from naq.connection.config import NatsConfig

    config = NatsConfig(servers=dead_url, connection_timeout=1.0)
    result = await utils.measure_connection_performance(config, iterations=2)
    assert (result["successes"], result["failures"], result["success_rate"]) == (0, 2, 0.0)
    assert result["last_error"]


# -- automatic monitoring through core ------------------------------------------------------------
@pytest.fixture
def monitor() -> Iterator[ConnectionMonitor]:
    mine = ConnectionMonitor()
    utils.enable_connection_monitoring(mine)
    yield mine
    utils.disable_connection_monitoring(mine)


async def test_monitoring_counts_real_connections(monitor: ConnectionMonitor, nats_url: str) -> None:
    for _ in range(3):
        async with nats_connection(nats_url):
            assert monitor.get_metrics().active_connections == 1
    m = monitor.get_metrics()
    assert (m.total_connections, m.successful_connections, m.failed_connections, m.active_connections) == (
        3,
        3,
        0,
        0,
    )
    assert 0 < m.average_connection_time < 5
    assert m.connections_by_server == {nats_url: 3}


async def test_monitoring_counts_a_failed_connect(monitor: ConnectionMonitor, dead_url: str) -> None:
    from naq.connection.config import NatsConfig

    with pytest.raises(NaqConnectionError):
        async with nats_connection(NatsConfig(servers=dead_url, connection_timeout=1.0)):
            pass
    m = monitor.get_metrics()
    assert (m.total_connections, m.failed_connections, m.active_connections) == (1, 1, 0)
    assert m.last_error


async def test_monitoring_counts_a_pooled_connection_once(monitor: ConnectionMonitor, nats_url: str) -> None:
    async with ConnectionPool(nats_url) as pool:
        for _ in range(5):
            async with pool.connection():
                pass
        m = monitor.get_metrics()
        assert (m.total_connections, m.active_connections) == (1, 1)
        assert m.borrows == 5
    assert monitor.get_metrics().active_connections == 0


async def test_monitoring_counts_concurrent_connections(monitor: ConnectionMonitor, nats_url: str) -> None:
    async def one() -> None:
        async with nats_connection(nats_url) as conn:
            await conn.flush()

    await asyncio.gather(*(one() for _ in range(20)))
    m = monitor.get_metrics()
    assert (m.total_connections, m.successful_connections, m.active_connections) == (20, 20, 0)


async def test_monitoring_counts_disconnect_and_reconnect(
    monitor: ConnectionMonitor, nats_server_factory: object
) -> None:
    from naq.connection.config import NatsConfig

    server = nats_server_factory(jetstream=False)  # type: ignore[operator]
    config = NatsConfig(servers=server.url, reconnect_time_wait=0.2, max_reconnect_attempts=50)
    async with nats_connection(config) as conn:
        await asyncio.get_running_loop().run_in_executor(None, server.restart)
        for _ in range(100):
            if monitor.get_metrics().reconnects:
                break
            await asyncio.sleep(0.1)
        await conn.flush()
    m = monitor.get_metrics()
    assert m.disconnects >= 1
    assert m.reconnects == 1
    assert m.active_connections == 0
