"""The synchronous twin of record_connection_end does exactly what the async method does."""

from __future__ import annotations

import pytest

from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.unit


async def test_connection_ended_matches_record_connection_end() -> None:
    sync, via_async = ConnectionMonitor(), ConnectionMonitor()
    sync.connection_started()
    sync.connection_ended(1.5)
    await via_async.record_connection_start()
    await via_async.record_connection_end(1.5)
    a, b = sync.get_metrics(), via_async.get_metrics()
    assert (a.active_connections, a.successful_connections, a.average_connection_time) == (0, 1, 1.5)
    assert a == b


def test_started_and_ended_from_many_threads_stay_exact() -> None:
    """Nothing is lost or counted twice when several threads record at once."""
    import threading

    monitor = ConnectionMonitor()
    snapshots: list[int] = []

    def worker(index: int) -> None:
        for i in range(3000):
            monitor.connection_started()
            monitor.connection_ended(0.001 * (index + 1))
            if i % 500 == 0:
                snapshots.append(monitor.get_metrics().total_connections)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = monitor.get_metrics()
    assert (m.total_connections, m.successful_connections, m.active_connections) == (12000, 12000, 0)
    assert m.total_connection_time == pytest.approx(3000 * (0.001 + 0.002 + 0.003 + 0.004))
    assert (m.min_connection_time, m.max_connection_time) == (0.001, 0.004)
    assert m.connection_time_buckets[-1][1] == 12000
    assert all(0 < s <= 12000 for s in snapshots)


def test_replay_keeps_the_order_of_starts_ends_and_releases() -> None:
    """Active never goes below 0 and records apply in call order."""
    monitor = ConnectionMonitor()
    monitor.connection_ended(0.5)  # an end without a start: successful +1, active stays 0
    monitor.connection_started()
    monitor.connection_started()
    monitor.connection_ended(0.25)
    assert monitor.get_metrics().active_connections == 1  # the early end did not cancel a later start
    monitor.connection_released()  # releases the second start
    monitor.connection_released()  # nothing left to release
    monitor.connection_started()
    m = monitor.get_metrics()
    assert (m.total_connections, m.active_connections, m.successful_connections) == (3, 1, 2)
    assert m.total_connection_time == 0.75
    monitor.reset_metrics()
    monitor.connection_started()
    assert monitor.get_metrics().active_connections == 1  # before the reset: gone; after: kept
