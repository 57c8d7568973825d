"""The fail-fast initial connect with the real nats-py, against sockets that are not NATS servers.

- a refused port (nothing listens) must fail in well under a second, whatever the reconnect settings;
- a "blackhole" (TCP accepted, no INFO ever) must fail within ``connection_timeout`` + 1 s;
- cancelling or timing out a connect to a blackhole must not leak sockets or asyncio tasks.

Servers that do speak NATS are in test_connect_server.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

import nats.errors
import psutil
import pytest

from naq.connection import _connect
from naq.connection import context_managers as cm
from naq.connection.config import NatsConfig
from naq.connection.errors import NaqConnectionError, is_transient
from naq.connection.events import ConnectionEventKind as Kind

pytestmark = pytest.mark.unit


def config(servers: Any, **overrides: Any) -> NatsConfig:
    # The reconnect settings would make nats-py's own initial connect take minutes.
    settings: dict[str, Any] = {
        "client_name": "fail-fast",
        "max_reconnect_attempts": 60,
        "reconnect_time_wait": 2.0,
        "connection_timeout": 1.0,
    }
    settings.update(overrides)
    return NatsConfig(servers=servers, **settings)


def other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current}


async def settle() -> None:
    """Let cancelled tasks and closed transports finish (a few loop iterations)."""
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    gc.collect()


def test_nats_connect_is_captured_from_nats_py() -> None:
    # The own-client path (holding the half-built client) is taken only for nats-py's own function.
    assert cm._NATS_CONNECT is nats.connect
    assert cm.nats is nats


async def test_refused_port_fails_fast_despite_minutes_of_reconnect_settings(
    refused_url: str, events_log: list[Any]
) -> None:
    started = time.monotonic()
    with pytest.raises(NaqConnectionError) as caught:
        async with cm.nats_connection(config(refused_url)):
            pytest.fail("body must not run")
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    error = caught.value
    assert refused_url in str(error)
    assert "is nats-server running" in str(error)
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert is_transient(error)
    assert [e.kind for e in events_log] == [Kind.CONNECTING, Kind.CONNECT_FAILED]


async def test_blackholed_server_fails_within_connection_timeout_plus_one(blackhole_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(config(blackhole_url, connection_timeout=1.0))
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 1.0 + 1, f"took {elapsed:.2f}s"
    assert isinstance(caught.value.__cause__, asyncio.TimeoutError)
    assert "no NATS handshake in time" in str(caught.value)
    # nats-py gave up by itself (its second attempt got what was left of the budget), before the
    # hard deadline had to step in
    assert elapsed < 1.0 + _connect.DEADLINE_GRACE, f"took {elapsed:.2f}s"
    assert "timed out after" not in str(caught.value)


async def test_every_server_is_tried_before_giving_up(
    refused_url: str, blackhole_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config([blackhole_url, refused_url], connection_timeout=1.0)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="naq.connection"), pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(cfg)
    assert time.monotonic() - started < 1.0 + 1
    attempts = [r.getMessage() for r in caplog.records if "connect attempt failed" in r.getMessage()]
    assert any("ConnectionRefusedError" in line for line in attempts), attempts
    assert any("TimeoutError" in line for line in attempts), attempts
    assert blackhole_url in str(caught.value)
    assert refused_url in str(caught.value)


async def test_cancelled_connects_leak_no_sockets_or_tasks(blackhole_url: str) -> None:
    process = psutil.Process()
    cfg = config(blackhole_url, connection_timeout=5.0)
    await settle()
    fds_before = process.num_fds()
    tasks_before = other_tasks()
    for _ in range(20):
        task = asyncio.ensure_future(cm.open_connection(cfg))
        await asyncio.sleep(0.02)  # connected at TCP level, waiting for INFO
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await settle()
    assert process.num_fds() == fds_before
    assert other_tasks() == tasks_before


async def test_timed_out_connects_leak_no_sockets_or_tasks(blackhole_url: str) -> None:
    process = psutil.Process()
    cfg = config(blackhole_url, connection_timeout=5.0)
    await settle()
    fds_before = process.num_fds()
    tasks_before = other_tasks()
    for _ in range(20):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(cm.open_connection(cfg), 0.03)
    await settle()
    assert process.num_fds() == fds_before
    assert other_tasks() == tasks_before


async def test_connect_failures_leak_nothing_either(blackhole_url: str, refused_url: str) -> None:
    process = psutil.Process()
    await settle()
    fds_before = process.num_fds()
    tasks_before = other_tasks()
    for url in (blackhole_url, refused_url) * 3:
        with pytest.raises(NaqConnectionError):
            await cm.open_connection(config(url, connection_timeout=0.1))
    await settle()
    assert process.num_fds() == fds_before
    assert other_tasks() == tasks_before


def test_abandon_tolerates_foreign_and_half_built_objects() -> None:
    _connect.abandon(object())
    _connect.abandon(None)
    client = nats.NATS()  # never connected: close() would raise AssertionError
    _connect.abandon(client)
    assert client.is_closed


def test_describe_is_one_redacted_line() -> None:
    long = "x" * 400
    assert _connect.describe(None) == "unknown error"
    assert _connect.describe(RuntimeError()) == "RuntimeError"
    text = _connect.describe(RuntimeError(f"a\nb nats://u:pw@h {long}"), ("pw",))
    assert "\n" not in text
    assert "pw" not in text
    assert text.endswith("...")


async def test_hard_deadline_ends_a_walk_nats_py_timeouts_do_not_cover(
    blackhole_url: str, monkeypatch: pytest.MonkeyPatch, events_log: list[Any]
) -> None:
    # Pull the hard deadline in front of nats-py's own per-attempt timeout (1 s) to see it act.
    monkeypatch.setattr(_connect, "DEADLINE_GRACE", -0.8)
    process = psutil.Process()
    await settle()
    fds_before = process.num_fds()
    tasks_before = other_tasks()
    started = time.monotonic()
    with pytest.raises(NaqConnectionError, match="timed out after 1 s") as caught:
        await cm.open_connection(config(blackhole_url, connection_timeout=1.0))
    assert time.monotonic() - started < 0.8
    assert isinstance(caught.value.__cause__, asyncio.TimeoutError)
    assert [e.kind for e in events_log] == [Kind.CONNECTING, Kind.CONNECT_FAILED]
    await settle()
    assert process.num_fds() == fds_before
    assert other_tasks() == tasks_before


async def test_deadline_firing_as_the_handshake_completes_is_still_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that sends INFO late and never answers PING: nats-py would wait a full
    connect_timeout for the PONG; the deadline aborts the socket, and nats-py then returns as if
    connected. That half-open client must be torn down and reported as a timeout."""
    info = b'INFO {"server_id":"fake","version":"2.10.0","max_payload":1048576}\r\n'

    async def late_info(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        writer.write(info)
        await writer.drain()
        await reader.read()  # never answer; end when the client goes away
        writer.close()

    server = await asyncio.start_server(late_info, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(_connect, "DEADLINE_GRACE", -0.5)  # deadline at 0.5 s, PONG wait until 1.3 s
    try:
        await settle()
        tasks_before = other_tasks()
        started = time.monotonic()
        with pytest.raises(NaqConnectionError, match="timed out"):
            await cm.open_connection(config(f"nats://127.0.0.1:{port}", connection_timeout=1.0))
        assert time.monotonic() - started < 1.0
        await settle()
        assert other_tasks() == tasks_before  # nats-py's read / ping / flusher tasks were cancelled
    finally:
        server.close()
        await server.wait_closed()


async def test_last_resort_cancel_bounds_a_wait_the_teardown_cannot_end(
    blackhole_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If tearing the client down did not end nats-py's wait (a future nobody resolves), the
    connecting task is cancelled 0.3 s after the deadline and the caller still gets a timeout --
    and no stray cancellation."""
    from naq.connection import _lifecycle

    monkeypatch.setattr(_connect, "DEADLINE_GRACE", -0.7)  # deadline at 0.3 s (nats-py waits 1 s)
    monkeypatch.setattr(_lifecycle, "abandon", lambda conn: None)  # the teardown "does not work"
    started = time.monotonic()
    with pytest.raises(NaqConnectionError, match="timed out") as caught:
        await cm.open_connection(config(blackhole_url, connection_timeout=1.0))
    elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 0.9, f"took {elapsed:.2f}s"  # deadline 0.3 s + last resort 0.3 s
    assert isinstance(caught.value.__cause__, asyncio.TimeoutError)
    task = asyncio.current_task()
    assert task is not None
    if hasattr(task, "cancelling"):
        assert task.cancelling() == 0
    await asyncio.sleep(0.01)  # no leftover cancellation is delivered here


async def test_a_real_cancel_during_connect_is_not_mistaken_for_the_last_resort(blackhole_url: str) -> None:
    task = asyncio.ensure_future(cm.open_connection(config(blackhole_url, connection_timeout=1.0)))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_decisive_errors() -> None:
    import ssl

    from naq.connection._lifecycle import is_decisive

    assert is_decisive(ssl.SSLCertVerificationError("certificate verify failed"))
    assert is_decisive(nats.errors.AuthorizationError())
    assert is_decisive(nats.errors.Error("nats: 'Authorization Violation'"))
    assert not is_decisive(ConnectionRefusedError())
    assert not is_decisive(asyncio.TimeoutError())

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert not is_decisive(Unprintable())


def test_installed_nats_py_keeps_its_callbacks_where_core_installs_them_late() -> None:
    """The fast path of ``LATE_CALLBACKS`` is on with the nats-py we test against: if a release moved
    the callback attributes, this fails instead of the fast path silently switching off."""
    assert _connect.LATE_CALLBACKS is True
