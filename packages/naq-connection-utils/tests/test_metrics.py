"""ConnectionMonitor / ConnectionMetrics: the semantics naq relies on, concurrency, snapshots, percentiles."""

from __future__ import annotations

import asyncio
import math
import random
import threading

import pytest

from naq.connection import utils
from naq.connection.utils import ConnectionMetrics, ConnectionMonitor, percentile
from naq.connection.utils.metrics import MAX_TRACKED_SERVERS, describe_error

pytestmark = pytest.mark.unit


def test_metrics_default_to_zero() -> None:
    m = ConnectionMetrics()
    assert (m.total_connections, m.active_connections, m.failed_connections, m.successful_connections) == (
        0,
        0,
        0,
        0,
    )
    assert m.average_connection_time == 0.0
    assert m.total_connection_time == 0.0
    assert m.last_error is None
    assert m.connections_by_server == {}


async def test_start_then_end_closes_the_attempt_successfully() -> None:
    monitor = ConnectionMonitor()
    await monitor.record_connection_start()
    await monitor.record_connection_end(1.5)
    m = monitor.get_metrics()
    assert m.total_connections == 1
    assert m.active_connections == 0
    assert m.successful_connections == 1
    assert m.failed_connections == 0
    assert m.average_connection_time == 1.5
    assert m.total_connection_time == 1.5


async def test_start_then_failure_leaves_the_attempt_active() -> None:
    monitor = ConnectionMonitor()
    await monitor.record_connection_start()
    await monitor.record_connection_failure()
    m = monitor.get_metrics()
    assert m.failed_connections == 1
    assert m.active_connections == 1
    assert m.successful_connections == 0
    await monitor.record_connection_closed()
    assert monitor.get_metrics().active_connections == 0


async def test_active_never_goes_negative() -> None:
    monitor = ConnectionMonitor()
    await monitor.record_connection_closed()
    await monitor.record_connection_end(0.1)
    assert monitor.get_metrics().active_connections == 0


async def test_average_over_several_durations() -> None:
    monitor = ConnectionMonitor()
    for duration in (1.0, 2.0, 6.0):
        await monitor.record_connection_start()
        await monitor.record_connection_end(duration)
    m = monitor.get_metrics()
    assert m.average_connection_time == pytest.approx(3.0)
    assert m.min_connection_time == 1.0
    assert m.max_connection_time == 6.0


async def test_failure_error_is_redacted_and_one_line() -> None:
    monitor = ConnectionMonitor()
    await monitor.record_connection_failure(OSError("connect to nats://alice:s3cret@host:4222\nfailed"))
    last = monitor.get_metrics().last_error
    assert last is not None
    assert "s3cret" not in last
    assert "\n" not in last
    assert last.startswith("OSError: connect to nats://alice:***@host:4222")


def test_describe_error_caps_length_and_handles_none() -> None:
    assert describe_error(None) is None
    assert describe_error(ValueError()) == "ValueError"
    long = describe_error("x" * 1000)
    assert long is not None
    assert len(long) == 300
    assert long.endswith("...")


async def test_thousand_concurrent_monitored_operations_are_counted_exactly() -> None:
    monitor = ConnectionMonitor()
    rng = random.Random(7)

    async def operation(i: int) -> None:
        await monitor.record_connection_start()
        await asyncio.sleep(rng.random() / 1000)  # interleave with the other tasks
        if i % 10 == 0:
            await monitor.record_connection_failure(RuntimeError(f"op {i}"))
            await monitor.record_connection_closed()
        else:
            await monitor.record_connection_end(0.002)

    tasks = [asyncio.create_task(operation(i)) for i in range(1000)]
    await asyncio.sleep(0)
    assert monitor.get_metrics().active_connections == 1000  # all started, none finished yet
    await asyncio.gather(*tasks)
    m = monitor.get_metrics()
    assert m.total_connections == 1000
    assert m.successful_connections == 900
    assert m.failed_connections == 100
    assert m.active_connections == 0
    assert m.total_connection_time == pytest.approx(900 * 0.002)
    assert m.connection_time_buckets[-1] == (math.inf, 900)


def test_counts_stay_exact_across_threads() -> None:
    monitor = ConnectionMonitor()

    def worker() -> None:
        for _ in range(2000):
            monitor.connection_started()
            monitor.connection_succeeded(0.001)
            monitor.connection_released()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = monitor.get_metrics()
    assert (m.total_connections, m.successful_connections, m.active_connections) == (8000, 8000, 0)


