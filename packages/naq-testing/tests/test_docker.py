"""The docker backend. No Docker engine exists here: the fallback is tested for real, the container
path with a stand-in for testcontainers' NatsContainer that runs the real nats-server binary with
the command and port bindings the backend asked for (so readiness, restart and pause are real)."""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
import time

import nats
import pytest

from naq.testing import NatsServer
from naq.testing import _docker as docker_module
from naq.testing import server as server_module
from naq.testing._binary import find_nats_server
from naq.testing._process import BinaryProcess


class FakeWrapped:
    """docker-py's Container, backed by a real nats-server process."""

    def __init__(self, owner: FakeNatsContainer) -> None:
        self.owner = owner
        self.status = "created"
        self.calls: list[str] = []

    def reload(self) -> None:
        proc = self.owner.process
        if self.status in ("running", "paused") and (proc is None or not proc.alive()):
            self.status = "exited"

    def start(self) -> None:
        self.calls.append("start")
        self.owner.process.launch()
        self.status = "running"

    def stop(self, timeout: int = 10) -> None:
        self.calls.append(f"stop:{timeout}")
        self.owner.process.terminate(timeout)
        self.status = "exited"

    def kill(self, signal: int | None = None) -> None:
        self.calls.append(f"kill:{signal}")
        if signal is None:
            self.owner.process.kill()
            self.status = "exited"
        else:
            self.owner.process.send(signal)

    def pause(self) -> None:
        self.owner.process.pause()
        self.status = "paused"

    def unpause(self) -> None:
        self.owner.process.resume()
        self.status = "running"

    def wait(self, timeout: float | None = None) -> dict:
        self.owner.process.wait_exit(timeout or 10)
        return {"StatusCode": 0}

    def logs(self, tail: int = 30) -> bytes:
        return self.owner.process.log_tail(tail).encode()


class FakeNatsContainer:
    instances: list[FakeNatsContainer] = []

    def __init__(self, image: str = "nats:latest", jetstream: bool = False, **kwargs) -> None:
        self.image = image
        self.jetstream = jetstream
        self.command = ""
        self.ports: dict[int, int] = {}
        self.process: BinaryProcess | None = None
        self.wrapped: FakeWrapped | None = None
        self.tmp = tempfile.TemporaryDirectory(prefix="fake-container-")
        FakeNatsContainer.instances.append(self)

    def with_command(self, command: str) -> FakeNatsContainer:
        self.command = command
        return self

    def with_bind_ports(self, container: int, host: int) -> FakeNatsContainer:
        self.ports[container] = host
        return self

    def _argv(self) -> list[str]:
        args = self.command.split()
        args = [self.tmp.name if a == "/data" else a for a in args]
        args[args.index("-m") + 1] = str(self.ports[8222])
        return [find_nats_server(), "-a", "127.0.0.1", "-p", str(self.ports[4222]), *args]

    def start(self) -> FakeNatsContainer:
        self.process = BinaryProcess(self._argv(), self.tmp.name + "/log")
        self.wrapped = FakeWrapped(self)
        self.wrapped.start()
        return self

    def get_container_host_ip(self) -> str:
        return "localhost"

    def get_wrapped_container(self) -> FakeWrapped | None:
        return self.wrapped

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
        self.wrapped = None
        self.tmp.cleanup()


@pytest.fixture
def fake_docker(monkeypatch):
    FakeNatsContainer.instances.clear()
    monkeypatch.setattr(docker_module, "_container_class", lambda: FakeNatsContainer)
    yield FakeNatsContainer
    for container in FakeNatsContainer.instances:
        container.stop()


@pytest.fixture
def reset_fallback_log(monkeypatch):
    monkeypatch.setattr(server_module, "_fallback_logged", False)


def test_container_command_enables_monitoring_and_jetstream(fake_docker):
    with NatsServer(backend="docker", docker_image="nats:2.10", user="u", password="p") as server:
        container = fake_docker.instances[0]
        assert server.backend == "docker"
        assert container.image == "nats:2.10"
        assert container.jetstream is False  # the stock -js command would turn monitoring off
        command = container.command.split()
        assert command[:2] == ["-m", "8222"]
        assert "-js" in command
        assert command[command.index("-sd") + 1] == "/data"
        assert command[command.index("--user") + 1] == "u"
        assert container.ports == {4222: server.port, 8222: server.monitor_port}
        assert server.url == f"nats://127.0.0.1:{server.port}"  # "localhost" mapped to loopback
        assert server.jsz()["config"]["store_dir"]  # monitoring and JetStream both on
        assert server.pid is None
        assert server.log_path is not None


async def test_container_restart_keeps_url_and_data(fake_docker):
    with NatsServer(backend="docker") as server:
        url = server.url
        nc = await nats.connect(
            **server.connect_options(), reconnect_time_wait=0.1, max_reconnect_attempts=-1
        )
        try:
            js = nc.jetstream()
            await js.add_stream(name="D", subjects=["d.>"])
            await js.publish("d.1", b"x")
            server.restart()
            wrapped = fake_docker.instances[0].wrapped
            assert wrapped.calls[-2:] == ["stop:10", "start"]
            assert server.url == url
            deadline = time.monotonic() + 20
            while not (nc.is_connected and nc.stats["reconnects"]):
                assert time.monotonic() < deadline, "the client did not reconnect within 20 s"
                await asyncio.sleep(0.05)
            assert (await js.stream_info("D")).state.messages == 1
        finally:
            await nc.close()


