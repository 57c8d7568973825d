"""Operations (track_operation), the live ``metrics`` view and pool figures of ConnectionMonitor."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from naq.connection.pool import ConnectionPool
from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.unit


async def test_naq_expectations_of_the_live_metrics_view() -> None:
    """What naq's own tests read from ``monitor.metrics``."""
    monitor = ConnectionMonitor()
    await monitor.record_connection_start()
    assert monitor.metrics.total_connections == 1
    assert monitor.metrics.active_connections == 1

    ended = ConnectionMonitor()
    await ended.record_connection_start()
    await ended.record_connection_end(1.5)
    assert ended.metrics.average_connection_time == 1.5
    assert ended.metrics.successful_connections == 1

    failed = ConnectionMonitor()
    await failed.record_connection_start()
    await failed.record_connection_failure()
    assert failed.metrics.failed_connections == 1
    assert failed.metrics.active_connections == 1


async def test_the_view_is_live_and_get_metrics_is_a_copy() -> None:
    monitor = ConnectionMonitor()
    view = monitor.metrics
    snapshot = monitor.get_metrics()
    await monitor.record_connection_start()
    assert view.total_connections == 1  # the same view object follows the monitor
    assert snapshot.total_connections == 0  # the snapshot does not
    with pytest.raises(AttributeError, match="no field 'nonsense'"):
        _ = view.nonsense
    assert "MetricsView" in repr(view)


def test_operations_are_counted_apart_from_connections() -> None:
    monitor = ConnectionMonitor()
    with monitor.track_operation("ok"):
        assert monitor.metrics.active_operations == 1
    with pytest.raises(RuntimeError), monitor.track_operation("boom"):
        raise RuntimeError("token=s3cr3t went wrong")
    with pytest.raises(asyncio.CancelledError), monitor.track_operation("cancelled"):
        raise asyncio.CancelledError
    m = monitor.get_metrics()
    assert (m.operations_started, m.operations_succeeded, m.operations_failed, m.operations_cancelled) == (
        3,
        1,
        1,
        1,
    )
    assert m.active_operations == 0
    assert m.total_connections == 0  # operations are not connections
    assert m.last_operation_error is not None
    assert "s3cr3t" not in m.last_operation_error
    assert m.operation_time_buckets[-1][1] == 3
    assert m.average_operation_time >= 0.0
    assert m.max_operation_time >= m.p50_operation_time


def test_track_operation_rejects_a_non_string_name() -> None:
    with pytest.raises(TypeError, match="name"):
        ConnectionMonitor().track_operation(42)  # type: ignore[arg-type]


def test_a_reset_during_an_operation_keeps_active_at_zero() -> None:
    monitor = ConnectionMonitor()
    with monitor.track_operation("op"):
        monitor.reset_metrics()
    m = monitor.get_metrics()
    assert (m.active_operations, m.operations_succeeded) == (0, 1)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def start(self, name: str, destination: str | None) -> object:
        self.calls.append(("start", name, str(destination)))
        return name

    def end(self, handle: object, outcome: str, error: BaseException | None, duration: float) -> None:
        self.calls.append(("end", str(handle), outcome, type(error).__name__))


class Broken:
    def start(self, name: str, destination: str | None) -> object:
        raise RuntimeError("observer start broke")

    def end(self, handle: object, outcome: str, error: BaseException | None, duration: float) -> None:
        raise RuntimeError("observer end broke")


def test_observers_see_every_operation_and_a_broken_one_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = ConnectionMonitor()
    recorder = Recorder()
    monitor.add_observer(recorder)
    monitor.add_observer(recorder)  # twice: told once
    monitor.add_observer(Broken())
    with monitor.track_operation("publish", destination="jobs.new"):
        pass
    with pytest.raises(ValueError), monitor.track_operation("bad"):
        raise ValueError("x")
    assert recorder.calls == [
        ("start", "publish", "jobs.new"),
        ("end", "publish", "succeeded", "NoneType"),
        ("start", "bad", "None"),
        ("end", "bad", "failed", "ValueError"),
    ]
    assert monitor.get_metrics().operations_started == 2
    assert any(
        "observer start broke" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )
    monitor.remove_observer(recorder)
    with monitor.track_operation("unobserved"):
        pass
    assert len(recorder.calls) == 4


async def test_pool_figures_come_from_registered_pools() -> None:
    monitor = ConnectionMonitor()
    pool = ConnectionPool("nats://127.0.0.1:4222", size=2)
    monitor.add_pool(pool)
    monitor.add_pool(pool)  # once only
    m = monitor.get_metrics()
    assert (m.pools, m.pool_size, m.pool_open_connections, m.pool_borrows) == (1, 2, 0, 0)
    monitor.remove_pool(pool)
    assert monitor.get_metrics().pools == 0
    with pytest.raises(TypeError, match="pool"):
        monitor.add_pool("nats://127.0.0.1:4222")  # type: ignore[arg-type]
    await pool.close()


async def test_pool_lent_counts_borrows_in_progress(nats_server: Any) -> None:
    monitor = ConnectionMonitor()
    async with ConnectionPool(nats_server.url) as pool:
        monitor.add_pool(pool)
        async with pool.connection(), pool.connection():
            assert monitor.get_metrics().pool_lent == 2
        assert monitor.get_metrics().pool_lent == 0
        assert monitor.get_metrics().pool_borrows == 2
