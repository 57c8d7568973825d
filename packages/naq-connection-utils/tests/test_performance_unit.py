"""measure_connection_performance with a mocked nats_connection."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import MagicMock

import pytest

from naq.connection import utils
from naq.connection.errors import NaqConnectionError

from .conftest import fake_connection, fake_context_manager

pytestmark = pytest.mark.unit


async def test_all_succeed(patched_connection: MagicMock) -> None:
    seen: list[tuple[int, int, bool]] = []
    result = await utils.measure_connection_performance(iterations=5, progress=lambda *a: seen.append(a))
    assert patched_connection.call_count == 5
    patched_connection.assert_called_with()
    assert result["iterations"] == 5
    assert result["successes"] == 5
    assert result["failures"] == 0
    assert result["success_rate"] == 1.0
    assert 0 < result["min_time"] <= result["p50"] <= result["p95"] <= result["p99"] <= result["max_time"]
    assert result["min_time"] <= result["average_time"] <= result["max_time"]
    assert result["last_error"] is None
    assert seen == [(i, 5, True) for i in range(1, 6)]


async def test_failures_are_counted_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    good = fake_context_manager(fake_connection())
    bad = fake_context_manager(enter_error=NaqConnectionError("nats://u:pw@h:1 refused"))
    factory = MagicMock(side_effect=[good, bad, good, bad])
    monkeypatch.setattr(utils, "nats_connection", factory)
    result = await utils.measure_connection_performance("nats://h:1", iterations=4)
    factory.assert_called_with("nats://h:1")
    assert (result["successes"], result["failures"], result["success_rate"]) == (2, 2, 0.5)
    assert result["last_error"] == "NaqConnectionError: nats://u:***@h:1 refused"
    assert [r.getMessage() for r in caplog.records] == [
        "2 of 4 connection attempts failed; last error: NaqConnectionError: nats://u:***@h:1 refused"
    ]


async def test_all_fail_gives_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        utils, "nats_connection", MagicMock(return_value=fake_context_manager(enter_error=OSError("refused")))
    )
    result = await utils.measure_connection_performance(iterations=3)
    assert result["success_rate"] == 0.0
    assert result["average_time"] == result["min_time"] == result["max_time"] == result["p50"] == 0.0


async def test_times_are_connect_times(monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow_enter(*args: Any) -> Any:
        await asyncio.sleep(0.05)
        return fake_connection()

    async def slow_exit(*args: Any) -> bool:
        await asyncio.sleep(0.2)  # closing is not part of the connect time
        return False

    cm = fake_context_manager()
    cm.__aenter__ = slow_enter
    cm.__aexit__ = slow_exit
    monkeypatch.setattr(utils, "nats_connection", MagicMock(return_value=cm))
    result = await utils.measure_connection_performance(iterations=2)
    assert 0.04 < result["average_time"] < 0.2
    assert result["total_time"] >= 0.5


async def test_cancellation_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        utils,
        "nats_connection",
        MagicMock(return_value=fake_context_manager(enter_error=asyncio.CancelledError())),
    )
    with pytest.raises(asyncio.CancelledError):
        await utils.measure_connection_performance(iterations=3)


@pytest.mark.parametrize("bad", [0, -2])
async def test_bad_iterations(bad: Any) -> None:
    with pytest.raises(ValueError, match="iterations must be a positive integer"):
        await utils.measure_connection_performance(iterations=bad)


@pytest.mark.parametrize("bad", [1.5, True, "3"])
async def test_iterations_of_the_wrong_type(bad: Any) -> None:
    with pytest.raises(TypeError, match="iterations must be an int, got"):
        await utils.measure_connection_performance(iterations=bad)


async def test_a_benchmark_keeps_its_results_when_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = iter([None, OSError("refused"), asyncio.CancelledError()])

    def factory(*args: Any) -> Any:
        return fake_context_manager(enter_error=next(outcomes))

    monkeypatch.setattr(utils, "nats_connection", MagicMock(side_effect=factory))
    bench = utils.ConnectionBenchmark(iterations=5)
    with pytest.raises(asyncio.CancelledError):
        await bench.run()
    summary = bench.summary()
    assert (summary["completed"], summary["successes"], summary["failures"]) == (2, 1, 1)
    assert summary["success_rate"] == 0.5
    assert summary["last_error"] == "OSError: refused"
    assert utils.ConnectionBenchmark(iterations=1).summary()["success_rate"] == 0.0
