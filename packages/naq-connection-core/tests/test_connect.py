"""The fail-fast initial connect with the real nats-py, against sockets that are not NATS servers.

- a refused port (nothing listens) must fail in well under a second, whatever the reconnect settings;
- a "blackhole" (TCP accepted, no INFO ever) must fail within ``connection_timeout`` + 1 s;
- cancelling or timing out a connect to a blackhole must not leak sockets or asyncio tasks.

Servers that do speak NATS are in test_context_managers_server.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

import nats
import psutil
import pytest

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


async def back_to(fds: int, tasks: set[asyncio.Task[Any]], *, within: float = 10.0) -> None:
    """Wait until the process's file descriptors and the loop's tasks are back to a baseline.

    Polls (a loaded machine may take a while to run the cancelled tasks' cleanup), and fails
    with what is left when they are not back ``within`` seconds: only a leak fails this.
    """
    process = psutil.Process()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        await settle()
        if process.num_fds() <= fds and other_tasks() <= tasks:
            return
        if loop.time() > deadline:
            assert process.num_fds() <= fds, "file descriptors leaked"
            assert other_tasks() <= tasks, f"tasks left: {other_tasks() - tasks}"


async def test_refused_port_fails_fast_despite_minutes_of_reconnect_settings(
    refused_url: str, events_log: list[Any]
) -> None:
    # nats-py itself would retry for about two minutes with these settings
    started = time.monotonic()
    with pytest.raises(NaqConnectionError) as caught:
        async with cm.nats_connection(config(refused_url)):
            pytest.fail("body must not run")
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"took {elapsed:.2f}s"  # generous: "fails fast", not "retries for minutes"
    error = caught.value
    assert refused_url in str(error)
    assert "is nats-server running" in str(error)
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert is_transient(error)
    assert [e.kind for e in events_log] == [Kind.CONNECTING, Kind.CONNECT_FAILED]
    assert isinstance(events_log[-1].error, ConnectionRefusedError)


async def test_blackholed_server_fails_within_connection_timeout(blackhole_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(config(blackhole_url, connection_timeout=1.0))
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 5, f"took {elapsed:.2f}s"  # generous: only "does not hang"
    assert isinstance(caught.value.__cause__, asyncio.TimeoutError)
    assert "no NATS handshake in time" in str(caught.value)
    assert is_transient(caught.value)


async def test_every_server_is_tried_before_giving_up(
    refused_url: str, blackhole_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config([blackhole_url, refused_url], connection_timeout=1.0)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="naq.connection"), pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(cfg)
    assert time.monotonic() - started < 1.0 + 5
    attempts = [r.getMessage() for r in caplog.records if "connect attempt failed" in r.getMessage()]
    assert any("ConnectionRefusedError" in line for line in attempts), attempts
    assert any("TimeoutError" in line for line in attempts), attempts
    assert blackhole_url in str(caught.value)
    assert refused_url in str(caught.value)
    assert all(r.exc_info is None for r in caplog.records)  # no tracebacks, unlike nats-py's default


async def test_cancelled_connects_leak_no_sockets_or_tasks(blackhole_url: str, events_log: list[Any]) -> None:
    process = psutil.Process()
    cfg = config(blackhole_url, connection_timeout=5.0)
    await settle()
    fds_before = process.num_fds()
    tasks_before = other_tasks()
    for _ in range(20):
        task = asyncio.ensure_future(cm.open_connection(cfg))
        await asyncio.sleep(0.02)  # connected at TCP level (or still connecting), waiting for INFO
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await back_to(fds_before, tasks_before)
    failed = [e for e in events_log if e.kind is Kind.CONNECT_FAILED]
    assert len(failed) == 20
    assert all(isinstance(e.error, asyncio.CancelledError) for e in failed)


async def test_timed_out_connects_leak_no_sockets_or_tasks(blackhole_url: str) -> None:
    process = psutil.Process()
    cfg = config(blackhole_url, connection_timeout=5.0)
    await settle()
    fds_before = process.num_fds()
    tasks_before = other_tasks()
    for _ in range(20):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(cm.open_connection(cfg), 0.03)
    await back_to(fds_before, tasks_before)


async def test_connect_failures_leak_nothing_either(blackhole_url: str, refused_url: str) -> None:
    process = psutil.Process()
    await settle()
    fds_before = process.num_fds()
    tasks_before = other_tasks()
    for url in (blackhole_url, refused_url) * 3:
        with pytest.raises(NaqConnectionError):
            await cm.open_connection(config(url, connection_timeout=0.1))
    await back_to(fds_before, tasks_before)


async def test_failure_messages_are_one_redacted_line(monkeypatch: pytest.MonkeyPatch) -> None:
    long = "x" * 400

    async def failing_connect(**kwargs: Any) -> Any:
        raise RuntimeError(f"a\nb nats://u:pw-secret@h {long}")

    monkeypatch.setattr(nats, "connect", failing_connect)
    cfg = config("nats://u:pw-secret@127.0.0.1:4999")
    with pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(cfg)
    text = str(caught.value)
    assert "\n" not in text
    assert "pw-secret" not in text
    assert "RuntimeError: a b nats://u:***@h" in text
    assert "..." in text  # long causes are cut
    assert len(text) < 600

    async def silent_failure(**kwargs: Any) -> Any:
        raise RuntimeError

    monkeypatch.setattr(nats, "connect", silent_failure)
    with pytest.raises(NaqConnectionError, match=r"failed \(RuntimeError\)"):
        await cm.open_connection(cfg)


async def test_the_deadline_ends_a_handshake_nats_py_would_wait_longer_for(events_log: list[Any]) -> None:
    """A server that sends INFO late and never answers PING: nats-py waits a full connect_timeout
    for the PONG after the late INFO; core's deadline (connection_timeout + a grace) ends the
    attempt first, tears the half-open client down and reports a timeout."""
    info = b'INFO {"server_id":"fake","version":"2.10.0","max_payload":1048576}\r\n'

    async def late_info(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1.0)  # well inside the 2 s attempt timeout
        writer.write(info)
        await writer.drain()
        await reader.read()  # never answer; end when the client goes away
        writer.close()

    server = await asyncio.start_server(late_info, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        process = psutil.Process()
        await settle()
        fds_before = process.num_fds()
        tasks_before = other_tasks()
        started = time.monotonic()
        with pytest.raises(NaqConnectionError, match="timed out after 2 s") as caught:
            await cm.open_connection(config(f"nats://127.0.0.1:{port}", connection_timeout=2.0))
        assert time.monotonic() - started < 2.0 + 5  # generous: only "does not hang"
        assert "no NATS handshake in time" in str(caught.value)
        assert [e.kind for e in events_log] == [Kind.CONNECTING, Kind.CONNECT_FAILED]
        await back_to(fds_before + 1, tasks_before)  # + the server side of the socket, until it notices
    finally:
        server.close()
        await server.wait_closed()


async def test_a_cancel_during_connect_propagates(blackhole_url: str) -> None:
    task = asyncio.ensure_future(cm.open_connection(config(blackhole_url, connection_timeout=1.0)))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
