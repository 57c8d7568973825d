"""The pytest plugin, exercised the way users use it: pytester runs a user's test file."""

from __future__ import annotations

import psutil
import pytest

from naq.testing import NatsServer

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
{extra}
"""


@pytest.fixture
def run(pytester):
    """Run a user's test file in-process with the given ini lines and flags."""

    def runner(source: str, *args: str, ini: str = ""):
        pytester.makeini(INI.format(extra=ini))
        pytester.makepyfile(test_user=source)
        return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *args)

    return runner


def child_servers() -> set[int]:
    """PIDs of the nats-server processes this process runs (the outer session's server included)."""
    return {p.pid for p in psutil.Process().children(recursive=True) if "nats-server" in p.name()}


def test_async_test_with_nats_client_runs_in_strict_mode(run):
    before = child_servers()
    result = run(
        """
        async def test_x(nats_client):
            sub = await nats_client.subscribe("greet")
            await nats_client.publish("greet", b"hi")
            msg = await sub.next_msg(timeout=2)
            assert msg.data == b"hi"
        """
    )
    result.assert_outcomes(passed=1)
    assert child_servers() <= before  # the inner session server was stopped


def test_each_fixture_in_a_user_file(run):
    result = run(
        """
        import nats
        from naq.testing import NatsServer

        def test_server(nats_server, nats_url):
            assert isinstance(nats_server, NatsServer)
            assert nats_server.running and nats_url == nats_server.url
            assert nats_server.healthz()

        async def test_jetstream(nats_jetstream):
            await nats_jetstream.add_stream(name="ORDERS", subjects=["orders.>"])
            assert (await nats_jetstream.publish("orders.1", b"x")).seq == 1

        async def test_client_factory(nats_client_factory, nats_server_factory):
            secured = nats_server_factory(jetstream=False, user="u", password="p")
            nc = await nats_client_factory(secured)
            assert nc.connected_url.port == secured.port
            other = await nats_client_factory(name="second")
            assert other.connected_url.port != secured.port
            assert secured.connz()["connections"][0]["lang"] == "python3"

        async def test_names(nats_names, nats_jetstream):
            stream = nats_names.stream("shipments")
            await nats_jetstream.add_stream(name=stream, subjects=[nats_names.subject("shipments") + ".>"])
            await nats_jetstream.create_key_value(bucket=nats_names.bucket("cfg"))

        async def test_names_were_cleaned(nats_jetstream):
            assert [s.config.name for s in await nats_jetstream.streams_info()] == ["ORDERS"]

        async def test_leak_check_passes_when_closed(nats_leak_check, nats_url):
            nc = await nats.connect(nats_url)
            await nc.close()

        def test_settings(nats_settings):
            assert nats_settings.backend == "binary"
        """
    )
    result.assert_outcomes(passed=7)


def test_leaking_test_is_reported(run):
    result = run(
        """
        import nats

        async def test_leaks(nats_leak_check, nats_url):
            nats_leak_check.timeout = 0.3  # this one leaks for sure: do not wait long for it
            nc = await nats.connect(nats_url, name="forgotten")
            await nc.subscribe("x")

        async def test_clean(nats_leak_check, nats_client):
            await nats_client.flush()
        """,
        "--nats-leak-timeout=20",  # a clean test's check returns as soon as its clients are gone
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks*",
            "*NatsLeakError: test_user.py::test_leaks left 1 NATS connection(s) open:",
            "*- client cid=* name='forgotten' lang=python3 from 127.0.0.1:* subscriptions=1, "
            "on server nats://127.0.0.1:*",
            "*Close every client the test*",
        ]
    )