async def test_snapshot_is_independent_of_later_records() -> None:
    monitor = ConnectionMonitor()
    monitor.connection_started()
    monitor.connection_succeeded(0.01, "nats://a:4222")
    snapshot = monitor.get_metrics()
    monitor.connection_started()
    monitor.connection_succeeded(0.02, "nats://a:4222")
    monitor.reconnected("nats://b:4222")
    assert snapshot.total_connections == 1
    assert snapshot.connections_by_server == {"nats://a:4222": 1}
    snapshot.connections_by_server["nats://z:1"] = 99  # mutating a snapshot does not touch the monitor
    assert "nats://z:1" not in monitor.get_metrics().connections_by_server
    assert monitor.get_metrics().connections_by_server == {"nats://a:4222": 2, "nats://b:4222": 1}


def test_percentiles_match_linear_interpolation() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    random.Random(1).shuffle(values)
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 50) == 0.0
    assert percentile([3.0], 99) == 3.0
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile(values, 101)


def test_monitor_reports_percentiles_of_connection_times() -> None:
    monitor = ConnectionMonitor()
    for v in range(1, 101):
        monitor.connection_succeeded(v / 1000)
    m = monitor.get_metrics()
    assert m.p50_connection_time == pytest.approx(0.0505)
    assert m.p95_connection_time == pytest.approx(0.09505)
    assert m.p99_connection_time == pytest.approx(0.09901)


def test_memory_is_bounded_by_the_window() -> None:
    monitor = ConnectionMonitor(window=100)
    for _ in range(10_000):
        monitor.connection_succeeded(1.0)
    for _ in range(100):
        monitor.connection_succeeded(0.001)
    m = monitor.get_metrics()
    assert m.p99_connection_time == pytest.approx(0.001)  # percentiles follow the recent window
    assert m.successful_connections == 10_100  # the counters still count everything
    assert m.connection_time_buckets[-1][1] == 10_100


def test_histogram_is_cumulative_with_le_semantics() -> None:
    monitor = ConnectionMonitor(buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 3.0):
        monitor.connection_succeeded(v)
    assert monitor.get_metrics().connection_time_buckets == ((0.1, 2), (1.0, 4), (math.inf, 5))


def test_per_server_counts_are_bounded() -> None:
    monitor = ConnectionMonitor()
    for i in range(MAX_TRACKED_SERVERS + 10):
        monitor.connection_succeeded(0.001, f"nats://host{i}:4222")
    by_server = monitor.get_metrics().connections_by_server
    assert len(by_server) == MAX_TRACKED_SERVERS + 1
    assert by_server["other"] == 10


def test_server_labels_are_redacted() -> None:
    monitor = ConnectionMonitor()
    monitor.connection_succeeded(0.001, "nats://alice:s3cret@host:4222")
    monitor.reconnected("nats://tok3n@host:4223")
    assert monitor.get_metrics().connections_by_server == {
        "nats://alice:***@host:4222": 1,
        "nats://***@host:4223": 1,
    }


def test_lifecycle_counters() -> None:
    monitor = ConnectionMonitor()
    monitor.disconnected()
    monitor.reconnected()
    monitor.error_occurred(RuntimeError("token=abc123 rejected"))
    monitor.error_occurred()
    monitor.borrowed()
    m = monitor.get_metrics()
    assert (m.disconnects, m.reconnects, m.errors, m.borrows) == (1, 1, 2, 1)
    assert m.last_error == "RuntimeError: token=*** rejected"


async def test_reset_zeroes_and_ignores_stale_generations() -> None:
    monitor = ConnectionMonitor()
    monitor.connection_started()
    old = monitor.generation
    await monitor.record_connection_failure("boom")
    monitor.reset_metrics()
    snapshot = monitor.get_metrics()
    assert snapshot == ConnectionMetrics(
        connection_time_buckets=snapshot.connection_time_buckets,
        operation_time_buckets=snapshot.operation_time_buckets,
    )
    assert monitor.generation != old
    monitor.connection_started()
    monitor.connection_released(old)  # a close of an attempt counted before the reset
    assert monitor.get_metrics().active_connections == 1
    monitor.connection_released(monitor.generation)
    assert monitor.get_metrics().active_connections == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"buckets": ()}, "buckets"),
        ({"buckets": (0.0, 1.0)}, "buckets"),
        ({"buckets": (math.inf,)}, "buckets"),
        ({"window": 0}, "window"),
    ],
)
def test_bad_monitor_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConnectionMonitor(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("window", ["10", 1.5, True])
def test_window_of_the_wrong_type_is_a_type_error(window: object) -> None:
    with pytest.raises(TypeError, match="window"):
        ConnectionMonitor(window=window)  # type: ignore[arg-type]


async def test_module_level_helpers_use_the_patched_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = ConnectionMonitor()
    monkeypatch.setattr(utils, "connection_monitor", mine)
    await mine.record_connection_start()
    assert (await utils.get_connection_metrics()).total_connections == 1
    await utils.reset_connection_metrics()
    assert mine.get_metrics().total_connections == 0


def test_repr_is_short() -> None:
    assert repr(ConnectionMonitor()) == (
        "<ConnectionMonitor connections=0 active=0 operations=0 active_operations=0>"
    )
