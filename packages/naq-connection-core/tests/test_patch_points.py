"""The names users patch work because core looks them up at call time, whatever was imported first.

- patching ``naq.connection.context_managers.nats_connection`` / ``.jetstream_context`` is what
  ``nats_jetstream()`` and ``nats_kv_store()`` go through (naq's own unit tests do this);
- patching ``nats.connect`` intercepts the connect; patching nothing gives the real fail-fast one;
- naq-testing's fake works when ``naq.connection`` is first imported inside a fake-using test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from unittest import mock

import nats
import pytest

from naq.connection import (
    NaqConnectionError,
    context_managers,
    nats_connection,
    nats_jetstream,
    nats_kv_store,
)


class _FakeJetStream:
    def __init__(self) -> None:
        self.looked_up: list[str] = []

    async def key_value(self, bucket: str) -> str:
        self.looked_up.append(bucket)
        return f"kv:{bucket}"


async def test_nats_jetstream_goes_through_the_patched_nats_connection_and_jetstream_context() -> None:
    conn = object()
    js = _FakeJetStream()
    calls: list[tuple[str, Any]] = []

    @asynccontextmanager
    async def fake_connection(config: Any = None, **kwargs: Any) -> AsyncIterator[object]:
        calls.append(("nats_connection", config))
        yield conn

    @asynccontextmanager
    async def fake_jetstream(nc: object, **options: Any) -> AsyncIterator[_FakeJetStream]:
        calls.append(("jetstream_context", nc))
        yield js

    with (
        mock.patch("naq.connection.context_managers.nats_connection", fake_connection),
        mock.patch("naq.connection.context_managers.jetstream_context", fake_jetstream),
    ):
        async with nats_jetstream("nats://fake:4222") as (got_nc, got_js):
            assert got_nc is conn
            assert got_js is js
        async with nats_kv_store("jobs", "nats://fake:4222") as kv:
            assert kv == "kv:jobs"
    assert [name for name, _ in calls] == ["nats_connection", "jetstream_context"] * 2
    assert calls[1][1] is conn
    assert js.looked_up == ["jobs"]


async def test_patching_nats_connect_intercepts_the_connect() -> None:
    client = mock.AsyncMock()
    client.is_closed = False
    connect = mock.AsyncMock(return_value=client)
    with mock.patch("nats.connect", connect):
        async with nats_connection("nats://patched.invalid:4222") as nc:
            assert nc is client
    kwargs = connect.await_args.kwargs
    assert kwargs["servers"] == ["nats://patched.invalid:4222"]
    assert kwargs["connect_timeout"] == 10.0  # the configured keywords, not the fail-fast walk's
    assert callable(kwargs["error_cb"])
    client.close.assert_awaited_once()


async def test_patching_nothing_gives_the_real_fail_fast_connect(refused_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(NaqConnectionError, match="ConnectionRefusedError"):
        async with nats_connection(refused_url):
            pass
    assert time.monotonic() - started < 2  # the refused port fails fast (nats-py alone: ~2 minutes)


async def test_a_patch_undone_restores_the_real_connect(refused_url: str) -> None:
    with (
        mock.patch("nats.connect", mock.AsyncMock(side_effect=OSError("patched"))),
        pytest.raises(NaqConnectionError, match="patched"),
    ):
        async with nats_connection(refused_url):
            pass
    assert nats.connect.__module__ == "nats"
    with pytest.raises(NaqConnectionError, match="ConnectionRefusedError"):
        async with context_managers.nats_connection(refused_url):
            pass


def test_the_fake_works_when_core_is_first_imported_inside_the_test(tmp_path: Any) -> None:
    """A fresh interpreter: the fake is active before ``naq.connection`` is ever imported; later, with the
    fake gone, a refused port still fails in well under a second."""
    script = tmp_path / "lazy.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, socket, sys, time
            from naq.testing.fake import patch_nats_connect

            async def main():
                with patch_nats_connect() as fake:
                    from naq.connection import ConnectionPool, nats_connection  # first import, inside
                    async with nats_connection("nats://fake:4222") as nc:
                        await nc.publish("a", b"x")
                    async with ConnectionPool("nats://fake:4222") as pool:
                        async with pool.connection() as nc:
                            await nc.publish("a", b"y")
                    assert fake.connect_count == 2, fake.connect_count
                from naq.connection import NaqConnectionError
                sock = socket.socket()
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
                sock.close()
                started = time.monotonic()
                try:
                    async with nats_connection(f"nats://127.0.0.1:{port}"):
                        pass
                except NaqConnectionError:
                    pass
                print(f"refused after {time.monotonic() - started:.3f}")

            asyncio.run(main())
            """
        )
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seconds = float(result.stdout.strip().rsplit(" ", 1)[-1])
    assert seconds < 1.0
