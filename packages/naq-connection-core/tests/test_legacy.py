"""naq's legacy API (naq.connection.legacy) against a real nats-server: sharing, user counts, loops,
fail-fast connects and ensure_stream."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
import time
import uuid
import weakref
from typing import Any

import nats.js.api
import nats.js.errors
import pytest

from naq.connection import legacy
from naq.connection.config import reset_config
from naq.connection.errors import NaqConnectionError
from naq.connection.legacy import (
    close_all_connections,
    close_nats_connection,
    ensure_stream,
    get_jetstream_context,
    get_nats_connection,
)

pytestmark = pytest.mark.integration

DOES_NOT_HANG = 30.0
"""Generous bound for "fails instead of hanging" (connection_timeout is 2 s in these tests)."""


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def clients_named(server: Any, name: str) -> int:
    """Open connections with client name ``name`` (/connz), immune to other tests' clients."""
    return sum(1 for c in server.connz(limit=4096).get("connections") or () if c.get("name") == name)


async def wait_clients(server: Any, name: str, expected: int, timeout: float = 10.0) -> None:
    """Poll /connz until ``expected`` clients named ``name`` are open (the server sees closes late)."""
    deadline = time.monotonic() + timeout
    while (count := await asyncio.to_thread(clients_named, server, name)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} client(s) named {name!r} open, expected {expected}")
        await asyncio.sleep(0.02)


@pytest.fixture
def client_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """A client name unique to the test (through the global config), and a short connect timeout."""
    name = unique("legacy")
    monkeypatch.setenv("NAQ_NATS_CLIENT_NAME", name)
    monkeypatch.setenv("NAQ_NATS_CONNECTION_TIMEOUT", "2")
    reset_config()
    return name


def test_naq_connection_reexports_the_legacy_names_lazily() -> None:
    code = (
        "import sys, naq.connection\n"
        "assert 'naq.connection.legacy' not in sys.modules\n"
        "from naq.connection import (DEFAULT_NATS_URL, close_all_connections, close_nats_connection, "
        "ensure_stream, get_jetstream_context, get_nats_connection)\n"
        "from naq.connection import legacy\n"
        "assert get_nats_connection is legacy.get_nats_connection and ensure_stream is legacy.ensure_stream\n"
        "assert close_nats_connection is legacy.close_nats_connection and DEFAULT_NATS_URL is None\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


async def test_callers_on_one_loop_share_one_client(
    nats_server: Any, nats_url: str, client_name: str
) -> None:
    first = await get_nats_connection(nats_url)
    second = await get_nats_connection(url=nats_url, prefer_thread_local=True)
    assert first is second
    assert first.is_connected
    await wait_clients(nats_server, client_name, 1)
    await close_all_connections()


async def test_the_last_user_closes_and_extra_closes_do_nothing(
    nats_server: Any, nats_url: str, client_name: str
) -> None:
    worker = await get_nats_connection(nats_url)
    reader = await get_nats_connection(nats_url)
    sub = await worker.subscribe("legacy.count")
    await close_nats_connection(nats_url)  # the reader is done: the worker still publishes
    assert not worker.is_closed
    await reader.publish("legacy.count", b"still open")
    assert (await sub.next_msg(timeout=5)).data == b"still open"
    await close_nats_connection(nats_url, thread_local=True)  # the last user
    assert worker.is_closed
    await wait_clients(nats_server, client_name, 0)
    await close_nats_connection(nats_url)  # extra closes are no-ops
    await close_nats_connection()
    again = await get_nats_connection(nats_url)  # a new client after the real close
    assert again is not worker
    assert again.is_connected
    await close_nats_connection(nats_url)
    assert again.is_closed


async def test_close_without_a_user_opens_nothing(nats_server: Any, nats_url: str, client_name: str) -> None:
    await close_nats_connection(nats_url)
    await wait_clients(nats_server, client_name, 0)


async def test_close_all_closes_whatever_the_count(nats_server: Any, nats_url: str, client_name: str) -> None:
    nc = await get_nats_connection(nats_url)
    await get_nats_connection(nats_url)
    await close_all_connections()
    assert nc.is_closed
    await wait_clients(nats_server, client_name, 0)
    await close_nats_connection(nats_url)  # counts were forgotten: nothing to let go
    await close_all_connections()


async def test_default_url_is_the_global_config(
    nats_server: Any, nats_url: str, client_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAQ_NATS_URL", nats_url)
    reset_config()
    assert legacy.DEFAULT_NATS_URL is None
    js = await get_jetstream_context()  # counts one user of the default URL
    nc = await get_nats_connection()
    assert (await js.account_info()).streams >= 0
    await close_nats_connection()
    assert not nc.is_closed
    await close_nats_connection()
    assert nc.is_closed


async def test_jetstream_context_of_a_given_client(nats_url: str, client_name: str) -> None:
    nc = await get_nats_connection(nats_url)
    js = await get_jetstream_context(nc, prefer_thread_local=True)
    stream = unique("LEGACY_JS")
    await js.add_stream(name=stream, subjects=[f"{stream}.x"])
    assert (await js.publish(f"{stream}.x", b"1")).seq == 1
    await js.delete_stream(stream)
    await close_nats_connection(nats_url)


def test_each_asyncio_run_and_each_thread_gets_its_own_client(
    nats_server: Any, nats_url: str, client_name: str
) -> None:
    async def call() -> None:
        nc = await get_nats_connection(nats_url)
        await nc.flush()
        await close_nats_connection(nats_url)
        assert nc.is_closed

    asyncio.run(call())
    asyncio.run(call())  # a second loop works too (naq's own module timed out here)

    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            for _ in range(3):
                asyncio.run(call())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=in_thread) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DOES_NOT_HANG)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    asyncio.run(wait_clients(nats_server, client_name, 0))


