"""The README's main job, tools/demo.py: a full run prints the report; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

DEMO = Path(__file__).resolve().parent.parent / "tools" / "demo.py"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NAQ_NATS_URL", None)  # the demo must start its own embedded server
    env["PYTHONUNBUFFERED"] = "1"
    return env


def nats_servers_of(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if "nats-server" in c.name()]


def test_demo_runs_the_whole_flow_and_reports() -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO), "--jobs", "30"],
        capture_output=True,
        text=True,
        timeout=120,
        env=demo_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for expected in (
        "healthy: True",
        "enqueued: 30/30",
        "processed: 30/30",
        "holds the status of 30 jobs",
        "faster than connecting per call",
        "connections started",
        "enqueue calls started     30",
        "naq_nats_connections_total",
        "demo finished",
    ):
        assert expected in out, f"{expected!r} missing from the demo output:\n{out}"
    assert "Traceback" not in result.stderr


def test_ctrl_c_exits_130_and_stops_the_embedded_server() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(DEMO), "--jobs", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=demo_env(),
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # wait until jobs are flowing, with the server running
            if "2. producer" in line:
                break
            assert time.monotonic() < deadline, "the demo never reached the producer step"
        time.sleep(0.5)
        servers = nats_servers_of(proc.pid)
        assert servers, "the demo should be running an embedded nats-server"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    _, alive = psutil.wait_procs(servers, timeout=10)
    assert not alive, f"nats-server left running after Ctrl-C: {alive}"