def test_container_kill_pause_resume_lame_duck(fake_docker):
    server = NatsServer(backend="docker", jetstream=False).start()
    try:
        wrapped = fake_docker.instances[0].wrapped
        server.pause()
        assert server.paused
        assert wrapped.status == "paused"
        server.resume()
        assert server.healthz()
        server.kill()
        assert not server.running
        assert "kill:None" in wrapped.calls
        server.restart(kill=True)
        assert server.running
        assert server.healthz()
        server.lame_duck(wait=10)
        assert f"kill:{int(signal.SIGUSR2)}" in wrapped.calls
        assert "Entering lame duck mode" in server._runner.log_tail()
    finally:
        server.stop()
    assert not server.running
    assert server._runner is None


def test_stop_paused_container_unpauses_first(fake_docker):
    server = NatsServer(backend="docker", jetstream=False).start()
    container = fake_docker.instances[0]
    server.pause()
    server.stop()
    assert container.process is not None
    assert not container.process.alive()


def test_restart_of_paused_container(fake_docker):
    with NatsServer(backend="docker", jetstream=False) as server:
        server.pause()
        server.restart()
        assert not server.paused
        assert server.healthz()


def test_docker_process_edges():
    process = docker_module.DockerProcess("img", 1, 2, [])
    assert not process.alive()
    process.terminate()  # nothing to stop
    assert process.returncode() is None


def test_log_tail_survives_a_broken_container():
    process = docker_module.DockerProcess("img", 1, 2, [])

    class Broken:
        def get_wrapped_container(self):
            raise RuntimeError("gone")

    process.container = Broken()
    assert process.log_tail() == ""


def test_no_docker_engine_falls_back_to_binary_with_one_log_line(caplog, reset_fallback_log):
    # Real: there is no Docker engine on this machine, so testcontainers raises DockerException.
    caplog.set_level(logging.WARNING, logger="naq.testing")
    with NatsServer(backend="docker") as first, NatsServer(backend="docker") as second:
        assert first.backend == second.backend == "binary"
        assert first.requested_backend == "docker"
        assert first.healthz()
        assert second.healthz()
    lines = [r for r in caplog.records if "no usable Docker" in r.getMessage()]
    assert len(lines) == 1
    assert "no Docker engine answers (DockerException" in lines[0].getMessage()
    assert "extra" not in lines[0].getMessage()


def test_missing_docker_extra_falls_back(monkeypatch, caplog, reset_fallback_log):
    def missing():
        raise ImportError("No module named 'testcontainers'")

    monkeypatch.setattr(docker_module, "_container_class", missing)
    caplog.set_level(logging.WARNING, logger="naq.testing")
    with NatsServer(backend="docker", jetstream=False) as server:
        assert server.backend == "binary"
    assert "the [docker] extra is missing or too old (ImportError" in caplog.text
    assert "testcontainers>=4.15" in caplog.text
    assert "Docker engine" not in caplog.text


def test_too_old_testcontainers_is_named_as_such(monkeypatch, caplog, reset_fallback_log):
    """testcontainers < 4.15 has no testcontainers.community.nats: the real import fails."""
    import sys

    monkeypatch.setitem(sys.modules, "testcontainers.community.nats", None)  # import raises ImportError
    caplog.set_level(logging.WARNING, logger="naq.testing")
    with NatsServer(backend="docker", jetstream=False) as server:
        assert server.backend == "binary"
    assert "the [docker] extra is missing or too old" in caplog.text
    assert "testcontainers.community.nats" in caplog.text


def test_docker_py_missing_inside_testcontainers_is_the_extra(monkeypatch):
    class NeedsDockerPy:
        def __init__(self, **kwargs):
            raise ImportError("No module named 'docker'")

    monkeypatch.setattr(docker_module, "_container_class", lambda: NeedsDockerPy)
    with pytest.raises(docker_module.DockerUnavailable, match=r"\[docker\] extra is missing"):
        docker_module.DockerProcess("nats:2", 1, 2, []).create()


def test_the_floor_is_the_extras_floor():
    from pathlib import Path

    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert f'docker = ["testcontainers>={docker_module.TESTCONTAINERS_FLOOR}"]' in pyproject


def test_unavailable_errors_without_docker_package(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_docker(name, *args, **kwargs):
        if name.startswith("docker"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_docker)
    assert docker_module.docker_unavailable_errors() == ()


def test_other_container_errors_propagate(monkeypatch):
    class Exploding:
        def __init__(self, **kwargs):
            raise RuntimeError("image pull failed")

    monkeypatch.setattr(docker_module, "_container_class", lambda: Exploding)
    server = NatsServer(backend="docker")
    with pytest.raises(RuntimeError, match="image pull failed"):
        server.start()
    assert server.backend == "docker"
    assert server.log_path is None


def test_launch_creates_the_container_when_needed(fake_docker):
    from naq.testing._ports import free_port

    process = docker_module.DockerProcess("nats:x", free_port(), free_port(), ["-js", "-sd", "/data"])
    process.launch()
    try:
        assert process.alive()
        assert fake_docker.instances[0].image == "nats:x"
        assert process.host == "127.0.0.1"
    finally:
        process.terminate()
    assert not process.alive()
