"""Pins of the nats-py behaviours ``naq.connection._nats_compat`` works around.

Each test fails when the installed nats-py no longer behaves the way the compatibility module
assumes (an attribute gone or renamed, a setting no longer read), so a nats-py upgrade that breaks
core shows up here first, against a real server.
"""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from nats.aio.transport import TcpTransport

from naq.connection import NaqConnectionError, NatsConfig, close_connection, open_connection
from naq.connection import _nats_compat as compat
from naq.testing import NatsServer

pytestmark = pytest.mark.integration


def test_nats_connect_is_recognised_as_nats_pys_own_until_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    assert compat.replaced_connect() is None

    async def replacement(**kwargs: object) -> object:
        raise AssertionError("not called here")

    monkeypatch.setattr(nats, "connect", replacement)
    assert compat.replaced_connect() is replacement


async def test_server_info_is_the_info_the_server_sent(nats_server: NatsServer) -> None:
    nc = await open_connection(NatsConfig(servers=nats_server.url))
    try:
        info = compat.server_info(nc)
        assert info["server_id"] == nats_server.varz()["server_id"]
        info["server_id"] = "changed"  # a copy: nats-py's own dict is untouched
        assert compat.server_info(nc)["server_id"] != "changed"
    finally:
        await close_connection(nc)
    assert compat.server_info(object()) == {}


async def test_current_server_url_names_the_lost_server_while_reconnecting(
    nats_server_factory: object,
) -> None:
    server: NatsServer = nats_server_factory()  # type: ignore[operator]
    config = NatsConfig(servers=server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.05)
    nc = await open_connection(config)
    try:
        host_port = server.url.rsplit("/", 1)[-1]
        assert host_port in (compat.current_server_url(nc) or "")
        server.stop()
        for _ in range(100):
            if not nc.is_connected:
                break
            await asyncio.sleep(0.05)
        assert nc.connected_url is None  # nats-py's public view forgets the server ...
        assert host_port in (compat.current_server_url(nc) or "")  # ... _current_server keeps it
    finally:
        await close_connection(nc, timeout=2)


async def test_configured_reconnect_settings_are_used_after_a_fail_fast_connect(
    nats_server_factory: object,
) -> None:
    """The walk tries each server twice; once connected, the configured settings apply (here: forever)."""
    server: NatsServer = nats_server_factory()  # type: ignore[operator]
    config = NatsConfig(servers=server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.05)
    nc = await open_connection(config)
    try:
        server.stop()
        await asyncio.sleep(1.5)  # ~30 reconnect attempts: the walk's 1 retry would have closed it
        assert not nc.is_closed
        server.start()
        for _ in range(200):
            if nc.is_connected:
                break
            await asyncio.sleep(0.05)
        assert nc.is_connected
    finally:
        await close_connection(nc, timeout=2)


async def test_a_server_that_never_answers_fails_within_the_budget(blackhole_url: str) -> None:
    """nats-py reads ``options["connect_timeout"]`` per attempt: the shrunk timeouts keep the walk
    inside ``connection_timeout`` (the deadline is only a backstop)."""
    config = NatsConfig(servers=[blackhole_url, blackhole_url.replace("127.0.0.1", "localhost")])
    config = config.replace(connection_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(NaqConnectionError, match="no NATS handshake in time"):
        await open_connection(config)
    assert time.monotonic() - started < 5  # generous: 0.5 s budget + 0.3 s grace + 0.3 s last resort


async def test_a_connect_that_never_returns_is_abandoned_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = asyncio.Event()

    async def stuck(**kwargs: object) -> object:
        await release.wait()
        return object()

    monkeypatch.setattr(nats, "connect", stuck)
    started = time.monotonic()
    with pytest.raises(NaqConnectionError, match=r"timed out after 0\.2 s"):
        await open_connection(NatsConfig(servers="nats://stuck.invalid:4222", connection_timeout=0.2))
    assert time.monotonic() - started < 5


async def test_abort_tears_a_connected_client_down_at_once(nats_server: NatsServer) -> None:
    nc = await open_connection(NatsConfig(servers=nats_server.url))
    assert isinstance(nc._transport, TcpTransport)  # what close_failed_attempt closes
    compat.abort(nc)
    assert nc.is_closed
    for _ in range(100):
        if nats_server.client_count() == 0:
            break
        await asyncio.sleep(0.05)
    assert nats_server.client_count() == 0
    await close_connection(nc)  # closing an aborted client is fine


async def test_abort_and_helpers_tolerate_foreign_objects() -> None:
    class Foreign:
        pass

    thing = Foreign()
    compat.abort(thing)
    compat.stop_walk(thing)
    compat.set_attempt_timeout(thing, 1.0)
    compat.close_failed_attempt(thing)
    assert compat.current_server_url(thing) is None
