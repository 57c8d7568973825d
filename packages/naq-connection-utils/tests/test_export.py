"""metrics_to_dict / metrics_to_json and the Prometheus collector (parsed back with prometheus_client)."""

from __future__ import annotations

import builtins
import json
import math
import sys
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from naq.connection import utils
from naq.connection.utils import ConnectionMetrics, ConnectionMonitor

pytestmark = pytest.mark.unit


def busy_monitor() -> ConnectionMonitor:
    monitor = ConnectionMonitor(buckets=(0.01, 0.1))
    for duration in (0.005, 0.05, 0.5):
        monitor.connection_started()
        monitor.connection_succeeded(duration, "nats://alice:***@127.0.0.1:4222")
        monitor.connection_released()
    monitor.connection_started()
    monitor.connection_failed(RuntimeError("nats://alice:hunter2@127.0.0.1:4222 refused"))
    monitor.connection_started()  # one still active
    monitor.disconnected()
    monitor.reconnected("nats://127.0.0.1:4223")
    monitor.error_occurred("slow consumer")
    monitor.borrowed()
    monitor.borrowed()
    return monitor


def test_metrics_to_dict_has_every_field() -> None:
    data = utils.metrics_to_dict(busy_monitor().get_metrics())
    assert set(data) == set(ConnectionMetrics.__dataclass_fields__)
    assert data["total_connections"] == 5
    assert data["active_connections"] == 2
    assert data["successful_connections"] == 3
    assert data["failed_connections"] == 1
    assert data["borrows"] == 2
    assert data["connection_time_buckets"] == [
        {"le": 0.01, "count": 1},
        {"le": 0.1, "count": 2},
        {"le": "+Inf", "count": 3},
    ]
    assert data["last_error"] == "slow consumer"


def test_metrics_to_dict_defaults_to_the_package_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(utils, "connection_monitor", busy_monitor())
    assert utils.metrics_to_dict()["total_connections"] == 5
    with pytest.raises(TypeError, match="ConnectionMetrics"):
        utils.metrics_to_dict({"total_connections": 1})  # type: ignore[arg-type]


def test_metrics_to_json_round_trips_without_secrets() -> None:
    monitor = ConnectionMonitor()
    monitor.connection_failed(RuntimeError("nats://alice:hunter2@127.0.0.1:4222 refused"))
    text = utils.metrics_to_json(monitor.get_metrics(), indent=2)
    assert "hunter2" not in text
    assert json.loads(text)["failed_connections"] == 1
    assert json.loads(text)["last_error"] == "RuntimeError: nats://alice:***@127.0.0.1:4222 refused"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_prometheus_text_parses_back() -> None:
    text = utils.prometheus_text(busy_monitor())
    assert "hunter2" not in text
    got = samples(text)
    assert got[("naq_nats_connections_total", ())] == 5
    assert got[("naq_nats_connections_successful_total", ())] == 3
    assert got[("naq_nats_connections_failed_total", ())] == 1
    assert got[("naq_nats_connections_active", ())] == 2
    assert got[("naq_nats_reconnects_total", ())] == 1
    assert got[("naq_nats_disconnects_total", ())] == 1
    assert got[("naq_nats_errors_total", ())] == 1
    assert got[("naq_nats_borrows_total", ())] == 2
    assert got[("naq_nats_server_connections_total", (("server", "nats://alice:***@127.0.0.1:4222"),))] == 3
    assert got[("naq_nats_server_connections_total", (("server", "nats://127.0.0.1:4223"),))] == 1
    assert got[("naq_nats_connection_time_seconds_bucket", (("le", "0.01"),))] == 1
    assert got[("naq_nats_connection_time_seconds_bucket", (("le", "0.1"),))] == 2
    assert got[("naq_nats_connection_time_seconds_bucket", (("le", "+Inf"),))] == 3
    assert got[("naq_nats_connection_time_seconds_count", ())] == 3
    assert got[("naq_nats_connection_time_seconds_sum", ())] == pytest.approx(0.555)
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types["naq_nats_connection_time_seconds"] == "histogram"
    assert types["naq_nats_connections_active"] == "gauge"
    assert types["naq_nats_connections"] == "counter"


def test_prometheus_text_defaults_to_the_package_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(utils, "connection_monitor", busy_monitor())
    assert samples(utils.prometheus_text())[("naq_nats_connections_total", ())] == 5


def test_empty_monitor_exports_zeros() -> None:
    got = samples(utils.prometheus_text(ConnectionMonitor()))
    assert got[("naq_nats_connections_total", ())] == 0
    assert got[("naq_nats_connection_time_seconds_bucket", (("le", "+Inf"),))] == 0


def test_register_collector_scrapes_live_values() -> None:
    registry = CollectorRegistry()
    monitor = ConnectionMonitor()
    collector = utils.register_prometheus_collector(monitor, registry=registry)
    assert utils.register_prometheus_collector(monitor, registry=registry) is collector  # idempotent
    monitor.connection_started()
    assert samples(generate_latest(registry).decode())[("naq_nats_connections_total", ())] == 1
    monitor.connection_started()
    assert samples(generate_latest(registry).decode())[("naq_nats_connections_total", ())] == 2
    with pytest.raises(ValueError, match="already registered"):
        utils.register_prometheus_collector(ConnectionMonitor(), registry=registry)
    utils.unregister_prometheus_collector(registry)
    assert "naq_nats" not in generate_latest(registry).decode()
    utils.unregister_prometheus_collector(registry)  # twice is harmless


def test_register_with_the_default_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    import prometheus_client

    registry = CollectorRegistry()
    monkeypatch.setattr(prometheus_client, "REGISTRY", registry)
    collector = utils.register_prometheus_collector()
    assert collector.monitor is utils.connection_monitor
    assert "naq_nats_connections_total 0.0" in generate_latest(registry).decode()
    utils.unregister_prometheus_collector()
    assert generate_latest(registry) == b""


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_prometheus(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("prometheus_client"):
            raise ImportError("No module named 'prometheus_client'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "prometheus_client", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_prometheus)
    for call in (utils.prometheus_text, utils.register_prometheus_collector, utils.NaqConnectionCollector):
        with pytest.raises(ImportError, match=r"pip install 'naq-connection-utils\[prometheus\]'"):
            call()


def test_histogram_inf_bound() -> None:
    assert math.isinf(busy_monitor().get_metrics().connection_time_buckets[-1][0])
