"""Health checks with mocks: what is called, with what, and every failure path."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from unittest.mock import AsyncMock, MagicMock
from urllib.parse import urlparse

import pytest

from naq.connection import utils
from naq.connection.errors import NaqConnectionError
from naq.connection.utils import health

from .conftest import fake_connection, fake_context_manager

pytestmark = pytest.mark.unit


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# -- test_nats_connection -----------------------------------------------------------------------
async def test_healthy_flushes_and_does_a_round_trip(patched_connection: MagicMock, conn: MagicMock) -> None:
    assert await utils.test_nats_connection(timeout=2.0) is True
    patched_connection.assert_called_once_with()  # no config: nats_connection() with no argument
    conn.flush.assert_awaited_once_with(timeout=2.0)
    conn.rtt.assert_awaited_once_with(2.0)


async def test_config_is_passed_through(patched_connection: MagicMock) -> None:
    assert await utils.test_nats_connection("nats://127.0.0.1:4222") is True
    patched_connection.assert_called_once_with("nats://127.0.0.1:4222")


async def test_flush_alone_is_not_enough(
    patched_connection: MagicMock, conn: MagicMock, caplog: pytest.LogCaptureFixture
) -> None:
    from nats.errors import TimeoutError as NatsTimeout

    conn.rtt.side_effect = NatsTimeout()  # flush succeeded (reconnecting) but no PONG
    assert await utils.test_nats_connection(timeout=1.0) is False
    assert error_lines(caplog) == ["NATS health check failed: no answer within 1 s"]


async def test_connect_failure_logs_exactly_one_redacted_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failing = MagicMock(
        return_value=fake_context_manager(
            enter_error=NaqConnectionError("cannot connect to nats://bob:pw123@127.0.0.1:1\nrefused")
        )
    )
    monkeypatch.setattr(utils, "nats_connection", failing)
    assert await utils.test_nats_connection() is False
    lines = error_lines(caplog)
    assert len(lines) == 1
    assert "pw123" not in lines[0]
    expected = "NaqConnectionError: cannot connect to nats://bob:***@127.0.0.1:1 refused"
    assert lines[0] == f"NATS health check failed: {expected}"
    assert all(r.name == "naq.connection.utils" for r in caplog.records)


async def test_a_hung_connect_is_bounded_by_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hang(*args: Any) -> None:
        await asyncio.sleep(3600)

    cm = fake_context_manager()
    cm.__aenter__ = hang
    monkeypatch.setattr(utils, "nats_connection", MagicMock(return_value=cm))
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await utils.test_nats_connection(timeout=0.1) is False
    assert loop.time() - start < 2.0


async def test_cancellation_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    started = asyncio.Event()

    async def hang(*args: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    cm = fake_context_manager()
    cm.__aenter__ = hang
    monkeypatch.setattr(utils, "nats_connection", MagicMock(return_value=cm))
    task = asyncio.create_task(utils.test_nats_connection(timeout=30))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_rtt_that_is_not_awaitable_still_counts(patched_connection: MagicMock, conn: MagicMock) -> None:
    conn.rtt = MagicMock(return_value=0.001)  # e.g. a plain MagicMock connection in someone's test
    assert await utils.test_nats_connection() is True
    conn.rtt.assert_called_once()


async def test_without_rtt_it_requests_its_own_inbox(patched_connection: MagicMock, conn: MagicMock) -> None:
    conn.rtt = None
    conn.new_inbox = MagicMock(return_value="_INBOX.x")
    sub = MagicMock()
    sub.next_msg = AsyncMock(return_value=MagicMock())
    sub.unsubscribe = AsyncMock()
    conn.subscribe = AsyncMock(return_value=sub)
    conn.publish = AsyncMock()
    assert await utils.test_nats_connection(timeout=1.5) is True
    conn.subscribe.assert_awaited_once_with("_INBOX.x")
    conn.publish.assert_awaited_once_with("_INBOX.x", b"naq-health")
    sub.next_msg.assert_awaited_once_with(timeout=1.5)
    sub.unsubscribe.assert_awaited_once()


@pytest.mark.parametrize("bad", [0, -1, -0.5])
async def test_bad_timeout_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        await utils.test_nats_connection(timeout=bad)


@pytest.mark.parametrize("bad", ["5", True, None])
async def test_timeout_of_the_wrong_type_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="timeout must be a number of seconds, got"):
        await utils.test_nats_connection(timeout=bad)


@pytest.mark.parametrize(
    "check",
    [
        utils.test_nats_connection,
        utils.test_jetstream_connection,
        utils.wait_for_nats_connection,
        utils.get_nats_server_info,
    ],
)
@pytest.mark.parametrize("bad", [42, 1.5, b"nats://x", ["nats://x"]])
async def test_a_config_of_the_wrong_type_is_a_type_error(check: Any, bad: Any) -> None:
    with pytest.raises(TypeError, match=f"config must be a Config, .* got {type(bad).__name__}"):
        await check(bad)


# -- a connected client or a pool: nothing new is opened --------------------------------------------
def held_client(**attrs: Any) -> MagicMock:
    """A client the application holds: connected, not reconnecting."""
    state: dict[str, Any] = {"is_connected": True, "is_reconnecting": False, "is_closed": False}
    return fake_connection(**{**state, **attrs})


async def test_a_held_client_is_used_and_not_closed(patched_connection: MagicMock) -> None:
    client = held_client()
    assert await utils.test_nats_connection(client, timeout=1) is True
    patched_connection.assert_not_called()  # no new connection
    client.rtt.assert_awaited_once_with(1.0)
    client.close.assert_not_called()


async def test_a_reconnecting_client_is_false_at_once(caplog: pytest.LogCaptureFixture) -> None:
    client = held_client(is_reconnecting=True)
    assert await utils.test_nats_connection(client, timeout=1) is False
    client.flush.assert_not_called()  # a flush would succeed while reconnecting
    assert "reconnecting" in caplog.text


async def test_a_closed_client_is_false(caplog: pytest.LogCaptureFixture) -> None:
    assert await utils.test_nats_connection(held_client(is_closed=True), timeout=1) is False
    assert "closed" in caplog.text


async def test_jetstream_on_a_held_client(patched_connection: MagicMock) -> None:
    client = held_client()
    js = MagicMock()
    js.account_info = AsyncMock(return_value=None)
    client.jetstream = MagicMock(return_value=js)
    assert await utils.test_jetstream_connection(client, timeout=1) is True
    js.account_info.assert_awaited_once()
    patched_connection.assert_not_called()


async def test_server_info_on_a_held_client(patched_connection: MagicMock) -> None:
    client = held_client()
    client._server_info = dict(SERVER_INFO)
    client.connected_url = None
    info = await utils.get_nats_server_info(client)
    assert info["version"] == SERVER_INFO["version"]
    patched_connection.assert_not_called()


def test_not_collected_by_pytest() -> None:
    assert utils.test_nats_connection.__test__ is False  # type: ignore[attr-defined]
    assert utils.test_jetstream_connection.__test__ is False  # type: ignore[attr-defined]


# -- test_jetstream_connection ------------------------------------------------------------------
def patch_jetstream(monkeypatch: pytest.MonkeyPatch, js: MagicMock) -> MagicMock:
    factory = MagicMock(return_value=fake_context_manager((fake_connection(), js)))
    monkeypatch.setattr(utils, "nats_jetstream", factory)
    return factory


async def test_jetstream_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    js = MagicMock()
    js.account_info = AsyncMock()
    factory = patch_jetstream(monkeypatch, js)
    assert await utils.test_jetstream_connection() is True
    factory.assert_called_once_with()
    js.account_info.assert_awaited_once()
    assert await utils.test_jetstream_connection("nats://h:1") is True
    factory.assert_called_with("nats://h:1")


async def test_jetstream_disabled_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from nats.js.errors import ServiceUnavailableError

    js = MagicMock()
    js.account_info = AsyncMock(side_effect=ServiceUnavailableError())
    patch_jetstream(monkeypatch, js)
    assert await utils.test_jetstream_connection() is False
    assert error_lines(caplog) == ["JetStream check failed: JetStream is not enabled on the server"]


async def test_jetstream_other_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    js = MagicMock()
    js.account_info = AsyncMock(side_effect=RuntimeError("boom"))
    patch_jetstream(monkeypatch, js)
    assert await utils.test_jetstream_connection() is False
    assert error_lines(caplog) == ["JetStream check failed: RuntimeError: boom"]


async def test_jetstream_cancellation_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    js = MagicMock()
    js.account_info = AsyncMock(side_effect=asyncio.CancelledError())
    patch_jetstream(monkeypatch, js)
    with pytest.raises(asyncio.CancelledError):
        await utils.test_jetstream_connection()


# -- wait_for_nats_connection -------------------------------------------------------------------
class FakeClock:
    """A patched ``asyncio`` whose loop time only moves when ``sleep`` is awaited."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        loop = MagicMock()
        loop.time = lambda: self.now
        self.module = MagicMock()
        self.module.get_event_loop = MagicMock(return_value=loop)
        self.module.sleep = AsyncMock(side_effect=self._sleep)

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(utils, "asyncio", fake.module)
    return fake


