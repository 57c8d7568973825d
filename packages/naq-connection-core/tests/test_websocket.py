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
from typing import Any

import nats
import psutil
import pytest

from naq.connection import context_managers as cm
from naq.connection.config import NatsConfig
from naq.connection.events import ConnectionEventKind as Kind

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
        assert nc.connected_url.scheme == "ws"
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
    await asyncio.to_thread(server.pause)
    # publishes still to send when close() starts: nats-py's close() flushes them through the
    # websocket, whose sends wait for a socket the frozen server never drains
    payload = b"x" * (1 << 20)
    for _ in range(32):
        try:
            await asyncio.wait_for(nc.publish("ws.frozen", payload), 0.1)
        except (asyncio.TimeoutError, nats.errors.OutboundBufferLimitError):
            break
    await asyncio.wait_for(cm.close_connection(nc), 10)  # hangs without the websocket teardown
    assert nc.is_closed
    for _ in range(100):  # polled: a loaded machine may take a while to run the teardown
        await settle()
        if process.num_fds() <= fds_before:
            break
    assert process.num_fds() <= fds_before  # checked while the server is still frozen
    await asyncio.to_thread(server.resume)
    await wait_for_clients(server, 0)


@pytest.mark.integration
async def test_ws_close_while_the_flusher_is_stuck_returns_instead_of_raising_cancelled(
    ws_server: tuple[Any, str], events_log: list[Any]
) -> None:
    server, url = ws_server
    nc = await cm.open_connection(ws_config(url, flush_timeout=0.1))
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
    assert time.monotonic() - started < 0.2 + 5  # generous: only "does not hang"
    closing.result()  # returned: nats-py's own CancelledError did not reach the caller
    assert nc.is_closed
    await settle()
    assert [e.kind for e in events_log].count(Kind.CLOSED) == 1
    await asyncio.to_thread(server.resume)
    await wait_for_clients(server, 0)
