"""is_transient on the errors a real nats-server and nats-py actually produce."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest

from naq.connection.errors import is_transient

pytestmark = pytest.mark.integration


async def _quiet(_exc: Exception) -> None:
    """nats-py's default error callback prints a traceback per failed attempt."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _connect_error(**options: Any) -> BaseException:
    options.setdefault("error_cb", _quiet)
    options.setdefault("connect_timeout", 2)
    try:
        nc = await asyncio.wait_for(nats.connect(**options), timeout=15)
    except Exception as exc:
        return exc
    await nc.close()
    raise AssertionError("connect unexpectedly succeeded")


async def test_refused_connection_is_transient() -> None:
    exc = await _connect_error(
        servers=[f"nats://127.0.0.1:{_closed_port()}"],
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.05,
    )
    assert isinstance(exc, nats.errors.NoServersError)
    assert is_transient(exc) is True


async def test_wrong_password_is_not_transient(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=False, user="app", password="right")
    exc = await _connect_error(
        servers=[server.url],
        user="app",
        password="wrong",
        allow_reconnect=False,
        max_reconnect_attempts=1,
    )
    assert "authorization violation" in str(exc).lower()
    assert is_transient(exc) is False


async def test_jetstream_errors(nats_server_factory: Any) -> None:
    plain = nats_server_factory(jetstream=False)
    nc = await nats.connect(plain.url, error_cb=_quiet, connect_timeout=5)
    try:
        with pytest.raises(nats.js.errors.ServiceUnavailableError) as unavailable:
            await nc.jetstream(timeout=5).account_info()
        assert is_transient(unavailable.value) is True
    finally:
        await nc.close()

    with_js = nats_server_factory(jetstream=True)
    nc = await nats.connect(with_js.url, error_cb=_quiet, connect_timeout=5)
    try:
        with pytest.raises(nats.js.errors.BucketNotFoundError) as missing:
            await nc.jetstream(timeout=5).key_value("no_such_bucket")
        assert is_transient(missing.value) is False
    finally:
        await nc.close()
