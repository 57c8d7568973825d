"""The context managers against a real nats-server (naq-testing fixtures): behaviour, not wiring."""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import nats.errors
import nats.js.errors
import psutil
import pytest

from naq.connection import context_managers as cm
from naq.connection.config import NatsConfig
from naq.connection.errors import NaqBucketNotFoundError, NaqConnectionError, is_transient
from naq.connection.events import ConnectionEventKind as Kind

pytestmark = pytest.mark.integration


def config_for(url: str | list[str], **overrides: Any) -> NatsConfig:
    settings: dict[str, Any] = {
        "client_name": "cm-it",
        "connection_timeout": 2.0,
        "reconnect_time_wait": 0.1,
        "max_reconnect_attempts": 20,
        "flush_timeout": 1.0,
        "drain_timeout": 2.0,
    }
    settings.update(overrides)
    return NatsConfig(servers=url, **settings)


async def wait_for_condition(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def wait_for_clients(server: Any, count: int, timeout: float = 10.0, name: str | None = None) -> None:
    """The server notices closed clients asynchronously: poll /connz (bounded). With ``name``, only
    connections of that client name count, so other tests' clients closing late cannot race it."""

    def current_count() -> int:
        if name is None:
            return int(server.client_count())
        connections = server.connz(limit=4096).get("connections") or []
        return sum(1 for c in connections if c.get("name") == name)

    deadline = time.monotonic() + timeout
    while True:
        current = await asyncio.to_thread(current_count)
        if current == count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"server reports {current} client connections, expected {count}")
        await asyncio.sleep(0.05)


async def back_to(fds: int, tasks: set[asyncio.Task[Any]], within: float = 10.0) -> None:
    """Poll until file descriptors and tasks are back to a baseline (only a leak fails this)."""
    process = psutil.Process()
    deadline = time.monotonic() + within
    while True:
        await settle()
        if process.num_fds() <= fds and other_tasks() <= tasks:
            return
        if time.monotonic() > deadline:
            assert process.num_fds() <= fds, "file descriptors leaked"
            assert other_tasks() <= tasks, f"tasks left: {other_tasks() - tasks}"


def other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current}


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    gc.collect()


async def stuff(nc: Any) -> None:
    """Publish (public API) to a frozen server until nats-py's buffers are full: its close() then
    waits for a transport that never drains."""
    payload = b"x" * (1 << 20)
    for _ in range(64):
        try:
            await asyncio.wait_for(nc.publish("cm.it.frozen", payload), 0.1)
        except (asyncio.TimeoutError, nats.errors.OutboundBufferLimitError):
            return  # nats-py blocks (or refuses) once more is pending than the socket takes
        await asyncio.sleep(0.01)  # let nats-py's flusher hand it to the socket


# ----------------------------------------------------------------------------- connections


async def test_publish_subscribe_round_trip_and_close(nats_server: Any, nats_url: str) -> None:
    async with cm.nats_connection(config_for(nats_url, client_name="cm-it-round-trip")) as nc:
        assert nc.is_connected
        sub = await nc.subscribe("cm.it.round-trip")
        await nc.publish("cm.it.round-trip", b"hello")
        message = await sub.next_msg(timeout=2)
        assert message.data == b"hello"
        await wait_for_clients(nats_server, 1, name="cm-it-round-trip")
    assert nc.is_closed
    await wait_for_clients(nats_server, 0, name="cm-it-round-trip")


async def test_url_string_connects(nats_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_CONNECTION_TIMEOUT", "2")
    async with cm.nats_connection(nats_url) as nc:
        assert nc.is_connected
        assert nc.connected_url.port == int(nats_url.rsplit(":", 1)[1])


async def test_reconnect_settings_are_installed_after_the_fail_fast_connect(nats_url: str) -> None:
    cfg = config_for(nats_url, max_reconnect_attempts=9, reconnect_time_wait=1.5, allow_reconnect=False)
    async with cm.nats_connection(cfg) as nc:
        options = nc.options
        assert options["max_reconnect_attempts"] == 9
        assert options["reconnect_time_wait"] == 1.5
        assert options["allow_reconnect"] is False
        assert options["connect_timeout"] == 2.0
        assert options["name"] == "cm-it"


async def test_lifecycle_under_faults_leaves_nothing_behind(nats_server: Any, nats_url: str) -> None:
    """Exceptions, cancellation in the body, timeouts around the manager: nothing leaks."""
    process = psutil.Process()
    cfg = config_for(nats_url, client_name="cm-it-faults")
    await settle()
    fds_before = process.num_fds()
    tasks_before = other_tasks()

    class BodyError(Exception):
        pass

    async def failing_body(round_: int) -> None:
        async with cm.nats_connection(cfg) as nc:
            await nc.publish("cm.it.faults", b"x")
            raise BodyError(round_)

    async def sleeper() -> None:
        async with cm.nats_connection(cfg) as nc:
            await nc.subscribe("cm.it.faults", cb=_ignore)
            await asyncio.sleep(60)

    for round_ in range(10):
        with pytest.raises(BodyError):
            await failing_body(round_)
        task = asyncio.ensure_future(sleeper())
        await asyncio.sleep(0.03)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sleeper(), 0.03)
        async with cm.nats_connection(cfg):
            pass
    await back_to(fds_before, tasks_before)
    await wait_for_clients(nats_server, 0, name="cm-it-faults")


