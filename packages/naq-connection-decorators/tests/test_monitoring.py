"""with_connection_monitoring: one call = one operation (never a connection), outcomes, patch point,
monitors that raise; and against a real server: 1 pooled connection, 100 operations."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from unittest.mock import MagicMock

import pytest

import naq.connection.decorators as deco
from naq.connection import utils
from naq.connection.decorators import with_connection_monitoring, with_nats_connection
from naq.connection.pool import ConnectionPool
from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.unit


def ops(monitor: ConnectionMonitor) -> tuple[int, int, int, int, int]:
    """``(started, active, succeeded, failed, cancelled)`` operations."""
    m = monitor.get_metrics()
    return (
        m.operations_started,
        m.active_operations,
        m.operations_succeeded,
        m.operations_failed,
        m.operations_cancelled,
    )


async def test_success_is_one_operation_and_no_connection() -> None:
    monitor = ConnectionMonitor()
    active_inside: list[int] = []

    @with_connection_monitoring(monitor=monitor)
    async def work(x: int) -> int:
        active_inside.append(monitor.metrics.active_operations)
        return x * 2

    assert await work(21) == 42
    assert active_inside == [1]
    assert ops(monitor) == (1, 0, 1, 0, 0)
    m = monitor.get_metrics()
    assert m.total_connections == 0  # a call is not a connection
    assert m.operation_time_buckets[-1][1] == 1


async def test_failure_is_counted_and_reraised() -> None:
    monitor = ConnectionMonitor()
    error = ConnectionResetError("reset")

    @with_connection_monitoring(monitor=monitor)
    async def work() -> None:
        raise error

    with pytest.raises(ConnectionResetError) as info:
        await work()
    assert info.value is error
    assert ops(monitor) == (1, 0, 0, 1, 0)
    assert monitor.metrics.last_operation_error == "ConnectionResetError: reset"


async def test_cancelled_call_is_neither_success_nor_failure() -> None:
    monitor = ConnectionMonitor()
    started = asyncio.Event()

    @with_connection_monitoring(monitor=monitor)
    async def work() -> None:
        started.set()
        await asyncio.sleep(30)

    task = asyncio.ensure_future(work())
    await started.wait()
    assert ops(monitor) == (1, 1, 0, 0, 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ops(monitor) == (1, 0, 0, 0, 1)


async def test_default_monitor_is_looked_up_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    @with_connection_monitoring
    async def work() -> str:
        return "done"

    replacement = ConnectionMonitor()
    monkeypatch.setattr(deco, "connection_monitor", replacement)
    assert await work() == "done"
    assert ops(replacement) == (1, 0, 1, 0, 0)


async def test_default_monitor_is_utils_global_one() -> None:
    @with_connection_monitoring()
    async def work() -> None:
        return None

    await work()
    assert ops(utils.connection_monitor) == (1, 0, 1, 0, 0)


async def test_the_operation_is_named_after_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monitor = MagicMock(spec=ConnectionMonitor)
    monkeypatch.setattr(deco, "connection_monitor", monitor)

    class Jobs:
        @with_connection_monitoring
        async def enqueue(self) -> int:
            return 7

    assert await Jobs().enqueue() == 7
    monitor.track_operation.assert_called_once_with(
        "test_the_operation_is_named_after_the_function.<locals>.Jobs.enqueue"
    )
    handle = monitor.track_operation.return_value
    handle.__enter__.assert_called_once_with()
    handle.__exit__.assert_called_once_with(None, None, None)


@pytest.mark.parametrize("step", ["track_operation", "__enter__", "__exit__"])
async def test_monitor_that_raises_never_changes_the_outcome(
    step: str, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = MagicMock(spec=ConnectionMonitor)
    if step == "track_operation":
        monitor.track_operation.side_effect = RuntimeError("monitor broken")
    else:
        getattr(monitor.track_operation.return_value, step).side_effect = RuntimeError("monitor broken")

    @with_connection_monitoring(monitor=monitor)
    async def ok() -> str:
        return "fine"

    @with_connection_monitoring(monitor=monitor)
    async def bad() -> None:
        raise KeyError("own error")

    with caplog.at_level(logging.WARNING, logger="naq.connection.decorators"):
        assert await ok() == "fine"
        with pytest.raises(KeyError, match="own error"):
            await bad()
    assert "track_operation" in caplog.text
    assert "RuntimeError: monitor broken" in caplog.text


def test_monitor_argument_is_checked() -> None:
    with pytest.raises(TypeError, match=r"needs a ConnectionMonitor .* got object"):
        with_connection_monitoring(monitor=object())


async def test_thousand_concurrent_calls_keep_exact_counts() -> None:
    monitor = ConnectionMonitor()

    @with_connection_monitoring(monitor=monitor)
    async def work(i: int) -> int:
        await asyncio.sleep(0)
        if i % 4 == 0:
            raise ConnectionError(str(i))
        return i

    results = await asyncio.gather(*(work(i) for i in range(1000)), return_exceptions=True)
    assert sum(isinstance(r, ConnectionError) for r in results) == 250
    assert ops(monitor) == (1000, 0, 750, 250, 0)


@pytest.mark.integration
async def test_one_pooled_connection_and_100_calls_read_1_connection_and_100_operations(
    nats_url: str,
) -> None:
    monitor = ConnectionMonitor()
    disable = utils.enable_connection_monitoring(monitor)
    try:
        async with ConnectionPool(nats_url) as pool:
            monitor.add_pool(pool)

            @with_connection_monitoring(monitor=monitor)
            @with_nats_connection(pool=pool)
            async def publish(nc: Any, i: int) -> None:
                await nc.publish("monitored.calls", str(i).encode())

            for i in range(100):
                await publish(i)
            m = monitor.get_metrics()
    finally:
        disable()
    assert (m.total_connections, m.successful_connections) == (1, 1)
    assert (m.operations_started, m.operations_succeeded) == (100, 100)
    assert (m.pools, m.pool_borrows, m.pool_connections_opened) == (1, 100, 1)
    assert m.borrows == 100