def test_a_finished_event_loop_is_not_kept_alive(nats_url: str, client_name: str) -> None:
    async def call() -> weakref.ref[asyncio.AbstractEventLoop]:
        await get_nats_connection(nats_url)
        await close_nats_connection(nats_url)
        return weakref.ref(asyncio.get_running_loop())

    loop_ref = asyncio.run(call())
    gc.collect()
    assert loop_ref() is None


async def test_unreachable_server_fails_fast(refused_url: str, client_name: str) -> None:
    with pytest.raises(NaqConnectionError):
        await asyncio.wait_for(get_nats_connection(refused_url), DOES_NOT_HANG)
    await close_nats_connection(refused_url)  # the failed get counted no user


async def test_silent_server_fails_within_the_connect_timeout(blackhole_url: str, client_name: str) -> None:
    with pytest.raises(NaqConnectionError):
        await asyncio.wait_for(get_nats_connection(blackhole_url), DOES_NOT_HANG)


async def test_ensure_stream_creates_a_work_queue_stream_once(nats_url: str, client_name: str) -> None:
    js = await get_jetstream_context(await get_nats_connection(nats_url))
    stream = unique("LEGACY_NEW")
    await ensure_stream(js, stream)
    info = await js.stream_info(stream)
    assert info.config.subjects == [f"{stream}.*"]
    assert info.config.storage == nats.js.api.StorageType.FILE
    assert info.config.retention == nats.js.api.RetentionPolicy.WORK_QUEUE
    await ensure_stream(js, stream, subjects=["other.subject"])  # exists: left as it is
    assert (await js.stream_info(stream)).config.subjects == [f"{stream}.*"]
    await js.delete_stream(stream)
    await close_nats_connection(nats_url)


async def test_ensure_stream_raced_by_ten_callers(nats_url: str, client_name: str) -> None:
    js = await get_jetstream_context(await get_nats_connection(nats_url))
    same, differing = unique("LEGACY_RACE"), unique("LEGACY_RACE2")
    await asyncio.gather(*(ensure_stream(js, same) for _ in range(10)))
    # different subjects per caller: the losers of the creation race see "name already in use"
    await asyncio.gather(*(ensure_stream(js, differing, [f"{differing}.{i}"]) for i in range(10)))
    assert (await js.stream_info(same)).config.subjects == [f"{same}.*"]
    assert len((await js.stream_info(differing)).config.subjects or ()) == 1
    await js.delete_stream(same)
    await js.delete_stream(differing)
    await close_nats_connection(nats_url)


async def test_ensure_stream_turns_other_failures_into_connection_errors(
    nats_url: str, nats_server_factory: Any, client_name: str
) -> None:
    js = await get_jetstream_context(await get_nats_connection(nats_url))
    owner = unique("LEGACY_OWNER")
    await js.add_stream(name=owner, subjects=[f"{owner}.>"])
    with pytest.raises(NaqConnectionError, match="cannot create JetStream stream") as created:
        await ensure_stream(js, unique("LEGACY_OVERLAP"), subjects=[f"{owner}.jobs"])  # subjects overlap
    assert isinstance(created.value.__cause__, nats.js.errors.BadRequestError)
    await js.delete_stream(owner)
    await close_nats_connection(nats_url)

    plain = nats_server_factory(jetstream=False)
    no_js = await get_jetstream_context(await get_nats_connection(plain.url))
    with pytest.raises(NaqConnectionError, match="cannot look up JetStream stream"):
        await ensure_stream(no_js)
    await close_all_connections()
