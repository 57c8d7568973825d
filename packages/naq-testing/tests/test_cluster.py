"""NatsCluster: a real 3-node JetStream cluster; node loss with a reconnecting nats-py client."""

from __future__ import annotations

import asyncio
import time

import nats
import nats.errors
import pytest

from naq.testing import NatsCluster, NatsServerError

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    with NatsCluster(size=3) as started:
        yield started


@pytest.fixture
def healthy(cluster):
    cluster.heal()
    return cluster


async def wait_until(predicate, timeout: float = 15.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s")
        await asyncio.sleep(0.05)


async def quiet(*_args):
    return None


async def publish_once(js, subject: str, data: bytes, msg_id: str, timeout: float = 30.0):
    """Publish until acked, retrying through a stream leader election.

    A retried publish may already have been stored (its ack lost in the election): the
    ``Nats-Msg-Id`` header makes the retries idempotent, so the stream holds it exactly once and
    a duplicate's ack carries the original sequence.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await js.publish(subject, data, timeout=1, headers={"Nats-Msg-Id": msg_id})
        except nats.errors.Error:  # timeouts, no responders, API errors while electing
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def test_cluster_shape(healthy):
    assert len(healthy) == 3
    assert len(set(healthy.urls)) == 3
    assert healthy[0] is healthy.servers[0]
    assert healthy.connect_options() == {"servers": healthy.urls}
    leader = healthy.wait_for_meta_leader()
    assert healthy.leader_server().name == leader
    routes = healthy.servers[0].monitor("/routez")
    assert routes["num_routes"] >= 2
    assert "size=3" in repr(healthy)
    with pytest.raises(NatsServerError, match="already running"):
        healthy.start()


async def test_client_fails_over_when_its_node_is_killed(healthy):
    nc = await nats.connect(
        servers=healthy.urls,
        reconnect_time_wait=0.1,
        max_reconnect_attempts=-1,
        error_cb=quiet,
        dont_randomize=True,
    )
    try:
        # Creating an R3 stream waits for its raft group to elect a leader: when the preferred
        # node's first campaign fails (peers still creating the group on a busy machine) the next
        # election comes after nats-server's 4-9 s election timeout, past nats-py's 5 s default.
        js = nc.jetstream(timeout=30)
        await js.add_stream(name="FAILOVER", subjects=["fo.>"], num_replicas=3)
        assert (await publish_once(js, "fo.1", b"before", "fo-1")).seq == 1
        node = healthy.server_for(nc)
        assert node is healthy.servers[0]
        node.kill()
        await wait_until(lambda: nc.is_connected and nc.connected_url.port != node.port, message="failover")
        assert healthy.server_for(nc) is not node
        sub = await nc.subscribe("after.kill")
        await nc.publish("after.kill", b"still works")
        assert (await sub.next_msg(timeout=5)).data == b"still works"
        ack = await publish_once(js, "fo.2", b"after", "fo-2")  # the stream may elect a new leader first
        assert ack.seq == 2
        info = await js.stream_info("FAILOVER")
        assert (info.state.messages, info.state.last_seq) == (2, 2)
    finally:
        await nc.close()


def test_restart_node_rejoins(healthy):
    # A follower: killing the meta leader would add a raft election (4-9 s) to this test.
    leader = healthy.wait_for_meta_leader()
    index = next(i for i, server in enumerate(healthy.servers) if server.name != leader)
    node = healthy.kill(index)
    assert not node.running
    assert healthy.restart(index) is node
    assert node.running
    assert node.healthz()
    assert healthy.wait_for_meta_leader()


def test_heal_resumes_and_restarts(healthy):
    healthy.servers[2].pause()
    healthy.kill(0)
    healthy.servers[1].stop()  # stopped for good: store removed
    healthy.heal()
    assert all(server.running and not server.paused for server in healthy.servers)
    assert healthy.wait_for_meta_leader()


def test_meta_leader_none_when_all_nodes_unreachable(healthy):
    for server in healthy.servers:
        server.pause()
    try:
        assert healthy.meta_leader() is None
        with pytest.raises(NatsServerError, match="no JetStream meta leader"):
            healthy.wait_for_meta_leader(timeout=0.2)
    finally:
        healthy.heal()


def test_server_for_unknown_port(healthy):
    with pytest.raises(NatsServerError, match="no node"):
        healthy.server_for("nats://127.0.0.1:1")


def test_invalid_size():
    with pytest.raises(ValueError, match="size"):
        NatsCluster(size=0)
    with pytest.raises(ValueError, match="one-node JetStream cluster"):
        NatsCluster(size=1)
    assert NatsCluster(size=1, jetstream=False).size == 1


def test_cluster_without_jetstream_and_context_manager():
    with NatsCluster(size=2, jetstream=False) as small:
        assert all(server.running for server in small.servers)
        assert small.meta_leader() is None  # no JetStream: no meta group
    assert not any(server.running for server in small.servers)


def test_start_failure_stops_every_node():
    broken = NatsCluster(size=2, args=["--no-such-flag"])
    with pytest.raises(NatsServerError, match="exited during startup"):
        broken.start()
    assert not any(server.running for server in broken.servers)


def test_port_race_retries_whole_cluster(monkeypatch):
    from naq.testing import cluster as cluster_module
    from naq.testing import server as server_module

    attempts = []
    real_wait_ready = server_module.NatsServer.wait_ready

    def racy_wait_ready(self, timeout=None):
        if len(attempts) == 0:
            attempts.append(1)
            raise server_module._PortInUse("address already in use")
        return real_wait_ready(self, timeout)

    monkeypatch.setattr(server_module.NatsServer, "wait_ready", racy_wait_ready)
    with NatsCluster(size=1, jetstream=False) as one:
        assert one.servers[0].healthz()
    assert attempts == [1]

    monkeypatch.setattr(cluster_module, "_ATTEMPTS", 1)
    attempts.clear()
    with pytest.raises(server_module._PortInUse):
        NatsCluster(size=1, jetstream=False).start()


def test_meta_leader_skips_nodes_whose_monitoring_fails():
    from types import SimpleNamespace

    def broken_jsz(timeout=None):
        raise NatsServerError("monitoring down")

    cluster = NatsCluster(size=2)
    cluster.servers = [
        SimpleNamespace(running=True, paused=False, jsz=broken_jsz),
        SimpleNamespace(
            running=True, paused=False, jsz=lambda timeout=None: {"meta_cluster": {"leader": "n1"}}
        ),
    ]
    assert cluster.meta_leader() == "n1"
