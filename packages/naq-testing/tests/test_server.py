"""NatsServer against the real nats-server binary: lifecycle, fault injection, auth, TLS, errors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import nats
import nats.errors
import psutil
import pytest

from naq.testing import NatsServer, NatsServerError, TLSOptions
from naq.testing import server as server_module
from naq.testing._ports import free_port

pytestmark = pytest.mark.integration


async def wait_until(predicate, timeout: float = 20.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s")
        await asyncio.sleep(0.05)


async def connect(server: NatsServer, **kwargs):
    async def quiet(*_args):
        return None

    options = {
        "reconnect_time_wait": 0.1,
        "max_reconnect_attempts": -1,
        "connect_timeout": 2,
        "error_cb": quiet,
        **server.connect_options(),
        **kwargs,
    }
    return await asyncio.wait_for(nats.connect(**options), 10)


def test_start_stop_cleans_up_process_and_store():
    server = NatsServer()
    with server:
        pid, store, log = server.pid, server.store_dir, server.log_path
        assert server.running
        assert server.url == f"nats://127.0.0.1:{server.port}"
        assert server.monitor_url == f"http://127.0.0.1:{server.monitor_port}"
        assert server.healthz()
        assert server.varz()["jetstream"]["config"]["store_dir"].startswith(store)
        assert os.path.exists(log)
        assert "running=True" in repr(server)
    assert not server.running
    assert not psutil.pid_exists(pid)  # reaped: no zombie left behind
    assert not os.path.exists(store)
    assert not os.path.exists(log)
    server.stop()  # idempotent


def test_addresses_before_start_are_clear_errors():
    server = NatsServer()
    with pytest.raises(NatsServerError, match="start"):
        _ = server.url
    with pytest.raises(NatsServerError, match="start"):
        _ = server.monitor_url
    with pytest.raises(NatsServerError, match="start"):
        server.kill()
    assert server.store_dir is None
    assert server.log_path is None
    assert server.pid is None
    assert "not started" in repr(server)


def test_start_twice_is_an_error():
    with NatsServer() as server, pytest.raises(NatsServerError, match="already running"):
        server.start()


def test_without_jetstream():
    with NatsServer(jetstream=False) as server:
        assert "jetstream" not in server.varz() or not server.varz()["jetstream"].get("config")
        assert server.store_dir is not None  # a temp dir exists but is unused


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "podman"}, "backend must be one of"),
        ({"port": 0}, "port must be"),
        ({"monitor_port": 70000}, "monitor_port must be"),
        ({"user": "u"}, "user and password"),
        ({"token": "t", "user": "u", "password": "p"}, "either token"),
        ({"args": "-D"}, "sequence of strings"),
        ({"tls": {"cert_file": "x"}}, "TLSOptions"),
        ({"tls": TLSOptions("c", "k"), "backend": "docker"}, "binary"),
        ({"lame_duck_duration": 40, "config_file": "x.conf"}, "config_file"),
        ({"lame_duck_duration": 5}, ">= 30"),
        ({"backend": "external"}, "url="),
        ({"startup_timeout": 0}, "startup_timeout"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NatsServer(**kwargs)


def test_bad_flag_fails_fast_with_log_tail():
    server = NatsServer(args=["--no-such-flag"])
    started = time.monotonic()
    with pytest.raises(NatsServerError, match="exited during startup") as info:
        server.start()
    assert time.monotonic() - started < 5
    assert "no-such-flag" in str(info.value)  # the log tail says what was wrong
    assert not server.running
    assert server.log_path is None  # temp dir removed


def test_not_healthy_within_timeout_reports_log_tail(monkeypatch):
    server = NatsServer(startup_timeout=0.5)

    def never_healthy(*_args, **_kwargs):
        # The server really starts; only its health report is withheld. Hold the first report
        # back (bounded) until the server has logged that it is ready, so the log tail in the
        # error is complete however slowly the machine starts it.
        deadline = time.monotonic() + 20
        while "Server is ready" not in Path(server.log_path).read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        return False

    monkeypatch.setattr(server_module._monitor, "healthz", never_healthy)
    with pytest.raises(NatsServerError, match=r"did not report healthy .* within 0.5s") as info:
        server.start()
    assert "Server is ready" in str(info.value)
    assert server.pid is None
    assert not server.running


def test_fixed_port_in_use_is_not_retried():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = NatsServer(port=port, monitor_port=free_port())
        with pytest.raises(NatsServerError, match="address already in use") as info:
            server.start()
        assert not isinstance(info.value, server_module._PortInUse)


def test_port_race_is_retried_with_new_ports(monkeypatch):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        real_free_port = server_module.free_port
        calls = []

        def racy_free_port(host="127.0.0.1"):
            calls.append(1)
            return taken if len(calls) == 1 else real_free_port(host)

        monkeypatch.setattr(server_module, "free_port", racy_free_port)
        with NatsServer() as server:
            assert server.port != taken
            assert server.healthz()
        assert len(calls) >= 3  # first (client, monitor) pair, then a new pair


def test_port_race_gives_up_after_attempts(monkeypatch):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        real_free_port = server_module.free_port
        calls = []

        def client_port_always_taken(host="127.0.0.1"):
            calls.append(1)
            return taken if len(calls) % 2 else real_free_port(host)  # (client, monitor) pairs

        monkeypatch.setattr(server_module, "free_port", client_port_always_taken)
        monkeypatch.setattr(server_module, "_PORT_ATTEMPTS", 2)
        server = NatsServer()
        with pytest.raises(server_module._PortInUse):
            server.start()
        assert len(calls) == 4
        assert server.log_path is None


def test_connz_client_count_jsz():
    async def scenario(server):
        assert server.client_count() == 0
        nc = await connect(server, name="counted")
        try:
            assert server.client_count() == 1
            assert server.connz()["connections"][0]["name"] == "counted"
            await nc.subscribe("watched.subject")
            # Two round trips: nats-py's flush() writes its PING before a just-queued SUB, so the
            # first PONG can come back before the server has the subscription (see the contract
            # suite's settle()); the second PING is written after the SUB.
            await nc.flush()
            await nc.flush()
            assert server.connz(subs=1)["connections"][0]["subscriptions_list"] == ["watched.subject"]
        finally:
            await nc.close()
        await wait_until(lambda: server.client_count() == 0, message="client closed on server")
        assert "config" in server.jsz()

    with NatsServer() as server:
        asyncio.run(scenario(server))


def test_monitor_errors_are_wrapped():
    with NatsServer() as server, pytest.raises(NatsServerError, match="/nope"):
        server.monitor("/nope")


async def test_restart_keeps_url_and_jetstream_data():
    with NatsServer() as server:
        url = server.url
        nc = await connect(server)
        try:
            js = nc.jetstream()
            await js.add_stream(name="KEEP", subjects=["keep.>"])
            await js.publish("keep.1", b"one")
            old_pid = server.pid
            server.restart()
            assert server.url == url
            assert server.pid != old_pid
            await wait_until(lambda: nc.stats["reconnects"] >= 1 and nc.is_connected, message="reconnect")
            info = await js.stream_info("KEEP")
            assert info.state.messages == 1
            ack = await js.publish("keep.2", b"two")
            assert ack.seq == 2
        finally:
            await nc.close()


async def test_kill_then_restart_recovers_data():
    with NatsServer() as server:
        nc = await connect(server)
        try:
            js = nc.jetstream()
            await js.add_stream(name="CRASH", subjects=["crash.>"])
            await js.publish("crash.1", b"x")
            pid = server.pid
            server.kill()
            assert not server.running
            assert not psutil.pid_exists(pid)
            await wait_until(lambda: not nc.is_connected, message="client notices the crash")
            server.restart(kill=True)  # kill=True on a dead server: just start it again
            await wait_until(lambda: nc.is_connected, message="reconnect")
            assert (await js.stream_info("CRASH")).state.messages == 1
        finally:
            await nc.close()


async def test_restart_kill_true_on_running_server():
    with NatsServer(jetstream=False) as server:
        pid = server.pid
        server.restart(kill=True)
        assert server.running
        assert server.pid != pid
        assert not psutil.pid_exists(pid)


async def test_pause_times_out_requests_and_resume_recovers():
    with NatsServer(jetstream=False) as server:
        nc = await connect(server)
        try:

            async def echo(msg):
                await msg.respond(msg.data)

            await nc.subscribe("echo", cb=echo)
            assert (await nc.request("echo", b"before", timeout=2)).data == b"before"
            server.pause()
            assert server.paused
            assert psutil.Process(server.pid).status() == psutil.STATUS_STOPPED
            with pytest.raises(nats.errors.TimeoutError):
                await nc.request("echo", b"frozen", timeout=0.5)
            server.resume()
            assert not server.paused
            assert (await nc.request("echo", b"after", timeout=5)).data == b"after"
        finally:
            await nc.close()


def test_stop_a_paused_server_does_not_hang():
    server = NatsServer(jetstream=False, stop_timeout=30).start()
    pid = server.pid
    server.pause()
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 15  # SIGCONT first, so SIGTERM is acted on (no 30 s wait)
    assert not psutil.pid_exists(pid)


async def test_lame_duck_notifies_clients_and_stops_accepting():
    with NatsServer(jetstream=False, lame_duck_duration=30) as server:
        notified = asyncio.Event()

        async def on_ldm():
            notified.set()

        nc = await connect(server, lame_duck_mode_cb=on_ldm, allow_reconnect=False)
        try:
            server.lame_duck()
            await asyncio.wait_for(notified.wait(), 10)
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        finally:
            await nc.close()


def test_lame_duck_wait_for_exit():
    server = NatsServer(jetstream=False).start()
    try:
        server.lame_duck(wait=10)  # no clients: the server exits at once
        assert not server.running
        with pytest.raises(NatsServerError, match="running server"):
            server.pause()
    finally:
        server.stop()


def test_lame_duck_wait_timeout(monkeypatch):
    with NatsServer(jetstream=False) as server:
        monkeypatch.setattr(server._runner, "wait_exit", lambda timeout: False)  # "still running"
        with pytest.raises(NatsServerError, match="still running"):
            server.lame_duck(wait=0.2)


async def test_user_password_auth():
    with NatsServer(jetstream=False, user="alice", password="s3cret-pw") as server:
        assert "s3cret-pw" not in repr(server)
        assert "s3cret-pw" not in server.url
        nc = await connect(server)
        assert nc.is_connected
        await nc.close()
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await connect(server, password="wrong", allow_reconnect=False, max_reconnect_attempts=0)


async def test_credentials_stay_out_of_the_command_line():
    password = 'p$w "quoted" \\ {braces}'
    with NatsServer(jetstream=False, user="carol", password=password) as server:
        cmdline = " ".join(psutil.Process(server.pid).cmdline())
        assert "carol" not in cmdline
        assert "quoted" not in cmdline
        conf = os.path.join(os.path.dirname(server.log_path), "naq.conf")
        assert os.stat(conf).st_mode & 0o077 == 0  # private to the user
        nc = await connect(server)  # the odd characters survived the config-file quoting
        assert nc.is_connected
        await nc.close()
    with NatsServer(jetstream=False, token="tok-$HOME") as server:
        assert "tok-" not in " ".join(psutil.Process(server.pid).cmdline())
        nc = await connect(server)
        await nc.close()


async def test_credentials_with_your_config_file_use_flags(tmp_path):
    conf = tmp_path / "server.conf"
    conf.write_text("max_payload: 4096\n")
    with NatsServer(jetstream=False, config_file=str(conf), user="dave", password="pw") as server:
        assert "--user" in psutil.Process(server.pid).cmdline()
        nc = await connect(server)
        assert nc.is_connected
        await nc.close()
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await connect(server, user="dave", password="wrong", allow_reconnect=False)
    with NatsServer(jetstream=False, config_file=str(conf), token="tk") as server:
        assert "--auth" in psutil.Process(server.pid).cmdline()
        nc = await connect(server)
        await nc.close()


async def test_token_auth():
    with NatsServer(jetstream=False, token="tok-123") as server:
        nc = await connect(server)
        assert nc.is_connected
        await nc.close()
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await connect(server, token="nope", allow_reconnect=False, max_reconnect_attempts=0)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.org")
    d = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    client.private_key_pem.write_to_path(str(d / "client-key.pem"))
    client.cert_chain_pems[0].write_to_path(str(d / "client-cert.pem"))
    return d


async def test_tls_server(tls_files):
    tls = TLSOptions(
        cert_file=str(tls_files / "cert.pem"),
        key_file=str(tls_files / "key.pem"),
        ca_file=str(tls_files / "ca.pem"),
    )
    with NatsServer(jetstream=False, tls=tls) as server:
        assert server.url.startswith("tls://")
        assert server.healthz()
        nc = await connect(server)
        assert nc.is_connected
        assert server.connz()["connections"][0].get("tls_version")
        await nc.close()


async def test_tls_verify_requires_client_certificate(tls_files):
    common = {
        "cert_file": str(tls_files / "cert.pem"),
        "key_file": str(tls_files / "key.pem"),
        "ca_file": str(tls_files / "ca.pem"),
    }
    tls = TLSOptions(
        **common,
        verify=True,
        client_cert_file=str(tls_files / "client-cert.pem"),
        client_key_file=str(tls_files / "client-key.pem"),
    )
    with NatsServer(jetstream=False, tls=tls) as server:
        nc = await connect(server)
        assert nc.is_connected
        await nc.close()
        no_client_cert = TLSOptions(**common).client_context()
        with pytest.raises(Exception):  # noqa: B017 - the TLS handshake fails, nats-py's error type varies
            await connect(server, tls=no_client_cert, allow_reconnect=False, max_reconnect_attempts=0)


def test_config_file_is_used(tmp_path):
    conf = tmp_path / "server.conf"
    conf.write_text("max_payload: 4096\n")
    with NatsServer(jetstream=False, config_file=str(conf)) as server:
        assert server.varz()["max_payload"] == 4096


def test_user_store_dir_is_kept(tmp_path):
    store = tmp_path / "store"
    with NatsServer(store_dir=str(store)) as server:
        assert server.store_dir == str(store)
    assert store.exists()


def test_name_and_extra_args():
    with NatsServer(jetstream=False, name="named-one", args=["-D"]) as server:
        assert server.varz()["server_name"] == "named-one"
        with open(server.log_path) as fh:
            assert "[DBG]" in fh.read()  # -D reached the server


def test_stop_escalates_to_sigkill(monkeypatch):
    server = NatsServer(jetstream=False, stop_timeout=0.3).start()
    pid = server.pid
    os.kill(pid, signal.SIGSTOP)  # frozen behind our back: SIGTERM cannot be acted on
    server._runner.paused = False  # we "do not know" it is paused
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    assert not psutil.pid_exists(pid)


def test_single_node_with_cluster_port():
    with NatsServer(jetstream=False, cluster_name="solo") as server:
        assert server.cluster_port is not None
        assert server.varz()["cluster"]["cluster_port"] == server.cluster_port