async def _ignore(msg: Any) -> None:
    return None


async def test_drain_close_delivers_pending_messages(nats_url: str) -> None:
    received: list[bytes] = []

    async def handler(msg: Any) -> None:
        await asyncio.sleep(0.01)
        received.append(msg.data)

    nc = await cm.open_connection(config_for(nats_url))
    await nc.subscribe("cm.it.drain", cb=handler)
    for i in range(20):
        await nc.publish("cm.it.drain", str(i).encode())
    await nc.flush()
    await cm.close_connection(nc, drain=True)
    assert nc.is_closed
    assert len(received) == 20


async def test_server_restart_mid_connection_reconnects(
    nats_server_factory: Any, events_log: list[Any]
) -> None:
    server = nats_server_factory(jetstream=False)
    async with cm.nats_connection(config_for(server.url)) as nc:
        sub = await nc.subscribe("cm.it.restart")
        await nc.flush()
        await asyncio.to_thread(server.restart)
        await wait_for_condition(
            lambda: any(e.kind is Kind.RECONNECTED for e in events_log), what="RECONNECTED"
        )
        await nc.publish("cm.it.restart", b"after")
        assert (await sub.next_msg(timeout=2)).data == b"after"
    kinds = [e.kind for e in events_log]
    assert kinds == [Kind.CONNECTING, Kind.CONNECTED, Kind.DISCONNECTED, Kind.RECONNECTED, Kind.CLOSED]
    assert events_log[3].server == server.url
    assert nc.stats["reconnects"] == 1