def test_leak_check_runs_after_user_fixture_teardown(run):
    """A user's own client fixture, requested BEFORE nats_leak_check, closes in its teardown:
    the leak check must still run after it (no false positive)."""
    result = run(
        """
        import nats, pytest_asyncio

        @pytest_asyncio.fixture
        async def my_client(nats_url):
            nc = await nats.connect(nats_url)
            yield nc
            await nc.close()

        async def test_uses_both(my_client, nats_leak_check):
            await my_client.publish("a", b"b")

        async def test_uses_client_first(nats_client, nats_leak_check):
            await nats_client.publish("a", b"b")
        """,
        "--nats-leak-timeout=20",  # returns as soon as the connections are gone
    )
    result.assert_outcomes(passed=2)


def test_clients_close_before_factory_servers_stop(run):
    """nats_client_factory closes its clients while the servers nats_server_factory started still
    run, even when the test asks for the client factory first: a clean close, no reconnecting."""
    result = run(
        """
        events = []

        async def test_uses_both(nats_client_factory, nats_server_factory):
            server = nats_server_factory(jetstream=False)

            async def closed():
                events.append(("closed", server.running))

            await nats_client_factory(server, closed_cb=closed)

        def test_order():
            assert events == [("closed", True)]
        """
    )
    result.assert_outcomes(passed=2)


def test_leaking_user_fixture_requested_first_is_reported(run):
    """nats_leak_check is moved in front of the function-scoped fixtures, so a connection a user
    fixture opens (and never closes) is not hidden in the baseline."""
    result = run(
        """
        import nats, pytest_asyncio

        @pytest_asyncio.fixture
        async def sloppy_client(nats_url):
            return await nats.connect(nats_url, name="sloppy")

        async def test_x(sloppy_client, nats_leak_check):
            await sloppy_client.flush()
        """,
        "--nats-leak-timeout=0.2",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*name='sloppy'*"])


def test_leak_check_for_every_test_by_ini(run):
    result = run(
        """
        import nats

        async def test_leaks_without_asking(nats_url):
            nc = await nats.connect(nats_url)

        def test_sync_test_is_fine(nats_url):
            pass
        """,
        ini="nats_leak_check = true\nnats_leak_timeout = 0.2",
    )
    result.assert_outcomes(passed=2, errors=1)


def test_leak_check_flag_without_value_enables_it(run):
    result = run(
        """
        import nats

        async def test_leaks_without_asking(nats_url):
            nc = await nats.connect(nats_url)
        """,
        "--nats-leak-check",
        "--nats-leak-timeout=0.2",
    )
    result.assert_outcomes(passed=1, errors=1)


def test_leftover_task_holding_a_client_is_reported(run):
    """The leak check sees a client whose tasks are still alive (not yet cancelled by pytest-asyncio)."""
    result = run(
        """
        import asyncio, nats

        async def test_background(nats_leak_check, nats_url):
            connected = asyncio.Event()

            async def worker():
                nc = await nats.connect(nats_url)
                connected.set()
                await asyncio.sleep(3600)

            asyncio.get_running_loop().create_task(worker())
            await asyncio.wait_for(connected.wait(), 20)
        """,
        "--nats-leak-timeout=0.2",
    )
    result.assert_outcomes(passed=1, errors=1)


def test_plugin_can_be_disabled(run):
    result = run(
        """
        def test_x(nats_server):
            pass
        """,
        "-p",
        "no:naq_testing",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'nats_server' not found*"])


def test_cli_flag_wins_over_ini(run):
    result = run(
        """
        def test_x(nats_settings, nats_server, nats_names):
            nats_names.stream("s")  # issued, but there is no JetStream to clean up
            assert nats_settings.jetstream is False
            assert nats_settings.startup_timeout == 7
            assert nats_settings.cluster_size == 5
            assert nats_settings.server_args == ("-D",)
            assert not nats_server.jetstream
        """,
        "--nats-jetstream=false",
        "--nats-startup-timeout=7",
        ini="nats_jetstream = true\nnats_startup_timeout = 3\nnats_cluster_size = 5\nnats_server_args = -D",
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "--nats-backend=podman",
            "*--nats-backend / nats_backend: expected one of binary, docker, external*",
        ),
        ("--nats-backend=external", "*--nats-backend=external needs --nats-url*"),
        ("--nats-jetstream=maybe", "*--nats-jetstream / nats_jetstream: expected true or false*"),
        ("--nats-startup-timeout=soon", "*--nats-startup-timeout / nats_startup_timeout: expected a number*"),
        ("--nats-cluster-size=0", "*--nats-cluster-size / nats_cluster_size: expected a number >= 1*"),
        ("--nats-server-args=-D 'unclosed", "*--nats-server-args / nats_server_args:*quotation*"),
    ],
)
def test_bad_option_values_are_usage_errors(run, flag, message):
    result = run("def test_x(nats_url):\n    pass\n", flag)
    result.stderr.fnmatch_lines([message])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_external_backend_uses_a_running_server(run):
    with NatsServer(jetstream=False) as external:
        result = run(
            f"""
            from naq.testing import NatsServerError
            import pytest

            async def test_x(nats_client, nats_server):
                assert nats_server.backend == "external"
                assert nats_client.connected_url.port == {external.port}
                assert nats_server.client_count() >= 1
                with pytest.raises(NatsServerError, match="not ours"):
                    nats_server.restart()

            async def test_leak_check_works_there(nats_leak_check, nats_client):
                await nats_client.flush()
            """,
            "--nats-backend=external",
            f"--nats-url={external.url}",
            f"--nats-monitor-url={external.monitor_url}",
        )
        result.assert_outcomes(passed=2)
        assert external.running  # the plugin does not stop a server it does not own


