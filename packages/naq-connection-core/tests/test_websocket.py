"""Teardown of ``ws://`` / ``wss://`` connections (nats-py's WebSocketTransport over aiohttp).

nats-py's websocket transport has no stream writers to abort: the socket sits under an aiohttp
websocket whose sends wait for the socket to drain, and nats-py's ``close()`` can raise a
``CancelledError`` of its own there (aiohttp shares one drain future between writers, and nats-py
cancels its flusher while it waits on it). Fakes prove the wiring (always run); a real nats-server
with a websocket listener proves the behaviour (needs aiohttp, nats-py's optional websocket
dependency: ``pip install 'nats-py[aiohttp]'``).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import psutil
import pytest

from naq.connection import _connect
from naq.connection import context_managers as cm
from naq.connection.config import NatsConfig
from naq.connection.events import ConnectionEventKind as Kind

# ----------------------------------------------------------------------------- fakes (wiring)


class FakeRaw:
    def __init__(self) -> None:
        self.aborted = 0

    def abort(self) -> None:
        self.aborted += 1


class FakeSession:
    def __init__(self) -> None:
        self.closed = False
        self.close_calls = 0

    async def close(self) -> None:
        self.close_calls += 1
        self.closed = True


def fake_ws_transport(*, ws: bool = True) -> Any:
    """Shaped like nats-py's WebSocketTransport: ``_ws`` (aiohttp websocket) and ``_client`` (session)."""
    raw = FakeRaw()
    transport = MagicMock(name="WebSocketTransport", spec=["_ws", "_client", "close"])
    transport._ws = MagicMock(name="ws", _writer=MagicMock(transport=raw)) if ws else None
    transport._client = FakeSession()
    transport.raw = raw
    return transport


def fake_conn(transport: Any) -> Any:
    conn = MagicMock(name="conn", spec=["_transport", "_status", "_subs"])
    conn._transport = transport
    conn._subs = {}
    return conn


@pytest.mark.unit
async def test_abandon_aborts_the_socket_under_the_websocket_and_closes_its_session() -> None:
    transport = fake_ws_transport()
    _connect.abandon(fake_conn(transport))
    assert transport.raw.aborted == 1  # the TCP/TLS transport under the websocket: every wait ends
    transport.close.assert_called_once()
    for _ in range(3):
        await asyncio.sleep(0)
    assert transport._client.close_calls == 1  # aiohttp would report an unclosed session otherwise
    assert not _connect._closing_sessions  # the task is not kept once done
    _connect.abandon(fake_conn(transport))  # twice: the closed session is not closed again
    await asyncio.sleep(0)
    assert transport._client.close_calls == 1


@pytest.mark.unit
async def test_abandon_of_a_websocket_still_connecting_closes_the_session() -> None:
    transport = fake_ws_transport(ws=False)  # nats-py creates _ws only once the handshake is done
    _connect.abandon(fake_conn(transport))
    await asyncio.sleep(0)
    assert transport._client.close_calls == 1


@pytest.mark.unit
def test_abandon_of_a_websocket_outside_a_loop_never_raises() -> None:
    transport = fake_ws_transport()
    _connect.abandon(fake_conn(transport))  # no running loop: the session cannot be closed here
    assert transport.raw.aborted == 1
    assert transport._client.close_calls == 0


@pytest.mark.unit
async def test_a_cancelled_error_raised_by_close_itself_is_a_failed_close_not_a_cancellation(
    events_log: list[Any],
) -> None:
    conn = MagicMock(name="conn")
    conn.is_closed = False
    conn.close = AsyncMock(side_effect=asyncio.CancelledError())  # nobody cancelled us
    # Python 3.11+ tells it apart with Task.cancelling(); 3.10 by closing in a task of its own
    await cm.close_connection(conn)  # returns: the connection is torn down, the caller goes on
    assert conn._status == 2  # abandoned (nats-py's CLOSED)


@pytest.mark.unit
async def test_a_real_cancellation_during_close_still_propagates() -> None:
    conn = MagicMock(name="conn")
    conn.is_closed = False
    started = asyncio.Event()

    async def slow_close() -> None:
        started.set()
        await asyncio.sleep(10)

    conn.close = slow_close
    closing = asyncio.ensure_future(cm.close_connection(conn, timeout=30))
    await started.wait()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert conn._status == 2


