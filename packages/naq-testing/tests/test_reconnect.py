"""Fault injection returns servers the clients can use (issue 14): the async variants wait for the
toolkit's clients, ``wait_reconnected`` for anybody's; leak checks see factory servers; a loop
scope mismatch fails at once."""

from __future__ import annotations

import asyncio

import nats
import pytest

from naq.testing import NatsServer, NatsServerError, wait_reconnected

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration


async def _restart_then_use(srv: NatsServer, nc, rounds: int) -> None:
    """The README pattern: restart (alternately a crash), then use the client at once."""
    js = nc.jetstream()
    await js.add_stream(name="KEEP", subjects=["keep.>"])
    await js.publish("keep.1", b"x")
    for index in range(rounds):
        await srv.arestart(kill=index % 2 == 1)
        assert (await js.stream_info("KEEP")).state.messages == 1
        await nc.publish("other.2", b"y")
        await nc.flush(timeout=2)


async def test_restart_then_use_200_times(nats_server_factory, nats_client_factory):
    servers = [nats_server_factory() for _ in range(4)]
    clients = [await nats_client_factory(srv) for srv in servers]
    await asyncio.gather(*(_restart_then_use(srv, nc, 50) for srv, nc in zip(servers, clients, strict=True)))
    for nc in clients:
        assert nc.stats["reconnects"] == 50


async def test_resume_after_clients_gave_up_on_the_frozen_server(nats_server_factory, nats_client_factory):
    srv = nats_server_factory(jetstream=False)
    nc = await nats_client_factory(srv)
    for _ in range(2):
        srv.pause()
        with pytest.raises(nats.errors.TimeoutError):
            await nc.flush(timeout=0.3)  # leaves a PONG waiter nats-py will trip over
        await srv.aresume()
        await nc.flush(timeout=2)


async def test_wait_reconnected_for_a_client_made_elsewhere(nats_server_factory):
    srv = nats_server_factory(jetstream=False)
    nc = await nats.connect(srv.url, reconnect_time_wait=0.1, error_cb=_quiet, disconnected_cb=_nothing)
    try:

        async def echo(msg):
            await msg.respond(msg.data)

        sub = await nc.subscribe("echo", cb=echo)
        for index in range(20):
            srv.restart(kill=index % 2 == 1)
            await wait_reconnected(nc)
            assert (await nc.request("echo", b"hi", timeout=2)).data == b"hi"  # replayed SUB is there
        await sub.unsubscribe()
    finally:
        await nc.close()


async def _quiet(exc: Exception) -> None:
    return None


async def _nothing() -> None:
    return None


async def test_wait_reconnected_errors(nats_server_factory):
    srv = nats_server_factory(jetstream=False)
    nc = await nats.connect(srv.url, name="frozen-one", error_cb=_quiet)
    try:
        with pytest.raises(ValueError, match="timeout must be > 0"):
            await wait_reconnected(nc, timeout=0)
        srv.pause()
        with pytest.raises(NatsServerError, match=r"client 'frozen-one' .* did not get a working connection"):
            await wait_reconnected(nc, timeout=0.5)
        srv.resume()
    finally:
        await nc.close()
    with pytest.raises(NatsServerError, match="is closed, so it will not reconnect"):
        await wait_reconnected(nc)


async def test_cluster_aheal_waits_for_the_clients(nats_cluster_factory, nats_client_factory):
    cluster = nats_cluster_factory(size=2, jetstream=False)
    nc = await nats_client_factory(cluster.urls[0], servers=cluster.urls[:1])  # no failover target
    cluster.kill(0)
    await cluster.aheal()
    await nc.flush(timeout=2)
    cluster.kill(0)
    await cluster.arestart(0)
    await nc.flush(timeout=2)
    assert nc.stats["reconnects"] >= 1  # the second time it may have failed over to node 1


# -- plugin-level behaviour, as a user runs it --------------------------------------------------------
INI = """
[pytest]
asyncio_default_fixture_loop_scope = {scope}
"""


@pytest.fixture
def run(pytester):
    def runner(source: str, *args: str, scope: str = "function"):
        pytester.makeini(INI.format(scope=scope))
        pytester.makepyfile(test_user=source)
        return pytester.runpytest("-p", "no:cacheprovider", *args)

    return runner


def test_leak_on_a_factory_server_is_reported_before_it_stops(run):
    result = run(
        """
        import nats

        async def test_leaks(nats_leak_check, nats_server_factory):
            srv = nats_server_factory(jetstream=False, name="orders-node")
            await nats.connect(srv.url, name="forgotten")

        async def test_leaks_on_a_cluster(nats_leak_check, nats_cluster_factory):
            cluster = nats_cluster_factory(size=2, jetstream=False)
            await nats.connect(cluster.urls[1], name="lost")
        """,
        "--nats-leak-timeout=0.3",
    )
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*NatsLeakError: test_user.py::test_leaks left 1 NATS connection(s) open:",
            "*- client cid=* name='forgotten' lang=python3 from 127.0.0.1:* subscriptions=0, "
            "on server nats://127.0.0.1:* (orders-node)",
            "*Close every client the test*",
        ]
    )
    result.stdout.fnmatch_lines(["*name='lost'*on server nats://127.0.0.1:* (naq-*-n1)"])


def test_loop_scope_mismatch_fails_at_once_naming_the_option(run):
    result = run(
        """
        import pytest

        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_loop(nats_client):
            await nats_client.flush(timeout=30)

        async def test_function_loop(nats_client):
            await nats_client.flush(timeout=2)
        """
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*runs in a 'module'-scoped event loop*Set asyncio_default_fixture_loop_scope = module*"]
    )
    assert "FlushTimeoutError" not in result.stdout.str()


def test_wider_fixture_loop_than_test_loop_is_named_too(run):
    result = run(
        """
        async def test_function_loop(nats_client):
            await nats_client.flush(timeout=30)
        """,
        scope="module",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*'function'-scoped event loop*Set asyncio_default_fixture_loop_scope = function*"]
    )
