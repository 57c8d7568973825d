"""naq's own usage patterns on this layer, against real nats-servers.

naq (legout/naq) calls ``get_nats_connection`` / ``get_jetstream_context`` / ``close_nats_connection``
/ ``ensure_stream`` from ``naq.connection``: a worker holds its client for hours, results readers get
and "close" the same client on every call, sync helpers run ``asyncio.run`` per call from any
thread. Each test is one of those patterns; each ends with the server reporting no client left.
The Python blocks of the root README (what this is, migration guide, adoption, troubleshooting) run here too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.js.api
import nats.js.errors
import pytest
from naq_e2e_support import assert_no_clients, unique

from naq.connection import NaqConnectionError
from naq.connection.legacy import (
    close_all_connections,
    close_nats_connection,
    ensure_stream,
    get_jetstream_context,
    get_nats_connection,
)
from naq.testing import NatsServer

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE_SECTIONS = (
    "What this is",
    "Migrating from hand-written connections",
    "Adopting this layer in naq",
    "Troubleshooting",
)
CALL_BOUND = 1.0
"""Generous bound for one sync helper call (about 1-5 ms on a local server): "does not hang"."""


@pytest.fixture
def own_server() -> Iterator[NatsServer]:
    """A JetStream server for one test (the test restarts or stops it)."""
    server = NatsServer(jetstream=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def eventually(what: str, check: Any, timeout: float = 30.0) -> Any:
    """Call async ``check`` until it returns without raising (bounded); its result."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except Exception as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {timeout}s: {exc!r}") from exc
        await asyncio.sleep(0.1)


async def _worker_rides_out(server: NatsServer, outage: float) -> None:
    """A worker's held client, subscription and JetStream context work again after ``outage``."""
    stream = unique("NAQ_WORKER")
    nc = await get_nats_connection(server.url)
    js = await get_jetstream_context(nc)
    await ensure_stream(js, stream)
    sub = await nc.subscribe(f"{stream}_control")
    await nc.flush()

    server.kill()
    await asyncio.sleep(outage)
    server.restart()

    async def publish() -> int:
        return (await js.publish(f"{stream}.job", b"after", timeout=2)).seq

    assert await eventually("JetStream publish on the held context", publish) >= 1
    assert not nc.is_closed
    assert nc is await get_nats_connection(server.url)  # still the shared client, not a replacement

    async def roundtrip() -> bytes:
        await nc.publish(f"{stream}_control", b"ping")
        return bytes((await sub.next_msg(timeout=1)).data)

    assert await eventually("the held subscription", roundtrip) == b"ping"
    await js.delete_stream(stream)
    await close_nats_connection(server.url)
    await close_nats_connection(server.url)
    assert nc.is_closed
    await assert_no_clients(server)


@pytest.mark.slow
async def test_worker_holds_its_client_across_a_server_restart(own_server: NatsServer) -> None:
    await _worker_rides_out(own_server, outage=0.0)


@pytest.mark.slow
async def test_worker_holds_its_client_across_a_15s_outage(own_server: NatsServer) -> None:
    """Needs the default reconnect budget (60 attempts x 2 s): nothing is configured here."""
    await _worker_rides_out(own_server, outage=15.0)


async def test_results_reader_closes_while_worker_publishes(js_server: NatsServer) -> None:
    stream = unique("NAQ_RESULTS")
    url = js_server.url
    worker_nc = await get_nats_connection(url)
    worker_js = await get_jetstream_context(worker_nc)
    await ensure_stream(worker_js, stream)
    bucket_name = unique("naq_results")
    await worker_js.create_key_value(bucket=bucket_name)
    stop = asyncio.Event()

    async def worker() -> int:
        published = 0
        while not stop.is_set():
            await worker_js.publish(f"{stream}.job", b"x")
            published += 1
            await asyncio.sleep(0)
        return published

    async def reader(i: int) -> bytes:
        nc = await get_nats_connection(url)
        try:
            js = await get_jetstream_context(nc=nc)
            bucket = await js.key_value(bucket_name)
            await bucket.put(f"job-{i}", b"done")
            return bytes((await bucket.get(f"job-{i}")).value or b"")
        finally:
            await close_nats_connection(url)

    worker_task = asyncio.create_task(worker())
    results = [await reader(i) for i in range(50)]
    stop.set()
    assert await worker_task > 0
    assert results == [b"done"] * 50
    assert not worker_nc.is_closed
    await worker_js.publish(f"{stream}.job", b"still open")
    await worker_js.delete_key_value(bucket_name)
    await worker_js.delete_stream(stream)
    await close_nats_connection(url)  # the worker's close is the last one
    assert worker_nc.is_closed
    await assert_no_clients(js_server)