# ----------------------------------------------------------------------------- a real ws listener


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def ws_server(nats_server_factory: Any, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """A nats-server with a plain websocket listener: ``(server, "ws://127.0.0.1:<port>")``."""
    pytest.importorskip("aiohttp", reason="nats-py's ws:// transport needs aiohttp (nats-py[aiohttp])")
    port = _free_port()
    conf = tmp_path / "ws.conf"
    conf.write_text(f'websocket {{\n  listen: "127.0.0.1:{port}"\n  no_tls: true\n}}\n', encoding="utf-8")
    server = nats_server_factory(jetstream=False, config_file=str(conf))
    try:
        yield server, f"ws://127.0.0.1:{port}"
    finally:
        if server.paused:
            server.resume()


def ws_config(url: str, **overrides: Any) -> NatsConfig:
    settings: dict[str, Any] = {
        "client_name": "cm-ws",
        "connection_timeout": 2.0,
        "flush_timeout": 0.3,
        "reconnect_time_wait": 0.1,
    }
    settings.update(overrides)
    return NatsConfig(servers=url, **settings)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    gc.collect()


async def wait_for_clients(server: Any, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while (current := await asyncio.to_thread(server.client_count)) != count:
        if time.monotonic() > deadline:
            raise AssertionError(f"server reports {current} client connections, expected {count}")
        await asyncio.sleep(0.05)


@pytest.mark.integration
async def test_ws_round_trip_and_clean_close(ws_server: tuple[Any, str], events_log: list[Any]) -> None:
    server, url = ws_server
    async with cm.nats_connection(ws_config(url)) as nc:
        assert type(nc._transport).__name__ == "WebSocketTransport"
        sub = await nc.subscribe("ws.it")
        await nc.publish("ws.it", b"over websocket")
        assert (await sub.next_msg(timeout=2)).data == b"over websocket"
    assert nc.is_closed
    assert [e.kind for e in events_log].count(Kind.CLOSED) == 1
    await wait_for_clients(server, 0)


@pytest.mark.integration
async def test_ws_close_to_a_frozen_server_is_bounded_and_leaks_nothing(ws_server: tuple[Any, str]) -> None:
    server, url = ws_server
    process = psutil.Process()
    await settle()
    fds_before = process.num_fds()
    nc = await cm.open_connection(ws_config(url))
    session = nc._transport._client
    await asyncio.to_thread(server.pause)
    # 32 MB of valid PUBs still to send when close() starts: nats-py's close() flushes them through
    # the websocket, whose sends wait for a socket the frozen server never drains
    payload = b"x" * (1 << 20)
    for _ in range(32):
        command = b"PUB ws.frozen %d\r\n%s\r\n" % (len(payload), payload)
        nc._pending.append(command)
        nc._pending_data_size += len(command)
    started = time.monotonic()
    await asyncio.wait_for(cm.close_connection(nc), 10)  # hangs without the websocket teardown
    elapsed = time.monotonic() - started
    assert elapsed < 0.4 + 1  # the bound: flush_timeout + reconnect_time_wait (+ slack)
    assert nc.is_closed
    await settle()
    assert session.closed  # aiohttp's ClientSession closed too (no "Unclosed client session")
    assert process.num_fds() == fds_before  # checked while the server is still frozen
    await asyncio.to_thread(server.resume)
    await wait_for_clients(server, 0)


@pytest.mark.integration
async def test_ws_close_while_the_flusher_is_stuck_returns_instead_of_raising_cancelled(
    ws_server: tuple[Any, str], events_log: list[Any]
) -> None:
    server, url = ws_server
    nc = await cm.open_connection(ws_config(url, flush_timeout=0.1))
    session = nc._transport._client
    await asyncio.to_thread(server.pause)
    payload = b"x" * (1 << 20)
    for _ in range(16):  # the flusher pushes these into the websocket and waits for the socket
        await nc.publish("ws.frozen", payload)  # (nats-py reports FlushTimeoutErrors meanwhile)
    await asyncio.sleep(0.2)
    await nc.publish("ws.frozen", b"still pending")  # so close() flushes too, on the same drain future
    started = time.monotonic()
    closing = asyncio.ensure_future(cm.close_connection(nc))
    done, _ = await asyncio.wait({closing}, timeout=10)
    assert done, "close_connection hung"
    assert time.monotonic() - started < 0.2 + 1
    closing.result()  # returned: nats-py's own CancelledError did not reach the caller
    assert nc.is_closed
    await settle()
    assert session.closed
    assert [e.kind for e in events_log].count(Kind.CLOSED) == 1
    await asyncio.to_thread(server.resume)
    await wait_for_clients(server, 0)


@pytest.mark.unit
def test_without_task_cancelling_close_runs_in_its_own_task_to_tell_them_apart() -> None:
    """A plain Python 3.10 asyncio task has no ``cancelling()``: close() then runs in a task of its
    own, so nats-py's own CancelledError is a failed close and the caller goes on."""

    class PlainTask:  # what asyncio.current_task() returns on 3.10 outside pytest-asyncio
        pass

    conn = MagicMock(name="conn")
    conn.is_closed = False
    conn.close = AsyncMock(side_effect=asyncio.CancelledError())
    names = [n for n in dir(asyncio) if not n.startswith("__")]
    plain_asyncio = SimpleNamespace(**{n: getattr(asyncio, n) for n in names})
    plain_asyncio.current_task = PlainTask
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cm, "asyncio", plain_asyncio)  # the module's patch point, not asyncio itself
        mp.setattr(cm, "_TASKS_COUNT_CANCELS", False)
        asyncio.run(cm.close_connection(conn))  # returns normally
    assert conn._status == 2  # torn down all the same
