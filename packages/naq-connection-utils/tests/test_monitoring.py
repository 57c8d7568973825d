"""enable_connection_monitoring: core's events mapped onto a monitor (synthetic events, no server)."""

from __future__ import annotations

import pytest

from naq.connection import events, utils
from naq.connection.events import ConnectionEvent, ConnectionEventKind
from naq.connection.utils import ConnectionMonitor
from naq.connection.utils.monitoring import ConnectionMonitorListener

pytestmark = pytest.mark.unit

K = ConnectionEventKind


def emit(kind: ConnectionEventKind, cid: int, **fields: object) -> None:
    events.emit(ConnectionEvent(kind=kind, connection_id=cid, client_name="test", **fields))  # type: ignore[arg-type]


def open_and_close(cid: int, *, connect_time: float = 0.01, pooled: bool = False) -> None:
    emit(K.CONNECTING, cid, pooled=pooled)
    emit(K.CONNECTED, cid, duration=connect_time, server="nats://127.0.0.1:4222", pooled=pooled)
    emit(K.CLOSED, cid, duration=1.0, pooled=pooled)


def test_a_connection_is_counted_with_its_connect_time() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    emit(K.CONNECTING, 1)
    assert monitor.get_metrics().active_connections == 1
    emit(K.CONNECTED, 1, duration=0.25, server="nats://127.0.0.1:4222")
    m = monitor.get_metrics()
    assert (m.total_connections, m.successful_connections, m.active_connections) == (1, 1, 1)
    assert m.average_connection_time == 0.25
    assert m.connections_by_server == {"nats://127.0.0.1:4222": 1}
    emit(K.CLOSED, 1, duration=3.0)
    m = monitor.get_metrics()
    assert m.active_connections == 0
    assert m.total_connection_time == 0.25  # time open is not connect time


def test_failed_connect_is_counted_and_closed_out() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    emit(K.CONNECTING, 2)
    emit(K.CONNECT_FAILED, 2, duration=1.0, error=OSError("x"), error_message="refused by nats://127.0.0.1:1")
    m = monitor.get_metrics()
    assert (m.total_connections, m.failed_connections, m.active_connections) == (1, 1, 0)
    assert m.last_error == "refused by nats://127.0.0.1:1"


def test_failure_without_a_message_names_only_the_type() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    emit(K.CONNECT_FAILED, 3, error=RuntimeError("password=hunter2"))  # no CONNECTING seen
    m = monitor.get_metrics()
    assert m.last_error == "RuntimeError"
    assert (m.total_connections, m.failed_connections, m.active_connections) == (1, 1, 0)
    emit(K.ERROR, 3)
    assert monitor.get_metrics().errors == 1


def test_lifecycle_events() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    emit(K.CONNECTING, 4)
    emit(K.CONNECTED, 4, duration=0.01, server="nats://a:4222")
    emit(K.DISCONNECTED, 4)
    emit(K.RECONNECTED, 4, server="nats://b:4222")
    emit(K.ERROR, 4, error=OSError("x"), error_message="stale connection")
    m = monitor.get_metrics()
    assert (m.disconnects, m.reconnects, m.errors) == (1, 1, 1)
    assert m.last_error == "stale connection"
    assert m.connections_by_server == {"nats://a:4222": 1, "nats://b:4222": 1}
    assert m.active_connections == 1  # a reconnect does not open another connection


def test_pooled_connection_is_one_connection_and_borrows_are_counted() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    emit(K.CONNECTING, 5, pooled=True)
    emit(K.CONNECTED, 5, duration=0.01, pooled=True)
    for _ in range(50):
        emit(K.BORROWED, 5, pooled=True)
    m = monitor.get_metrics()
    assert (m.total_connections, m.active_connections, m.borrows) == (1, 1, 50)
    emit(K.CLOSED, 5, pooled=True)
    assert monitor.get_metrics().active_connections == 0