async def test_wait_returns_as_soon_as_the_server_answers(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = AsyncMock(side_effect=[False, False, True])
    monkeypatch.setattr(utils, "test_nats_connection", probe)
    assert await utils.wait_for_nats_connection("nats://h:1", timeout=30, interval=2.0) is True
    assert probe.await_count == 3
    assert clock.sleeps == [2.0, 2.0]
    probe.assert_awaited_with("nats://h:1", timeout=5.0)


async def test_wait_gives_up_after_timeout_with_one_error_line(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    probe = AsyncMock(return_value=False)
    monkeypatch.setattr(utils, "test_nats_connection", probe)
    assert await utils.wait_for_nats_connection(timeout=3.5, interval=1.0) is False
    assert clock.now == pytest.approx(103.5)
    assert clock.sleeps == [1.0, 1.0, 1.0, 0.5]  # never sleeps past the deadline
    assert probe.await_count == 4
    assert probe.await_args_list[-1].kwargs["timeout"] == pytest.approx(0.5)
    assert error_lines(caplog) == ["NATS not reachable after 3.5 s (4 attempts)"]


async def test_wait_breaks_when_a_probe_used_up_the_time(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow_probe(config: Any, timeout: float) -> bool:
        clock.now += timeout
        return False

    monkeypatch.setattr(utils, "test_nats_connection", slow_probe)
    assert await utils.wait_for_nats_connection(timeout=2, interval=1) is False
    assert clock.sleeps == []


async def test_wait_quiets_attempts_and_reports_the_last_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    monkeypatch.setattr(
        utils,
        "nats_connection",
        MagicMock(return_value=fake_context_manager(enter_error=NaqConnectionError("refused"))),
    )
    caplog.set_level(logging.DEBUG, logger="naq.connection.utils")
    assert await utils.wait_for_nats_connection(timeout=2, interval=1) is False
    assert error_lines(caplog) == [
        "NATS not reachable after 2 s (2 attempts): last error: "
        "NATS health check failed: NaqConnectionError: refused"
    ]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 2
    # outside wait_for_nats_connection, a failure is an ERROR again
    caplog.clear()
    assert await utils.test_nats_connection() is False
    assert len(error_lines(caplog)) == 1


@pytest.mark.parametrize(("kwargs", "name"), [({"timeout": 0}, "timeout"), ({"interval": -1}, "interval")])
async def test_wait_bad_arguments(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        await utils.wait_for_nats_connection(**kwargs)


# -- get_nats_server_info -----------------------------------------------------------------------
SERVER_INFO = {
    "server_id": "NABC",
    "server_name": "n1",
    "version": "2.15.0",
    "go": "go1.24",
    "proto": 1,
    "jetstream": True,
    "max_payload": 1048576,
    "headers": True,
    "client_id": 7,
    "cluster": "c1",
}


async def test_server_info_fields(patched_connection: MagicMock, conn: MagicMock) -> None:
    conn._server_info = dict(SERVER_INFO)
    conn.rtt = AsyncMock(return_value=0.0004)
    conn.connected_url = urlparse("nats://alice:secret@127.0.0.1:4222")
    info = await utils.get_nats_server_info()
    assert info == {
        "server_name": "n1",
        "server_id": "NABC",
        "version": "2.15.0",
        "go": "go1.24",
        "proto": 1,
        "jetstream": True,
        "max_payload": 1048576,
        "headers": True,
        "cluster": "c1",
        "client_id": 7,
        "rtt": 0.0004,
        "connected_url": "nats://alice:***@127.0.0.1:4222",
    }


async def test_server_info_minimal(patched_connection: MagicMock, conn: MagicMock) -> None:
    conn._server_info = None
    conn.max_payload = 1024
    conn.connected_url = None
    info = await utils.get_nats_server_info("nats://h:1")
    patched_connection.assert_called_once_with("nats://h:1")
    assert info["jetstream"] is False
    assert info["cluster"] is None
    assert info["max_payload"] == 1024
    assert info["connected_url"] is None


async def test_server_info_failures_are_naq_connection_errors(
    monkeypatch: pytest.MonkeyPatch, patched_connection: MagicMock, conn: MagicMock
) -> None:
    conn.rtt = AsyncMock(side_effect=RuntimeError("password=x broke"))
    with pytest.raises(
        NaqConnectionError, match=r"reading NATS server info failed: RuntimeError: password=\*\*\*"
    ):
        await utils.get_nats_server_info()
    original = NaqConnectionError("refused")
    monkeypatch.setattr(
        utils, "nats_connection", MagicMock(return_value=fake_context_manager(enter_error=original))
    )
    with pytest.raises(NaqConnectionError) as info:
        await utils.get_nats_server_info()
    assert info.value is original  # core's error passes through unchanged


def test_config_like_covers_core_inputs() -> None:
    assert "str" in str(health.ConfigLike)