async def test_server_gone_for_good_closes_once_and_exit_is_clean(
    nats_server_factory: Any, events_log: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    server = nats_server_factory(jetstream=False)
    cfg = config_for(server.url, max_reconnect_attempts=2, reconnect_time_wait=0.1, connection_timeout=0.5)
    with caplog.at_level(logging.INFO, logger="naq.connection"):
        async with cm.nats_connection(cfg) as nc:
            await asyncio.to_thread(server.stop)
            await wait_for_condition(lambda: nc.is_closed, what="nats-py to give up")
    kinds = [e.kind for e in events_log]
    assert kinds == [Kind.CONNECTING, Kind.CONNECTED, Kind.DISCONNECTED, Kind.CLOSED]
    closed_lines = [r for r in caplog.records if "closed by the client library" in r.getMessage()]
    assert len(closed_lines) == 1
    assert all(r.exc_info is None for r in caplog.records)


async def test_failed_reconnect_attempts_leave_no_connection_open(nats_server_factory: Any) -> None:
    """Regression: nats-py never closes the socket of a failed reconnect attempt; on Python 3.10
    nothing else does either, so a frozen server kept one connection per attempt after close()."""
    server = nats_server_factory(jetstream=False)
    cfg = config_for(
        server.url,
        ping_interval=0.2,
        max_outstanding_pings=1,
        reconnect_time_wait=0.1,
        connection_timeout=0.3,
        max_reconnect_attempts=-1,
    )
    async with cm.nats_connection(cfg) as nc:
        await asyncio.to_thread(server.pause)
        await wait_for_condition(lambda: nc.stats["reconnects"] == 0 and not nc.is_connected, what="stale")
        await asyncio.sleep(1.5)  # reconnect attempts: TCP accepted by the kernel, no INFO, timeout
        await asyncio.to_thread(server.resume)
        await wait_for_condition(lambda: nc.is_connected, what="reconnect after resume")
    await wait_for_clients(server, 0)


async def test_paused_server_close_is_bounded(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=False)
    cfg = config_for(server.url, flush_timeout=0.3, reconnect_time_wait=0.1)
    nc = await cm.open_connection(cfg)
    await asyncio.to_thread(server.pause)
    try:
        await stuff(nc)
        started = time.monotonic()
        await cm.close_connection(nc)
        elapsed = time.monotonic() - started
        assert elapsed < 0.3 + 0.1 + 5  # generous: bounded by flush + reconnect wait, then torn down
    finally:
        await asyncio.to_thread(server.resume)
    assert nc.is_closed
    await wait_for_clients(server, 0)


async def test_paused_server_connect_fails_within_the_timeout(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=False)
    await asyncio.to_thread(server.pause)
    try:
        started = time.monotonic()
        with pytest.raises(NaqConnectionError):
            await cm.open_connection(config_for(server.url, connection_timeout=0.5))
        assert time.monotonic() - started < 0.5 + 1
    finally:
        await asyncio.to_thread(server.resume)


async def test_blackholed_first_server_still_lets_the_good_one_connect(
    blackhole_url: str, nats_url: str
) -> None:
    for _ in range(3):  # nats-py shuffles the servers: both orders are likely covered
        started = time.monotonic()
        async with cm.nats_connection(config_for([blackhole_url, nats_url], connection_timeout=2.0)) as nc:
            assert nc.connected_url.port == int(nats_url.rsplit(":", 1)[1])
        assert time.monotonic() - started < 2.0


async def test_wrong_password_fails_fast_as_a_permanent_error(
    nats_server_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = nats_server_factory(jetstream=False, user="alice", password="right-pass")
    wrong = config_for(server.url, user="alice", password="wrong-pass-42", connection_timeout=2.0)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="naq.connection"), pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(wrong)
    assert time.monotonic() - started < 1.0
    attempts = [r for r in caplog.records if "connect attempt failed" in r.getMessage()]
    assert len(attempts) == 1  # rejected credentials are decisive: no second attempt
    assert "rejected the credentials" in str(caught.value)
    assert "authorization violation" in str(caught.value.__cause__).lower()
    assert not is_transient(caught.value)
    assert "wrong-pass-42" not in str(caught.value)
    assert "wrong-pass-42" not in caplog.text
    async with cm.nats_connection(config_for(server.url, user="alice", password="right-pass")) as nc:
        assert nc.is_connected


async def test_credentials_in_the_url_are_redacted_in_errors(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=False, user="alice", password="right-pass")
    port = server.url.rsplit(":", 1)[1]
    with pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(config_for(f"nats://alice:url-secret-7@127.0.0.1:{port}"))
    assert "url-secret-7" not in str(caught.value)
    assert f"nats://alice:***@127.0.0.1:{port}" in str(caught.value)


# ----------------------------------------------------------------------------- JetStream, KV, object store


async def test_missing_kv_bucket_is_a_clear_error(nats_server: Any, nats_url: str, nats_names: Any) -> None:
    bucket = nats_names.bucket("missing")
    baseline = await asyncio.to_thread(nats_server.client_count)
    with pytest.raises(NaqBucketNotFoundError) as caught:
        async with cm.nats_kv_store(bucket, config_for(nats_url)):
            pytest.fail("body must not run")
    assert caught.value.bucket == bucket
    assert "create=True" in str(caught.value)
    assert isinstance(caught.value.__cause__, nats.js.errors.BucketNotFoundError)
    await wait_for_clients(nats_server, baseline)


async def test_kv_create_then_reuse(nats_url: str, nats_names: Any) -> None:
    bucket = nats_names.bucket("kv")
    cfg = config_for(nats_url)
    async with cm.nats_kv_store(bucket, cfg, create=True, history=3) as kv:
        await kv.put("greeting", b"hello")
    async with cm.nats_kv_store(bucket, cfg) as kv:
        assert (await kv.get("greeting")).value == b"hello"
        status = await kv.status()
        assert status.history == 3
    async with cm.nats_jetstream(cfg) as (nc, js):
        assert nc.is_connected
        assert (await js.stream_info(f"KV_{bucket}")).config.max_msgs_per_subject == 3


async def test_object_store_round_trip(nats_url: str, nats_names: Any) -> None:
    bucket = nats_names.object_store("files")
    cfg = config_for(nats_url)
    data = bytes(range(256)) * 1000
    async with cm.nats_object_store(bucket, cfg, create=True) as store:
        await store.put("blob", data)
    async with cm.nats_object_store(bucket, cfg) as store:
        assert (await store.get("blob")).data == data
    with pytest.raises(NaqBucketNotFoundError, match="object-store bucket"):
        async with cm.nats_object_store(nats_names.object_store("absent"), cfg):
            pass


@pytest.mark.parametrize("create", [False, True])
async def test_jetstream_disabled_server_is_a_clear_error(nats_server_factory: Any, create: bool) -> None:
    server = nats_server_factory(jetstream=False)
    with pytest.raises(NaqConnectionError, match="JetStream is not available") as caught:
        async with cm.nats_kv_store("settings", config_for(server.url), create=create):
            pytest.fail("body must not run")
    assert isinstance(caught.value.__cause__, nats.js.errors.ServiceUnavailableError)
    await wait_for_clients(server, 0)


async def test_jetstream_context_on_an_open_connection(nats_url: str, nats_names: Any) -> None:
    stream = nats_names.stream("events")
    subject = nats_names.subject("events")
    async with cm.nats_connection(config_for(nats_url)) as nc:
        async with cm.jetstream_context(nc, timeout=2.0) as js:
            await js.add_stream(name=stream, subjects=[subject])
            ack = await js.publish(subject, b"one")
            assert ack.stream == stream
        assert nc.is_connected  # leaving jetstream_context does not close the connection


async def test_nats_errors_in_the_body_propagate_unchanged(nats_url: str) -> None:
    with pytest.raises(nats.errors.BadSubjectError):
        async with cm.nats_connection(config_for(nats_url)) as nc:
            await nc.publish("", b"x")


async def test_closing_in_the_body_is_fine_and_reported_once(
    nats_url: str, events_log: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="naq.connection"):
        async with cm.nats_connection(config_for(nats_url)) as nc:
            await nc.close()
    assert [e.kind for e in events_log] == [Kind.CONNECTING, Kind.CONNECTED, Kind.CLOSED]
    assert caplog.records == []  # a close the user asked for is not a warning


async def test_slow_consumer_flood_logs_one_line_and_a_summary(
    nats_url: str, caplog: pytest.LogCaptureFixture, events_log: list[Any]
) -> None:
    release = asyncio.Event()

    async def stuck_handler(msg: Any) -> None:
        await release.wait()

    with caplog.at_level(logging.WARNING, logger="naq.connection"):
        async with cm.nats_connection(config_for(nats_url, client_name="cm-it-slow")) as nc:
            await nc.subscribe("cm.it.slow", cb=stuck_handler, pending_msgs_limit=5)
            for _ in range(300):
                await nc.publish("cm.it.slow", b"x")
            await nc.flush()

            def dropped_events() -> list[Any]:
                return [e for e in events_log if e.kind is Kind.ERROR]

            # 5 queued (and perhaps 1 taken by the stuck handler), the rest dropped: one report each
            await wait_for_condition(lambda: len(dropped_events()) >= 294, what="294 dropped messages")
            await nc.rtt()
            dropped = dropped_events()
            assert 294 <= len(dropped) <= 295  # one ERROR event per dropped message
            assert all(isinstance(e.error, nats.errors.SlowConsumerError) for e in dropped)
            open_lines = [r.getMessage() for r in caplog.records if "SlowConsumerError" in r.getMessage()]
            assert len(open_lines) == 1  # not one WARNING line per dropped message
            release.set()
    lines = [r.getMessage() for r in caplog.records if "SlowConsumerError" in r.getMessage()]
    assert len(lines) == 2  # closing flushed the summary
    assert f"error repeated {len(dropped) - 1} time(s)" in lines[1]


async def test_cancelled_during_close_tears_down_and_propagates(nats_server_factory: Any) -> None:
    server = nats_server_factory(jetstream=False)
    cfg = config_for(server.url, flush_timeout=5.0)
    process = psutil.Process()
    await settle()
    fds_before = process.num_fds()
    tasks_before = other_tasks()
    nc = await cm.open_connection(cfg)
    await asyncio.to_thread(server.pause)
    try:
        sub = await nc.subscribe("cm.it.waiting")
        waiting = asyncio.ensure_future(sub.next_msg(timeout=60))
        await stuff(nc)  # close() now waits on a socket that will not drain
        closing = asyncio.ensure_future(cm.close_connection(nc))
        await asyncio.sleep(0.2)
        assert not closing.done()  # stuck in nats-py's close(), well before the 5 s bound
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert nc.is_closed
        with pytest.raises((asyncio.CancelledError, nats.errors.Error)):
            await asyncio.wait_for(waiting, 5)  # the subscription's waiter was ended too
        await settle()
        # checked while the server is still frozen: the socket was aborted, not left to drain
        assert process.num_fds() == fds_before
        assert other_tasks() == tasks_before
    finally:
        await asyncio.to_thread(server.resume)
    await wait_for_clients(server, 0)


async def test_pooled_helpers_borrow_a_shared_connection(
    nats_server: Any, nats_url: str, nats_names: Any
) -> None:
    from naq.connection.pool import ConnectionPool

    baseline = await asyncio.to_thread(nats_server.client_count)
    bucket = nats_names.bucket("pooled")
    async with ConnectionPool(config_for(nats_url)) as pool:
        async with cm.nats_connection(pool=pool) as first:
            pass
        async with cm.nats_jetstream(pool=pool) as (conn, js):
            assert conn is first
            assert (await js.account_info()).streams >= 0
        async with cm.nats_kv_store(bucket, pool=pool, create=True) as kv:
            await kv.put("k", b"v")
        async with cm.nats_kv_store(bucket, pool=pool) as kv:
            assert (await kv.get("k")).value == b"v"
        assert first.is_connected  # borrowing never closes
        await wait_for_clients(nats_server, baseline + 1)
    await wait_for_clients(nats_server, baseline)


async def test_reuse_connections_shares_the_default_pool(nats_server: Any, nats_url: str) -> None:
    from naq.connection.pool import close_default_pools

    cfg = config_for(nats_url, reuse_connections=True)
    baseline = await asyncio.to_thread(nats_server.client_count)
    try:
        async with cm.nats_connection(cfg) as first:
            pass
        async with cm.nats_connection(cfg) as second:
            assert second is first
        assert first.is_connected
    finally:
        await close_default_pools()
    assert first.is_closed
    await wait_for_clients(nats_server, baseline)


@pytest.fixture
def tls_server(tmp_path: Any, nats_server_factory: Any) -> Any:
    import trustme

    from naq.testing import TLSOptions

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {name: str(tmp_path / f"{name}.pem") for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(paths["ca"])
    cert.private_key_pem.write_to_path(paths["key"])
    cert.cert_chain_pems[0].write_to_path(paths["cert"])
    server = nats_server_factory(
        jetstream=False, tls=TLSOptions(cert_file=paths["cert"], key_file=paths["key"], ca_file=paths["ca"])
    )
    server.ca_file = paths["ca"]
    return server


async def test_tls_with_the_ca_connects(tls_server: Any) -> None:
    cfg = config_for(tls_server.url, tls={"enabled": True, "ca_file": tls_server.ca_file})
    async with cm.nats_connection(cfg) as nc:
        assert nc.is_connected
        await nc.publish("cm.it.tls", b"x")


@pytest.mark.parametrize("plain", [False, True])
async def test_tls_failure_is_decisive_not_a_timeout(tls_server: Any, plain: bool) -> None:
    """nats-py would hang after a failed TLS upgrade (its cleanup waits on a transport asyncio never
    reports closed); core stops the walk at the first certificate error instead."""
    port = tls_server.url.rsplit(":", 1)[1]
    cfg = (
        config_for(f"nats://127.0.0.1:{port}", connection_timeout=3.0)  # server requires TLS
        if plain
        else config_for(tls_server.url, tls={"enabled": True}, connection_timeout=3.0)  # system CAs only
    )
    started = time.monotonic()
    with pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(cfg)
    assert time.monotonic() - started < 1.0  # at once, not at the 3 s deadline
    assert "certificate" in str(caught.value).lower()
    assert "timed out" not in str(caught.value)
    assert isinstance(caught.value.__cause__, ssl.SSLError)
    assert not is_transient(caught.value)
    await wait_for_clients(tls_server, 0)


_CLOSE_RACE_SCRIPT = """
import asyncio
from naq.connection import NatsConfig
from naq.connection import context_managers as cm
from naq.testing import NatsServer

async def attempt(steps):
    server = NatsServer(jetstream=False).start()
    try:
        nc = await cm.open_connection(NatsConfig(servers=server.url))
        server.stop()
        while not nc.is_reconnecting:  # step by step, to close at the racy moment
            await asyncio.sleep(0)
        for _ in range(steps):
            await asyncio.sleep(0)
        try:
            await cm.close_connection(nc)
        except asyncio.CancelledError:
            return "CancelledError"
        return "closed" if nc.is_closed else "open"
    finally:
        server.stop()

async def main():
    print([await attempt(steps) for steps in range(4)])

asyncio.run(main())
"""


def test_close_right_after_the_server_went_away_does_not_raise() -> None:
    """Regression: nats-py's close() raises a CancelledError of its own when it runs while its
    reconnect task awaits the dying socket. That is not a cancellation of the caller; on Python
    3.10 (no Task.cancelling()) core used to re-raise it into the caller's code. A fresh process
    (a plain asyncio.run loop) is where the race reproduces reliably."""
    result = subprocess.run(
        [sys.executable, "-c", _CLOSE_RACE_SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['closed', 'closed', 'closed', 'closed']", result.stdout
