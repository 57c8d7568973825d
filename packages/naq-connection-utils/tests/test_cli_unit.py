"""The naq-connection CLI in-process (``main([...])``) with the health functions mocked."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import re
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest

from naq.connection import utils
from naq.connection.errors import NaqConnectionError
from naq.connection.utils import cli

from .conftest import fake_context_manager

pytestmark = pytest.mark.unit

URL = "nats://127.0.0.1:4999"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAQ_NATS_URL", raising=False)
    monkeypatch.delenv("NAQ_CONFIG_FILE", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def mock(monkeypatch: pytest.MonkeyPatch, name: str, **kwargs: Any) -> AsyncMock:
    fn = AsyncMock(**kwargs)
    monkeypatch.setattr(utils, name, fn)
    return fn


# -- check ---------------------------------------------------------------------------------------
def test_check_healthy(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    probe = mock(monkeypatch, "test_nats_connection", return_value=True)
    code, out, err = run(capsys, "--url", URL, "--timeout", "2", "check")
    assert code == 0
    assert out == f"healthy: {URL}\n"
    assert err == ""
    (config,) = probe.await_args.args
    assert config.servers == (URL,)
    assert config.connection_timeout == 2.0  # --timeout also bounds the connect
    assert probe.await_args.kwargs == {"timeout": 2.0}


def test_check_unhealthy(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mock(monkeypatch, "test_nats_connection", return_value=False)
    js = mock(monkeypatch, "test_jetstream_connection", return_value=True)
    code, out, _ = run(capsys, "--url", URL, "check", "--jetstream")
    assert code == 1
    assert out == f"unhealthy: {URL}\n"
    js.assert_not_awaited()  # no point asking JetStream when NATS is down


@pytest.mark.parametrize(
    ("js_ok", "code", "suffix"), [(True, 0, "(JetStream ok)"), (False, 1, "(JetStream unavailable)")]
)
def test_check_jetstream(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], js_ok: bool, code: int, suffix: str
) -> None:
    mock(monkeypatch, "test_nats_connection", return_value=True)
    mock(monkeypatch, "test_jetstream_connection", return_value=js_ok)
    got, out, _ = run(capsys, "--url", URL, "check", "--jetstream")
    assert got == code
    assert out.strip().endswith(suffix)
    assert out.startswith("healthy" if js_ok else "unhealthy")


def test_check_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mock(monkeypatch, "test_nats_connection", return_value=True)
    mock(monkeypatch, "test_jetstream_connection", return_value=False)
    code, out, _ = run(capsys, "--url", "nats://bob:pw@127.0.0.1:4999", "check", "--jetstream", "--json")
    assert code == 1
    assert json.loads(out) == {
        "healthy": False,
        "nats": True,
        "jetstream": False,
        "servers": "nats://bob:***@127.0.0.1:4999",
        "error": None,  # nothing was logged by the mocked checks
    }


def test_quiet_prints_nothing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mock(monkeypatch, "test_nats_connection", return_value=False)
    assert run(capsys, "-q", "--url", URL, "check") == (1, "", "")


def test_log_lines_reach_stderr_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(config: Any, timeout: float) -> bool:
        utils.logger.error("NATS health check failed: refused")
        utils.logger.info("not shown without -v")
        return False

    monkeypatch.setattr(utils, "test_nats_connection", failing)
    code, _, err = run(capsys, "--url", URL, "check")
    assert code == 1
    assert err == "naq-connection: NATS health check failed: refused\n"
    code, _, err = run(capsys, "-v", "--url", URL, "check")
    assert "INFO naq.connection.utils: not shown without -v" in err
    assert logging.getLogger("naq").handlers == []  # main() cleans up after itself


# -- wait ----------------------------------------------------------------------------------------
def test_wait_ready(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    wait = mock(monkeypatch, "wait_for_nats_connection", return_value=True)
    code, out, _ = run(capsys, "--url", URL, "wait", "--timeout", "12", "--interval", "0.5")
    assert code == 0
    assert out.startswith(f"ready: {URL} answered after ")
    assert wait.await_args.kwargs == {"timeout": 12.0, "interval": 0.5, "progress": None}


def test_wait_timeout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mock(monkeypatch, "wait_for_nats_connection", return_value=False)
    code, out, _ = run(capsys, "--url", URL, "wait", "--timeout", "3")
    assert code == 1
    assert out == f"timed out: {URL} did not answer within 3 s\n"
    code, out, _ = run(capsys, "--url", URL, "wait", "--json")
    assert code == 1
    assert json.loads(out)["ready"] is False


def test_wait_defaults(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    wait = mock(monkeypatch, "wait_for_nats_connection", return_value=True)
    assert run(capsys, "--url", URL, "wait")[0] == 0
    assert wait.await_args.kwargs == {"timeout": 30.0, "interval": 1.0, "progress": None}


# -- info ----------------------------------------------------------------------------------------
INFO = {
    "server_name": "n1",
    "server_id": "NABC",
    "version": "2.15.0",
    "go": "go1.24",
    "proto": 1,
    "jetstream": True,
    "max_payload": 1048576,
    "headers": True,
    "cluster": None,
    "client_id": 5,
    "rtt": 0.00042,
    "connected_url": URL,
}


def test_info_table(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mock(monkeypatch, "get_nats_server_info", return_value=INFO)
    code, out, _ = run(capsys, "--url", URL, "info")
    assert code == 0
    lines = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines())
    assert len(lines) == 12
    assert lines["Server name"] == "n1"
    assert lines["JetStream"] == "yes"
    assert lines["Max payload"] == "1048576 bytes (1 MiB)"
    assert lines["Cluster"] == "-"
    assert lines["RTT"] == "0.420 ms"
    assert lines["Connected URL"] == URL


def test_info_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mock(monkeypatch, "get_nats_server_info", return_value=INFO)
    code, out, _ = run(capsys, "--url", URL, "info", "--json")
    assert code == 0
    assert json.loads(out) == INFO


def test_info_unreachable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mock(
        monkeypatch, "get_nats_server_info", side_effect=NaqConnectionError("cannot connect\n to nats://x:1")
    )
    code, out, err = run(capsys, "--url", URL, "info")
    assert (code, out) == (1, "")  # without --json: one line on stderr
    assert err == "naq-connection: error: cannot connect to nats://x:1\n"
    assert run(capsys, "-q", "--url", URL, "info") == (1, "", "")


# -- bench (connections through the patched naq.connection.utils.nats_connection) -----------------
def connections(monkeypatch: pytest.MonkeyPatch, *outcomes: BaseException | None) -> MagicMock:
    """``nats_connection`` patched: each call succeeds (None) or raises the given error on enter;
    after the listed outcomes every call succeeds."""
    results = iter(outcomes)

    def factory(*args: Any) -> Any:
        error = next(results, None)
        return fake_context_manager(MagicMock(name="nc"), enter_error=error)

    patched = MagicMock(side_effect=factory)
    monkeypatch.setattr(utils, "nats_connection", patched)
    return patched


def test_bench_table(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    made = connections(monkeypatch)
    code, out, _ = run(capsys, "--url", URL, "bench", "-n", "3")
    assert code == 0
    assert made.call_count == 3
    assert "Iterations    3 of 3\n" in out
    assert "Success rate  100.0 %" in out
    assert re.search(r"p95 +\d+\.\d{3} ms", out)
    assert "\r" not in out  # captured stdout is not a terminal: no progress
    assert "Last error" not in out


def test_bench_failures_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    connections(monkeypatch, None, OSError("refused"))
    code, out, _ = run(capsys, "--url", URL, "bench", "--iterations", "3")
    assert code == 1
    assert "Last error    OSError: refused" in out
    connections(monkeypatch, OSError("refused"))
    code, out, _ = run(capsys, "--url", URL, "bench", "--json")
    assert json.loads(out)["failures"] == 1


def test_bench_with_no_successful_connection_shows_no_timings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connections(monkeypatch, OSError("refused"), OSError("refused"))
    code, out, _ = run(capsys, "--url", URL, "bench", "-n", "2")
    assert code == 1
    assert "Timings     no successful connections" in out
    assert " ms" not in out  # no "0.000 ms" timings
    connections(monkeypatch, OSError("refused"), OSError("refused"))
    code, out, _ = run(capsys, "--url", URL, "bench", "-n", "2", "--json")
    data = json.loads(out)
    assert (data["successes"], data["p95"], data["average_time"]) == (0, None, None)
    assert data["error"] == "no successful connections; last error: OSError: refused"


def test_bench_ctrl_c_prints_the_partial_results(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = 0

    def factory(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        cm = fake_context_manager(MagicMock(name="nc"))
        if calls == 3:  # Ctrl-C arrives as a cancellation of the running command

            async def cancel(*_: Any) -> None:
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
                await asyncio.sleep(0)

            cm.__aenter__ = AsyncMock(side_effect=cancel)
        return cm

    monkeypatch.setattr(utils, "nats_connection", MagicMock(side_effect=factory))
    code, out, _ = run(capsys, "--url", URL, "bench", "-n", "10")
    assert code == 130
    assert "Iterations    2 of 10 (interrupted)" in out
    assert "Succeeded     2" in out
    calls = 0
    code, out, _ = run(capsys, "--url", URL, "bench", "-n", "10", "--json")
    assert code == 130
    assert json.loads(out)["interrupted"] is True


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bench_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    connections(monkeypatch)
    tty = Tty()
    monkeypatch.setattr("sys.stdout", tty)
    assert cli.main(["--url", URL, "bench", "-n", "4"]) == 0
    text = tty.getvalue()
    assert "\r[##############################] 4/4" in text
    assert "\r[#######.......................] 1/4" in text
    summary = text.rsplit("\r", 1)[1]
    assert summary.startswith("Server        " + URL)


# -- options as typed --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["--url", URL, "--timeout", "2", "--json", "check"],
        ["check", "--url", URL, "--timeout", "2", "--json"],
        ["--json", "check", "--url", URL, "--timeout", "2"],
        ["--url", "nats://other:1", "check", "--url", URL, "--timeout", "2", "--json"],  # the later wins
    ],
)
def test_global_options_before_or_after_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    probe = mock(monkeypatch, "test_nats_connection", return_value=True)
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert json.loads(out)["servers"] == URL
    assert probe.await_args.kwargs == {"timeout": 2.0}


def test_timeout_before_wait_is_the_total_wait(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wait = mock(monkeypatch, "wait_for_nats_connection", return_value=False)
    code, out, _ = run(capsys, "--url", URL, "--timeout", "2", "wait")
    assert code == 1
    assert wait.await_args.kwargs["timeout"] == 2.0
    assert out == f"timed out: {URL} did not answer within 2 s\n"


def test_json_on_failure_carries_the_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mock(monkeypatch, "get_nats_server_info", side_effect=NaqConnectionError("cannot connect to nats://x:1"))
    code, out, _ = run(capsys, "--url", URL, "info", "--json")
    assert code == 1
    assert json.loads(out) == {"ok": False, "command": "info", "error": "cannot connect to nats://x:1"}
    code, out, _ = run(capsys, "--json", "--url", "nats://u:hunter2@h:99999", "check")
    assert code == 2
    data = json.loads(out)
    assert data["error"].startswith("invalid servers")
    assert "hunter2" not in out

    async def failing(config: Any, timeout: float) -> bool:
        utils.logger.error("NATS health check failed: refused")
        return False

    monkeypatch.setattr(utils, "test_nats_connection", failing)
    code, out, _ = run(capsys, "--url", URL, "check", "--json")
    assert json.loads(out)["error"] == "NATS health check failed: refused"


def test_wait_progress_on_a_terminal_and_one_line_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow_wait(config: Any, timeout: float, interval: float, progress: Any) -> bool:
        progress(1, 1.0)
        progress(2, 2.0)
        return True

    monkeypatch.setattr(utils, "wait_for_nats_connection", slow_wait)
    tty = Tty()
    monkeypatch.setattr("sys.stdout", tty)
    assert cli.main(["--url", URL, "wait"]) == 0
    text = tty.getvalue()
    assert f"\rwaiting for {URL}: attempt 2, 2.0 of 30 s" in text
    assert text.rsplit("\r", 1)[1].startswith(f"ready: {URL} answered after ")
    plain = io.StringIO()
    monkeypatch.setattr("sys.stdout", plain)

    async def quiet_wait(config: Any, timeout: float, interval: float, progress: Any) -> bool:
        assert progress is None
        return True

    monkeypatch.setattr(utils, "wait_for_nats_connection", quiet_wait)
    assert cli.main(["--url", URL, "wait"]) == 0
    assert plain.getvalue().count("\n") == 1


def test_debug_lines_do_not_repeat_the_logger_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def chatty(config: Any, timeout: float) -> bool:
        logging.getLogger("naq.connection").debug("naq.connection: connection 1 (nats://h:1): connecting")
        utils.logger.debug("probe sent")
        return True

    monkeypatch.setattr(utils, "test_nats_connection", chatty)
    code, _, err = run(capsys, "-vv", "--url", URL, "check")
    assert code == 0
    assert "DEBUG naq.connection: connection 1" in err
    assert "naq.connection: naq.connection:" not in err
    assert "DEBUG naq.connection.utils: probe sent" in err


# -- errors, usage, interrupts -------------------------------------------------------------------
@pytest.mark.parametrize("url", ["ftp://x", "nats://h:notaport", "not a url", "nats://u:hunter2@h:99999"])
def test_bad_url_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "--url", url, "check")
    assert code == 2
    assert out == ""
    assert err.startswith("naq-connection: error: invalid servers")
    assert err.count("\n") == 1
    assert "hunter2" not in err
    assert "Traceback" not in err


def test_bad_env_url_is_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from naq.connection.config import reset_config

    monkeypatch.setenv("NAQ_NATS_URL", "ftp://nowhere")
    reset_config()
    try:
        code, _, err = run(capsys, "check")
    finally:
        monkeypatch.delenv("NAQ_NATS_URL")
        reset_config()
    assert code == 2
    assert "NAQ_NATS_URL" in err or "ftp" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["--timeout", "0", "check"],
        ["--timeout", "abc", "check"],
        ["bench", "--iterations", "0"],
        ["bench", "--iterations", "x"],
        ["wait", "--interval", "-1"],
        ["-v", "-q", "check"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage: naq-connection" in capsys.readouterr().err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"naq-connection {cli._version()}"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for word in ("check", "wait", "info", "bench", "exit codes", "--url", "--timeout"):
        assert word in text


def test_version_without_distribution_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert cli._version() == utils.__version__


def test_ctrl_c_before_the_command_runs_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(url: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "resolve_nats_config", interrupted)
    assert run(capsys, "--url", URL, "check") == (130, "", "")


def test_ctrl_c_exits_130_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mock(monkeypatch, "wait_for_nats_connection", side_effect=KeyboardInterrupt)
    assert run(capsys, "--url", URL, "wait") == (130, "", "")


def test_register_command_adds_a_subcommand(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_COMMANDS", dict(cli._COMMANDS))

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--shout", action="store_true")

    async def hello(ctx: cli.CliContext) -> int:
        await asyncio.sleep(0)
        ctx.say("HELLO" if ctx.args.shout else "hello")
        return 3

    command = cli.register_command(cli.Command("hello", "say hello", hello, configure))
    assert cli.register_command(command) is command  # same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        cli.register_command(cli.Command("hello", "other", hello))
    assert run(capsys, "--url", URL, "hello", "--shout") == (3, "HELLO\n", "")
    assert "say hello" in cli.build_parser().format_help()
