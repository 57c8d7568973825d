"""The contract suite: every test here runs against the fake and against a real nats-server.

A test asserts what nats-py + nats-server do; the fake must do the same. When they differ, the fake
is fixed, never the test. Names (streams, buckets, subjects) are unique per test so tests can share
the session server, and everything a test creates is deleted at teardown.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import nats.js.errors
import pytest
import pytest_asyncio

from naq.testing.fake import FakeNats, patch_nats_connect


async def _quiet(*_: Any) -> None:
    return None


async def settle(nc: Any) -> None:
    """Make sure the server has processed everything this client sent (SUBs, PUBs) before another
    client acts on it: publishes to its subscriptions, or drains and expects its messages.

    nats-py 2.16's ``flush()`` writes its PING straight to the socket while a just-made
    ``subscribe()`` or ``publish()`` may still sit in the flusher's buffer, so one ``flush()`` can
    return before the server has it (seen in 2-5% of runs on loopback). By the time that first
    PONG is back the flusher has run, so a second round trip is ordered after it.
    """
    await nc.flush()
    await nc.flush()


class Backend:
    """What a contract test gets: how to connect, unique names, and the fake (None when real)."""

    def __init__(self, kind: str, url: str, fake: FakeNats | None) -> None:
        self.kind = kind
        self.url = url
        self.fake = fake
        self.prefix = f"ct{uuid.uuid4().hex[:10]}"
        self._counter = itertools.count(1)
        self.clients: list[Any] = []

    @property
    def is_fake(self) -> bool:
        return self.fake is not None

    def name(self, label: str = "S") -> str:
        """A unique stream / bucket / consumer name (letters, digits, ``_``)."""
        return f"{label}_{self.prefix}_{next(self._counter)}"

    def subject(self, label: str = "subj") -> str:
        """A unique subject prefix like ``ct1234.orders``."""
        return f"{self.prefix}.{label}{next(self._counter)}"

    async def connect(self, **options: Any) -> Any:
        """``nats.connect`` (patched for the fake), closed at teardown if still open."""
        options.setdefault("connect_timeout", 2)
        options.setdefault("error_cb", _quiet)
        options.setdefault("allow_reconnect", False)
        nc = await nats.connect(self.url, **options)
        self.clients.append(nc)
        return nc

    async def cleanup(self) -> None:
        nc = await self.connect()
        js = nc.jetstream()
        for info in await js.streams_info():
            if self.prefix in (info.config.name or ""):
                await js.delete_stream(info.config.name)
        for client in self.clients:
            if not client.is_closed:
                await client.close()


@pytest.fixture(
    params=[
        pytest.param("fake", marks=pytest.mark.unit),
        pytest.param("real", marks=pytest.mark.integration),
    ]
)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend_env(request: pytest.FixtureRequest, backend_kind: str) -> Iterator[tuple[str, FakeNats | None]]:
    if backend_kind == "fake":
        with patch_nats_connect() as fake:
            yield "nats://127.0.0.1:4222", fake
    else:
        server = request.getfixturevalue("nats_server")
        yield server.url, None


@pytest_asyncio.fixture
async def backend(backend_kind: str, backend_env: tuple[str, FakeNats | None]) -> AsyncIterator[Backend]:
    url, fake = backend_env
    env = Backend(backend_kind, url, fake)
    yield env
    await env.cleanup()


@pytest_asyncio.fixture
async def nc(backend: Backend) -> Any:
    return await backend.connect()


@pytest.fixture
def js(nc: Any) -> Any:
    return nc.jetstream()


@pytest_asyncio.fixture
async def stream(backend: Backend, js: Any) -> tuple[str, str]:
    """A fresh stream ``(name, subject_prefix)`` capturing ``<prefix>.>``."""
    name = backend.name("S")
    prefix = backend.subject("st")
    await js.add_stream(name=name, subjects=[f"{prefix}.>"])
    return name, prefix


@pytest_asyncio.fixture
async def kv(backend: Backend, js: Any) -> Any:
    return await js.create_key_value(bucket=backend.name("KV"), history=5)


@pytest_asyncio.fixture
async def obj(backend: Backend, js: Any) -> Any:
    return await js.create_object_store(backend.name("OB"))


__all__ = ["Backend", "nats", "settle"]
