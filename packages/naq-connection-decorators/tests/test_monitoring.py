"""with_connection_monitoring: exact counts, durations, failure close-out, patch point, monitor quirks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from unittest.mock import ANY, AsyncMock, MagicMock, call

import pytest

import naq.connection.decorators as deco
from naq.connection.decorators import _monitoring, with_connection_monitoring
from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.unit


async def test_success_records_start_then_end_with_duration(
    counts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = ConnectionMonitor()
    clock = iter([10.0, 11.5])
    monkeypatch.setattr(_monitoring, "perf_counter", lambda: next(clock))
    active_inside: list[int] = []

    @with_connection_monitoring(monitor=monitor)
    async def work(x: int) -> int:
        active_inside.append(monitor.get_metrics().active_connections)
        return x * 2

    assert await work(21) == 42
    assert active_inside == [1]
    assert counts(monitor) == (1, 0, 1, 0)
    assert monitor.get_metrics().average_connection_time == 1.5


async def test_failure_is_counted_closed_out_and_reraised(counts: Any) -> None:
    monitor = ConnectionMonitor()
    error = ConnectionResetError("reset")

    @with_connection_monitoring(monitor=monitor)
    async def work() -> None:
        raise error

    with pytest.raises(ConnectionResetError) as info:
        await work()
    assert info.value is error
    assert counts(monitor) == (1, 0, 0, 1)  # not a success; active back to 0
    assert monitor.get_metrics().total_connection_time == 0.0


async def test_cancelled_call_is_closed_out_but_neither_success_nor_failure(counts: Any) -> None:
    monitor = ConnectionMonitor()
    started = asyncio.Event()

    @with_connection_monitoring(monitor=monitor)
    async def work() -> None:
        started.set()
        await asyncio.sleep(30)

    task = asyncio.ensure_future(work())
    await started.wait()
    assert counts(monitor) == (1, 1, 0, 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counts(monitor) == (1, 0, 0, 0)


async def test_default_monitor_is_looked_up_at_call_time(
    counts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    @with_connection_monitoring
    async def work() -> str:
        return "done"

    replacement = ConnectionMonitor()
    monkeypatch.setattr(deco, "connection_monitor", replacement)
    assert await work() == "done"
    assert counts(replacement) == (1, 0, 1, 0)


async def test_default_monitor_is_utils_global_one(counts: Any) -> None:
    from naq.connection import utils

    @with_connection_monitoring()
    async def work() -> None:
        return None

    await work()
    assert counts(utils.connection_monitor) == (1, 0, 1, 0)


async def test_exact_calls_on_a_mock_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monitor = AsyncMock(spec=ConnectionMonitor)
    monkeypatch.setattr(deco, "connection_monitor", monitor)

    @with_connection_monitoring
    async def ok() -> None:
        return None

    @with_connection_monitoring
    async def bad() -> None:
        raise ValueError("x")

    await ok()
    assert monitor.mock_calls == [call.record_connection_start(), call.record_connection_end(ANY)]
    assert isinstance(monitor.record_connection_end.call_args.args[0], float)
    monitor.reset_mock()
    with pytest.raises(ValueError, match="x"):
        await bad()
    assert monitor.mock_calls == [
        call.record_connection_start(),
        call.record_connection_failure(),
        call.record_connection_closed(),
    ]


class ThreeMethodMonitor:
    """A monitor with only the three contract methods (no close-out method)."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def record_connection_start(self) -> None:
        self.calls.append("start")

    async def record_connection_end(self, duration: float) -> None:
        self.calls.append(("end", duration))

    async def record_connection_failure(self) -> None:
        self.calls.append("failure")


async def test_monitor_without_close_out_method_gets_deferred_exact_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monitor = ThreeMethodMonitor()
    clock = iter([1.0, 3.0, 5.0])
    monkeypatch.setattr(_monitoring, "perf_counter", lambda: next(clock))
    seen_inside: list[list[Any]] = []

    @with_connection_monitoring(monitor=monitor)
    async def ok() -> str:
        seen_inside.append(list(monitor.calls))
        return "ok"

    @with_connection_monitoring(monitor=monitor)
    async def bad() -> None:
        raise OSError("down")

    assert await ok() == "ok"
    assert seen_inside == [[]]  # nothing recorded until the outcome is known
    assert monitor.calls == ["start", ("end", 2.0)]
    monitor.calls.clear()
    with pytest.raises(OSError, match="down"):
        await bad()
    assert monitor.calls == ["failure"]  # no start: no active record left open, no success


async def test_monitor_that_raises_never_changes_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    monitor = AsyncMock(spec=ConnectionMonitor)
    monitor.record_connection_start.side_effect = RuntimeError("monitor broken")

    @with_connection_monitoring(monitor=monitor)
    async def work() -> int:
        return 7

    with caplog.at_level(logging.WARNING, logger="naq.connection.decorators"):
        assert await work() == 7
    assert "record_connection_start failed: RuntimeError: monitor broken" in caplog.text
    monitor.record_connection_end.assert_awaited_once()


async def test_magicmock_monitor_with_sync_methods_is_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    monitor = MagicMock()
    monkeypatch.setattr(deco, "connection_monitor", monitor)

    @with_connection_monitoring
    async def work() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        await work()
    monitor.record_connection_start.assert_called_once_with()
    monitor.record_connection_failure.assert_called_once_with()
    monitor.record_connection_closed.assert_called_once_with()


def test_monitor_argument_is_checked() -> None:
    lacks = "object lacks record_connection_start, record_connection_end, record_connection_failure"
    with pytest.raises(TypeError, match=lacks):
        with_connection_monitoring(monitor=object())


async def test_thousand_concurrent_calls_keep_exact_counts(counts: Any) -> None:
    monitor = ConnectionMonitor()

    @with_connection_monitoring(monitor=monitor)
    async def work(i: int) -> int:
        await asyncio.sleep(0)
        if i % 4 == 0:
            raise ConnectionError(str(i))
        return i

    results = await asyncio.gather(*(work(i) for i in range(1000)), return_exceptions=True)
    failures = sum(isinstance(r, ConnectionError) for r in results)
    assert failures == 250
    assert counts(monitor) == (1000, 0, 750, 250)
