"""NatsClientFactory, NatsNames and LeakCheck, with real servers and with mocks for wiring."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import nats
import nats.errors
import pytest

from naq.testing import (
    DEFAULT_CONNECT_OPTIONS,
    LeakCheck,
    LeakedConnection,
    NatsClientFactory,
    NatsLeakError,
    NatsNames,
    NatsServer,
    live_servers,
)
from naq.testing import clients as clients_module
from naq.testing._ports import free_port


async def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not reached within {timeout}s"
        await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def server():
    with NatsServer() as started:
        yield started


# -- client factory ---------------------------------------------------------------------------------
async def test_factory_connects_to_default_url_and_server_and_closes(server):
    with NatsServer(jetstream=False, token="t0k") as secured:
        factory = NatsClientFactory(lambda: server.url)
        first = await factory()
        second = await factory(secured)  # token from connect_options()
        third = await factory(server.url, name="custom")
        assert first.connected_url.port == server.port
        assert second.connected_url.port == secured.port
        assert {c["name"] for c in server.connz()["connections"]} >= {"naq-testing", "custom"}
        await third.close()  # already closed: skipped
        await factory.aclose()
        assert first.is_closed
        assert second.is_closed
        assert factory.clients == []


async def test_factory_without_default_needs_a_target():
    with pytest.raises(ValueError, match="no default server"):
        await NatsClientFactory()()


async def test_factory_connect_is_bounded_and_redacts_credentials(monkeypatch):
    async def never(**kwargs):
        await asyncio.sleep(3600)

    monkeypatch.setattr(clients_module.nats, "connect", never)  # looked up at call time
    factory = NatsClientFactory(timeout=0.2)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"within 0\.2s") as info:
        await factory("nats://bob:hunter2@127.0.0.1:4222")
    assert time.monotonic() - started < 2
    assert "hunter2" not in str(info.value)
    assert "***@127.0.0.1" in str(info.value)


async def test_factory_passes_test_friendly_defaults(monkeypatch):
    seen = {}

    class Client:
        is_closed = False

        async def close(self):
            raise RuntimeError("close failed")

    async def fake_connect(**kwargs):
        seen.update(kwargs)
        return Client()

    monkeypatch.setattr(clients_module.nats, "connect", fake_connect)
    factory = NatsClientFactory()
    await factory("nats://127.0.0.1:1", max_reconnect_attempts=3)
    for key, value in DEFAULT_CONNECT_OPTIONS.items():
        if key != "max_reconnect_attempts":
            assert seen[key] == value
    assert seen["max_reconnect_attempts"] == 3
    assert seen["servers"] == ["nats://127.0.0.1:1"]
    await seen["error_cb"](RuntimeError("x"))  # quiet callbacks are coroutines that do not raise
    await seen["disconnected_cb"]()
    await factory.aclose()  # a failing close is logged, not raised


async def test_aclose_survives_nats_py_cancelling_its_own_close(caplog):
    """nats-py 2.16: closing a client while its reconnect task awaits the dying socket cancels the
    socket's shared close waiter, and close() raises CancelledError. aclose() must close the client
    and not pass that on (it used to fail the teardown of a test that stopped its server first).
    The window is a few event-loop steps after the client notices the server went away, and where
    exactly depends on the Python version, so close at each step in turn."""
    caplog.set_level(logging.DEBUG, logger="naq.testing")
    for extra_steps in range(4):
        server = NatsServer(jetstream=False).start()
        factory = NatsClientFactory()
        nc = await factory(server)
        server.stop()
        deadline = time.monotonic() + 20
        while not nc.is_reconnecting:  # step by step (sleep(0)): the window is that narrow
            assert time.monotonic() < deadline, "the client did not notice the server stopping"
            await asyncio.sleep(0)
        for _ in range(extra_steps):
            await asyncio.sleep(0)
        await factory.aclose()
        assert nc.is_closed
    assert "nats-py cancelled its own close()" in caplog.text  # the race was hit at least once


class HangingClient:
    is_closed = False

    def __init__(self):
        self.cancelled = False

    async def close(self):
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_aclose_gives_up_on_a_hanging_close(caplog):
    factory = NatsClientFactory(close_timeout=0.1)
    client = HangingClient()
    factory.clients.append(client)
    started = time.monotonic()
    await factory.aclose()
    assert time.monotonic() - started < 5
    assert client.cancelled
    assert "took more than 0.1s" in caplog.text


async def test_aclose_passes_on_a_real_cancellation():
    factory = NatsClientFactory(close_timeout=60)
    client = HangingClient()
    factory.clients.append(client)
    closing = asyncio.ensure_future(factory.aclose())
    await asyncio.sleep(0.05)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await asyncio.sleep(0)
    assert client.cancelled  # the close it started is cancelled too, not left running


async def test_factory_error_from_nats_is_not_hidden():
    factory = NatsClientFactory(timeout=5)
    with pytest.raises(nats.errors.NoServersError):
        await factory(f"nats://127.0.0.1:{free_port()}", max_reconnect_attempts=1, reconnect_time_wait=0.05)
    assert factory.clients == []


# -- names ------------------------------------------------------------------------------------------
def test_names_are_unique_stable_and_valid():
    a, b = NatsNames(), NatsNames()
    assert a.stream("orders") != b.stream("orders")
    assert a.stream("orders") == a.stream("orders")
    assert a.stream("orders").startswith("orders_")
    assert a.bucket() == f"bucket_{a.token}"
    assert a.object_store() == f"objects_{a.token}"
    assert a.consumer("c") == f"c_{a.token}"
    assert a.subject("orders") == f"orders.{a.token}"
    assert a.owns(f"KV_{a.bucket('cfg')}")
    assert not a.owns(b.stream())


@pytest.mark.parametrize("bad", ["", "has space", "a.b", "x*", 3])
def test_names_reject_bad_prefix(bad):
    with pytest.raises(ValueError, match="prefix"):
        NatsNames().stream(bad)


def test_names_reject_bad_token():
    with pytest.raises(ValueError, match="token"):
        NatsNames(token="a.b")


async def test_names_cleanup_deletes_only_own_streams(server):
    names = NatsNames()
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=names.stream("s"), subjects=[names.subject("s") + ".>"])
        await js.create_key_value(bucket=names.bucket("kv"))
        await js.create_object_store(bucket=names.object_store("obj"))
        other = NatsNames()
        await js.add_stream(name=other.stream("s"), subjects=[other.subject("s") + ".>"])
        deleted = await names.cleanup(js)
        assert sorted(deleted) == sorted(
            [names.stream("s"), f"KV_{names.bucket('kv')}", f"OBJ_{names.object_store('obj')}"]
        )
        remaining = [s.config.name for s in await js.streams_info()]
        assert other.stream("s") in remaining
        assert not any(names.owns(name) for name in remaining)
        await other.cleanup(js)
    finally:
        await nc.close()


async def test_names_cleanup_pages_through_the_stream_list():
    names = NatsNames(token="tok")
    pages = {
        0: [SimpleNamespace(config=SimpleNamespace(name=f"s{i}")) for i in range(256)],
        256: [
            SimpleNamespace(config=SimpleNamespace(name="mine_tok")),
            SimpleNamespace(config=SimpleNamespace(name=None)),
        ],
        258: [],
    }
    deleted = []

    class JS:
        async def streams_info(self, offset=0):
            return pages[offset]

        async def delete_stream(self, name):
            deleted.append(name)

    assert await names.cleanup(JS()) == ["mine_tok"]
    assert deleted == ["mine_tok"]


# -- leak check -------------------------------------------------------------------------------------
async def test_leak_check_reports_new_open_connections_only(server):
    before = await nats.connect(server.url)
    check = LeakCheck(timeout=0.2)
    check.snapshot()
    assert server in live_servers()
    closed = await nats.connect(server.url)
    leaked = await nats.connect(server.url, name="leaky")
    closed_cid = closed.client_id
    await closed.close()
    try:
        # The server drops a closed connection a moment after the client closes it: wait for that
        # (generously) so the short check below is not racing it.
        await wait_until(lambda: closed_cid not in {c["cid"] for c in server.connz()["connections"]})
        leaks = await check.check()
        assert [leak.name for leak in leaks] == ["leaky"]
        assert leaks[0].server_url == server.url
        with pytest.raises(NatsLeakError, match="my_test left 1 NATS connection"):
            await check.assert_no_leaks("my_test")
    finally:
        await leaked.close()
        await before.close()
    check.timeout = 20  # returns as soon as the server has dropped them
    assert await check.check() == []
    await check.assert_no_leaks()


async def test_leak_check_waits_for_a_close_in_flight(server):
    check = LeakCheck(timeout=5)
    check.snapshot()
    nc = await nats.connect(server.url)
    closing = asyncio.ensure_future(asyncio.sleep(0.3))
    closing.add_done_callback(lambda _: asyncio.ensure_future(nc.close()))
    started = time.monotonic()
    assert await check.check() == []
    assert time.monotonic() - started < 5


async def test_leak_check_skips_paused_and_unmonitored_servers(server):
    with NatsServer(jetstream=False) as paused:
        nc = await nats.connect(paused.url)
        external = NatsServer(backend="external", url=server.url).start()  # no monitor_url
        check = LeakCheck(servers=lambda: [paused, external], timeout=0)
        check.snapshot()
        paused.pause()
        try:
            assert check.new_connections() == []  # paused: /connz would hang
        finally:
            paused.resume()
        assert len(check.new_connections()) == 0  # nc was in the baseline
        await nc.close()


def test_leaked_connection_str():
    leak = LeakedConnection("nats://h:1", 7, None, None, 0)
    assert str(leak) == "client cid=7 subscriptions=0, on server nats://h:1"
    named = LeakedConnection("nats://h:1", 7, "svc", "python3", 2, "127.0.0.1:5000", "node-1")
    assert str(named) == (
        "client cid=7 name='svc' lang=python3 from 127.0.0.1:5000 subscriptions=2, "
        "on server nats://h:1 (node-1)"
    )


def test_external_backend_basics(server):
    external = NatsServer(backend="external", url=server.url, monitor_url=server.monitor_url + "/")
    assert external.start() is external
    assert external.running
    assert external.monitor_url == server.monitor_url
    assert external.client_count() >= 0
    assert external.pid is None
    assert "external" in repr(external)
    for action in (external.kill, external.restart, external.pause, external.resume, external.lame_duck):
        with pytest.raises(Exception, match="not possible with backend='external'"):
            action()
    external.stop()
    assert not external.running
    assert server.running


def test_external_unreachable_is_a_clear_error():
    from naq.testing import NatsServerError

    external = NatsServer(backend="external", url=f"nats://127.0.0.1:{free_port()}", startup_timeout=1)
    with pytest.raises(NatsServerError, match="not reachable"):
        external.start()
    with pytest.raises(NatsServerError, match="monitoring URL"):
        _ = external.monitor_url


def test_place_leak_check_first_edge_cases():
    from types import SimpleNamespace

    from naq.testing.fixtures import place_leak_check_first

    no_fixtures = SimpleNamespace()
    place_leak_check_first(no_fixtures, add=True)  # e.g. a doctest item: nothing to do
    assert not hasattr(no_fixtures, "fixturenames")
    item = SimpleNamespace(fixturenames=["a", "b"])  # no fixture info: everything counts as function scope
    place_leak_check_first(item)
    assert item.fixturenames == ["a", "b"]
    place_leak_check_first(item, add=True)
    assert item.fixturenames == ["nats_leak_check", "a", "b"]