def _sync_enqueue(url: str, subject: str, *, close: bool) -> float:
    """naq's sync helper shape: a fresh event loop per call; returns the call's duration."""

    async def enqueue() -> None:
        nc = await get_nats_connection(url, prefer_thread_local=True)
        js = await get_jetstream_context(nc, prefer_thread_local=True)
        await js.publish(subject, b"job")
        if close:
            await close_nats_connection(url, thread_local=True)

    start = time.monotonic()
    asyncio.run(enqueue())
    return time.monotonic() - start


@pytest.fixture
def stream_subject(js_server: NatsServer) -> Iterator[str]:
    """A work-queue stream made with ensure_stream on its own loop; its subject."""
    stream = unique("NAQ_SYNC")

    async def make(delete: bool) -> None:
        nc = await get_nats_connection(js_server.url)
        js = await get_jetstream_context(nc)
        if delete:
            await js.delete_stream(stream)
        else:
            await ensure_stream(js, stream)
        await close_nats_connection(js_server.url)

    asyncio.run(make(False))
    yield f"{stream}.job"
    asyncio.run(make(True))


@pytest.mark.parametrize("close", [True, False], ids=["closes", "leaves-it-to-the-loop"])
def test_sync_helpers_each_running_asyncio_run(
    js_server: NatsServer, stream_subject: str, close: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    durations = [_sync_enqueue(js_server.url, stream_subject, close=close) for _ in range(100)]
    assert max(durations) < CALL_BOUND, f"slowest call {max(durations):.3f}s"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
    asyncio.run(assert_no_clients(js_server))


def test_sync_helpers_from_several_threads_at_once(js_server: NatsServer, stream_subject: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def helper_thread() -> None:
        try:
            start.wait(timeout=30)
            for _ in range(10):
                assert _sync_enqueue(js_server.url, stream_subject, close=True) < CALL_BOUND
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=helper_thread) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a helper thread hangs"
    assert errors == []
    asyncio.run(assert_no_clients(js_server))


async def test_unreachable_server_fails_fast_through_get_nats_connection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"nats://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed
    start = time.monotonic()
    with pytest.raises(NaqConnectionError):
        await asyncio.wait_for(get_nats_connection(url), 60)
    assert time.monotonic() - start < 30, "far from naq's 120 s, but not a tight bound"
    await close_nats_connection(url)  # nothing to let go: the failed get counted no user


async def test_ensure_stream_raced_by_ten_tasks(js_server: NatsServer) -> None:
    stream = unique("NAQ_RACE")

    async def racer() -> None:
        js = await get_jetstream_context(await get_nats_connection(js_server.url))
        await ensure_stream(js, stream, subjects=[f"{stream}.*"])

    await asyncio.gather(*(racer() for _ in range(10)))
    js = await get_jetstream_context(await get_nats_connection(js_server.url))
    info = await js.stream_info(stream)
    assert info.config.retention == nats.js.api.RetentionPolicy.WORK_QUEUE
    await js.delete_stream(stream)
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.stream_info(stream)
    await close_all_connections()
    await assert_no_clients(js_server)


def test_naq_imports_the_five_names_from_naq_connection() -> None:
    code = (
        "from naq.connection import (close_all_connections, close_nats_connection, ensure_stream, "
        "get_jetstream_context, get_nats_connection)\n"
        "import naq.connection.legacy as legacy\n"
        "assert get_nats_connection is legacy.get_nats_connection\n"
        "assert ensure_stream is legacy.ensure_stream\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def readme_python_blocks() -> list[tuple[str, str]]:
    """(section, code) of every ```python block in the README sections that must run."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = []
    for title in RUNNABLE_SECTIONS:
        section = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
        assert section is not None, f"README.md has no '## {title}' section"
        for code in re.findall(r"^```python\n(.*?)^```", section.group(1), flags=re.M | re.S):
            blocks.append((title, code))
    return blocks


@pytest.mark.parametrize(("section", "code"), readme_python_blocks())
def test_readme_block_runs(js_server: NatsServer, section: str, code: str) -> None:
    """Each block runs as a script in a fresh interpreter, with NAQ_NATS_URL naming the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    env["NAQ_NATS_URL"] = js_server.url
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{section} block failed:\n{code}\n{result.stdout}\n{result.stderr}"
    asyncio.run(assert_no_clients(js_server))