def test_connections_opened_before_enabling_are_not_subtracted() -> None:
    monitor = ConnectionMonitor()
    emit(K.CONNECTING, 6)
    emit(K.CONNECTED, 6, duration=0.01)  # nobody listening yet
    utils.enable_connection_monitoring(monitor)
    open_and_close(7)
    emit(K.CONNECTING, 8)
    emit(K.CLOSED, 6)  # opened before monitoring: must not cancel out connection 8
    assert monitor.get_metrics().active_connections == 1
    emit(K.CLOSED, 8)
    assert monitor.get_metrics().active_connections == 0


def test_connected_without_connecting_still_counts_an_attempt() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    emit(K.CONNECTED, 9, duration=0.01)
    m = monitor.get_metrics()
    assert (m.total_connections, m.successful_connections, m.active_connections) == (1, 1, 1)
    emit(K.CONNECTING, 9)  # a duplicate CONNECTING for a tracked id is ignored
    assert monitor.get_metrics().total_connections == 1


def test_enable_is_idempotent() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    utils.enable_connection_monitoring(monitor)
    open_and_close(10)
    assert monitor.get_metrics().total_connections == 1


def test_disable_stops_counting_and_releases_open_connections() -> None:
    monitor = ConnectionMonitor()
    disable = utils.enable_connection_monitoring(monitor)
    assert utils.is_monitoring_enabled(monitor)
    emit(K.CONNECTING, 11)
    emit(K.CONNECTED, 11, duration=0.01)
    (listener,) = [fn for fn in events._listeners if isinstance(fn, ConnectionMonitorListener)]
    assert listener.tracked_connections == 1
    disable()
    assert listener.tracked_connections == 0
    assert not utils.is_monitoring_enabled(monitor)
    assert monitor.get_metrics().active_connections == 0
    open_and_close(12)
    assert monitor.get_metrics().total_connections == 1
    disable()  # twice is harmless
    assert not events.has_listeners()


def test_reset_while_open_keeps_the_invariant() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    emit(K.CONNECTING, 13)
    emit(K.CONNECTED, 13, duration=0.01)
    monitor.reset_metrics()
    emit(K.CONNECTING, 14)
    emit(K.CONNECTED, 14, duration=0.01)
    emit(K.CLOSED, 13)  # counted before the reset: ignored
    assert monitor.get_metrics().active_connections == 1
    emit(K.CLOSED, 14)
    assert monitor.get_metrics().active_connections == 0


def test_default_monitor_is_looked_up_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = ConnectionMonitor()
    monkeypatch.setattr(utils, "connection_monitor", mine)
    utils.enable_connection_monitoring()
    open_and_close(15)
    assert mine.get_metrics().total_connections == 1
    assert utils.is_monitoring_enabled()
    utils.disable_connection_monitoring()
    assert not utils.is_monitoring_enabled()


def test_several_monitors_and_disable_all() -> None:
    a, b = ConnectionMonitor(), ConnectionMonitor()
    utils.enable_connection_monitoring(a)
    utils.enable_connection_monitoring(b)
    open_and_close(16)
    assert a.get_metrics().total_connections == b.get_metrics().total_connections == 1
    utils.disable_connection_monitoring()
    assert not events.has_listeners()


def test_re_enable_after_core_cleared_its_listeners() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    events.clear_listeners()
    utils.enable_connection_monitoring(monitor)
    open_and_close(17)
    assert monitor.get_metrics().total_connections == 1


def test_rejects_something_that_is_not_a_monitor() -> None:
    with pytest.raises(TypeError, match="ConnectionMonitor"):
        utils.enable_connection_monitoring(object())  # type: ignore[arg-type]


def test_thousand_connections_exact() -> None:
    monitor = ConnectionMonitor()
    utils.enable_connection_monitoring(monitor)
    for cid in range(1000):
        emit(K.CONNECTING, 1000 + cid)
    for cid in range(1000):
        if cid % 4:
            emit(K.CONNECTED, 1000 + cid, duration=0.001)
        else:
            emit(K.CONNECT_FAILED, 1000 + cid, error_message="refused")
    for cid in range(1000):
        if cid % 4:
            emit(K.CLOSED, 1000 + cid)
    m = monitor.get_metrics()
    assert (m.total_connections, m.successful_connections, m.failed_connections, m.active_connections) == (
        1000,
        750,
        250,
        0,
    )