def test_docker_backend_without_engine_falls_back(run, monkeypatch):
    from naq.testing import server as server_module

    monkeypatch.setattr(server_module, "_fallback_logged", False)  # logged once per process
    result = run(
        """
        def test_x(nats_server, nats_server_factory):
            assert nats_server.requested_backend == "docker"
            assert nats_server.backend == "binary"
            extra = nats_server_factory(jetstream=False)
            assert extra.backend == "binary" and extra.healthz()
        """,
        "--nats-backend=docker",
        "--nats-docker-image=nats:2.10",
        "-p",
        "logging",
        "--log-level=WARNING",
        "-rA",
    )
    result.assert_outcomes(passed=1)
    assert result.stdout.str().count("no usable Docker (no Docker engine answers") == 1


def test_server_bin_option_is_used(run, tmp_path):
    result = run(
        "def test_x(nats_server):\n    pass\n",
        f"--nats-server-bin={tmp_path / 'missing-nats-server'}",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*NatsServerNotFoundError*missing-nats-server*"])


def test_fake_nats_fixture(run):
    result = run(
        """
        import nats

        async def test_x(fake_nats):
            nc = await nats.connect("nats://fake:4222")
            sub = await nc.subscribe("a.*")
            await nc.publish("a.b", b"x")
            assert (await sub.next_msg(timeout=1)).data == b"x"
            await nc.close()
        """
    )
    result.assert_outcomes(passed=1)


@pytest.mark.slow
def test_cluster_fixture_is_shared_and_healed(run):
    result = run(
        """
        import pytest

        seen = []

        @pytest.mark.slow
        def test_first(nats_cluster):
            assert len(nats_cluster.urls) == 2
            seen.append(nats_cluster)
            # Paused, the node would hang the next test of the module. (heal() restarting killed
            # nodes is tested in test_cluster.py; here a kill would only add a raft election.)
            nats_cluster.servers[1].pause()

        def test_second(nats_cluster, nats_cluster_factory):
            assert seen == [nats_cluster]  # the same cluster...
            assert all(s.running and not s.paused for s in nats_cluster.servers)  # ...healed
            assert nats_cluster.meta_leader()
            single = nats_cluster_factory(size=1, jetstream=False)
            assert len(single) == 1
        """,
        "--nats-cluster-size=2",
        ini="markers =\n    slow: slow",
    )
    result.assert_outcomes(passed=2)
