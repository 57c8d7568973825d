"""The naq-connection CLI against a real nats-server: the installed console script and in-process main()."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from naq.connection.utils import cli

from .conftest import free_port

pytestmark = pytest.mark.integration


def command() -> list[str]:
    """The installed console script when present (a real install), else ``python -m``."""
    script = Path(sys.executable).with_name("naq-connection")
    if script.exists():
        return [str(script)]
    found = shutil.which("naq-connection")
    return [found] if found else [sys.executable, "-m", "naq.connection.utils.cli"]


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    clean["PYTHONUNBUFFERED"] = "1"
    return clean


def naq_connection(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), *args], capture_output=True, text=True, timeout=timeout, env=env(), check=False
    )


@pytest.fixture
def dead_url() -> str:
    return f"nats://127.0.0.1:{free_port()}"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAQ_NATS_URL", raising=False)
    monkeypatch.delenv("NAQ_CONFIG_FILE", raising=False)


# -- the console script ---------------------------------------------------------------------------
def test_script_check_healthy(nats_url: str) -> None:
    done = naq_connection("--url", nats_url, "check", "--jetstream")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"healthy: {nats_url} (JetStream ok)\n"


def test_script_check_unhealthy(dead_url: str) -> None:
    start = time.monotonic()
    done = naq_connection("--url", dead_url, "--timeout", "1", "check", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["healthy"] is False
    assert done.stderr.count("\n") == 1  # one log line saying why
    assert "Traceback" not in done.stderr
    assert time.monotonic() - start < 10


def test_script_url_from_environment(nats_url: str) -> None:
    done = subprocess.run(
        [*command(), "check"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**env(), "NAQ_NATS_URL": nats_url},
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_script_bad_url_exit_2() -> None:
    done = naq_connection("--url", "nats://bob:hunter2@host:notaport", "check")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("naq-connection: error: ")
    assert done.stderr.count("\n") == 1
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr


def test_script_usage_error_exit_2() -> None:
    done = naq_connection("frobnicate")
    assert done.returncode == 2
    assert "usage: naq-connection" in done.stderr


def test_script_info_and_bench_json(nats_url: str) -> None:
    info = naq_connection("--url", nats_url, "info", "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["jetstream"] is True
    bench = naq_connection("--url", nats_url, "bench", "-n", "2", "--json")
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["successes"] == 2


def test_script_wait_times_out(dead_url: str) -> None:
    done = naq_connection("--url", dead_url, "wait", "--timeout", "1", "--interval", "0.2")
    assert done.returncode == 1
    assert done.stdout.startswith("timed out:")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_script_ctrl_c_exits_130_quietly(dead_url: str) -> None:
    proc = subprocess.Popen(
        [*command(), "-vv", "--url", dead_url, "wait", "--timeout", "60", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until it is polling (past start-up and imports)
            ready, _, _ = select.select([proc.stderr], [], [], 1.0)
            if ready and "health check failed" in proc.stderr.readline():
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    assert out == ""


def test_script_version() -> None:
    done = naq_connection("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("naq-connection ")


# -- in-process main() (counts towards coverage) -----------------------------------------------------
def test_main_against_a_live_server(nats_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--url", nats_url, "check", "--jetstream"]) == 0
    assert cli.main(["--url", nats_url, "wait", "--timeout", "5"]) == 0
    assert cli.main(["--url", nats_url, "info"]) == 0
    assert cli.main(["--url", nats_url, "bench", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "JetStream ok" in out
    assert re.search(r"^JetStream\s+yes$", out, re.MULTILINE)
    assert "Success rate  100.0 %" in out


def test_main_against_a_dead_port(dead_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--url", dead_url, "--timeout", "1", "check"]) == 1
    assert cli.main(["--url", dead_url, "--timeout", "1", "info"]) == 1
    assert cli.main(["--url", dead_url, "--timeout", "1", "bench", "-n", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_main_check_without_jetstream(
    nats_server_factory: object, capsys: pytest.CaptureFixture[str]
) -> None:
    server = nats_server_factory(jetstream=False)  # type: ignore[operator]
    assert cli.main(["--url", server.url, "check", "--jetstream"]) == 1
    assert "JetStream unavailable" in capsys.readouterr().out
