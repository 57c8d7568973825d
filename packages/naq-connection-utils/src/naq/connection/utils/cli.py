"""The ``naq-connection`` command: check, wait for, inspect and benchmark a NATS server.

Exit codes: 0 success, 1 the check failed (unhealthy, timed out, could not connect), 2 usage error
(bad arguments, bad URL or configuration), 130 interrupted (Ctrl-C).

The global options (``--url``, ``--timeout``, ``--json``, ``-v``/``-q``) are accepted before or after
the subcommand. ``--timeout`` has one meaning: how long the command may wait for NATS (``check`` and
``info``: the whole check; ``wait``: all attempts together; ``bench``: each connection). With
``--json`` every outcome is one JSON document on stdout, failures included (``"error"`` says why).

Subcommands are :class:`Command` objects in a registry: another module adds one with
:func:`register_command` (before :func:`main` builds the parser) and it shows up in ``--help`` and
dispatch like the built-in ones.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from naq.connection import utils as _utils
from naq.connection.config import NatsConfig, redact, resolve_nats_config
from naq.connection.errors import NaqConnectionError
from naq.connection.utils import _format

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliContext",
    "Command",
    "build_parser",
    "main",
    "register_command",
]

PROG = "naq-connection"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class CliContext:
    """What a command runs with: the resolved config (credentials inside, never print it) and options."""

    config: NatsConfig
    args: argparse.Namespace
    timeout: float
    json: bool
    quiet: bool
    errors: list[str] = dataclasses.field(default_factory=list)
    """ERROR lines logged while the command ran (what ``--json`` reports as ``"error"``)."""

    @property
    def out(self) -> TextIO:
        """Where results go (looked up at use so captured output works)."""
        return sys.stdout

    def servers(self) -> str:
        """The servers, credentials redacted, for messages."""
        return ", ".join(self.config.redacted_servers())

    def emit_json(self, data: dict[str, Any]) -> None:
        """Print ``data`` as one JSON document."""
        print(json.dumps(data, indent=2, default=str), file=self.out)

    def say(self, text: str) -> None:
        """Print a human-readable line unless ``--quiet``."""
        if not self.quiet:
            print(text, file=self.out)

    def last_error(self) -> str | None:
        """The last ERROR line logged while the command ran (None when there was none)."""
        return self.errors[-1] if self.errors else None

    def on_terminal(self) -> bool:
        """Whether progress can be drawn: stdout is a terminal and neither ``--json`` nor ``--quiet``."""
        return not self.json and not self.quiet and self.out.isatty()


@dataclass(frozen=True)
class Command:
    """A subcommand: ``configure`` adds its arguments, ``run`` does the work and returns the exit code."""

    name: str
    help: str
    run: Callable[[CliContext], Coroutine[Any, Any, int]]
    configure: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    description: str | None = None


_COMMANDS: dict[str, Command] = {}


def register_command(command: Command) -> Command:
    """Add ``command`` to the CLI (a name already taken is a ``ValueError``)."""
    if command.name in _COMMANDS and _COMMANDS[command.name] is not command:
        raise ValueError(f"a naq-connection command named {command.name!r} is already registered")
    _COMMANDS[command.name] = command
    return command


# -- argument types ---------------------------------------------------------------------------
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return value


# -- built-in commands ------------------------------------------------------------------------
async def _run_check(ctx: CliContext) -> int:
    healthy = await _utils.test_nats_connection(ctx.config, timeout=ctx.timeout)
    jetstream: bool | None = None
    if healthy and ctx.args.jetstream:
        jetstream = await _utils.test_jetstream_connection(ctx.config, timeout=ctx.timeout)
    ok = healthy and jetstream is not False
    if ctx.json:
        data: dict[str, Any] = {
            "healthy": ok,
            "nats": healthy,
            "jetstream": jetstream,
            "servers": ctx.servers(),
        }
        if not ok:
            data["error"] = ctx.last_error()
        ctx.emit_json(data)
    else:
        status = "healthy" if ok else "unhealthy"
        detail = ""
        if ctx.args.jetstream:
            detail = " (JetStream ok)" if jetstream else " (JetStream unavailable)" if healthy else ""
        ctx.say(f"{status}: {ctx.servers()}{detail}")
    return EXIT_OK if ok else EXIT_FAILURE


def _configure_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jetstream", action="store_true", help="also require JetStream to answer")


DEFAULT_WAIT = 30.0
"""``wait``'s ``--timeout`` when none is given (the other commands default to 5 s)."""


async def _run_wait(ctx: CliContext) -> int:
    loop = asyncio.get_running_loop()
    started = loop.time()
    progress = _format.WaitProgress(ctx.out, ctx.servers(), ctx.timeout) if ctx.on_terminal() else None
    try:
        ready = await _utils.wait_for_nats_connection(
            ctx.config, timeout=ctx.timeout, interval=ctx.args.interval, progress=progress
        )
    finally:
        if progress is not None:
            progress.clear()
    waited = loop.time() - started
    if ctx.json:
        data: dict[str, Any] = {"ready": ready, "waited": round(waited, 3), "servers": ctx.servers()}
        if not ready:
            data["error"] = ctx.last_error()
        ctx.emit_json(data)
    elif ready:
        ctx.say(f"ready: {ctx.servers()} answered after {waited:.1f} s")
    else:
        ctx.say(f"timed out: {ctx.servers()} did not answer within {ctx.timeout:g} s")
    return EXIT_OK if ready else EXIT_FAILURE


def _configure_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="pause between attempts (default: 1)",
    )


async def _run_info(ctx: CliContext) -> int:
    info = await _utils.get_nats_server_info(ctx.config, timeout=ctx.timeout)
    if ctx.json:
        ctx.emit_json(info)
    else:
        ctx.say(_format.info_table(info))
    return EXIT_OK


async def _run_bench(ctx: CliContext) -> int:
    progress = _format.Progress(ctx.out) if ctx.on_terminal() else None
    bench = _utils.ConnectionBenchmark(ctx.config, ctx.args.iterations)
    try:
        result = await bench.run(progress)
    except asyncio.CancelledError:  # Ctrl-C: show what was measured, then exit 130
        if progress is not None:
            progress.clear()
        _show_bench(ctx, bench.summary(), interrupted=True)
        raise
    if progress is not None:
        progress.clear()
    _show_bench(ctx, result, interrupted=False)
    return EXIT_OK if result["failures"] == 0 else EXIT_FAILURE


def _show_bench(ctx: CliContext, result: dict[str, Any], *, interrupted: bool) -> None:
    if ctx.json:
        data = dict(result, interrupted=interrupted)
        if not result["successes"]:  # no timings to report: null, not zero
            for key in ("average_time", "min_time", "max_time", "p50", "p95", "p99"):
                data[key] = None
            data["error"] = "no successful connections" + (
                f"; last error: {result['last_error']}" if result["last_error"] else ""
            )
        ctx.emit_json(data)
    else:
        ctx.say(_format.bench_table(result, ctx.servers(), interrupted=interrupted))


def _configure_bench(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--iterations",
        "-n",
        type=_positive_int,
        default=10,
        metavar="N",
        help="connections to open and close (default: 10)",
    )


for _command in (
    Command(
        "check",
        "exit 0 when NATS answers a round trip, 1 when not",
        _run_check,
        _configure_check,
        "Connect, flush and do a real round trip. Exit 0 when healthy, 1 when not.",
    ),
    Command(
        "wait",
        "wait until NATS answers (for entrypoints and CI)",
        _run_wait,
        _configure_wait,
        "Poll until NATS answers; exit 0 as soon as it does, 1 on timeout.",
    ),
    Command("info", "show what the server reports about itself", _run_info),
    Command(
        "bench",
        "measure connection time",
        _run_bench,
        _configure_bench,
        "Open and close N connections one after another and summarise the connect times.",
    ),
):
    register_command(_command)


# -- parser and main --------------------------------------------------------------------------
def _version() -> str:
    try:
        from importlib.metadata import version

        return version("naq-connection-utils")
    except Exception:  # not installed as a distribution (source checkout)
        return _utils.__version__


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options accepted before and after the subcommand. After it they default to SUPPRESS, so a
    value given before the subcommand is kept unless it is given again after it."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--url",
        metavar="URL",
        default=default(None),
        help="NATS server URL, or several comma-separated (default: NAQ_NATS_URL / the naq config)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=default(None),
        metavar="SECONDS",
        help="how long to wait for NATS: the whole check (default: 5); for wait all attempts "
        f"(default: {DEFAULT_WAIT:g}); for bench each connection (default: 5)",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print the result as JSON, failures too"
    )
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="count", default=default(0), help="log more (-vv for debug)")
    noise.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="print nothing; use the exit code"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check, wait for, inspect and benchmark a NATS server.",
        epilog="exit codes: 0 ok, 1 check failed or timed out, 2 usage or configuration error, "
        "130 interrupted. The server comes from --url, else NAQ_NATS_URL / the naq config. "
        "Options may come before or after the command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS.values():
        sp = sub.add_parser(command.name, help=command.help, description=command.description or command.help)
        _add_global_options(sp, top=False)
        command.configure(sp)
    return parser


class _LogFormatter(logging.Formatter):
    """``-v`` lines: time, level, logger name, message -- without the name when the message already
    starts with it (core's messages begin with ``naq.connection:``)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        source = "" if message.startswith(f"{record.name}:") else f"{record.name}: "
        return f"{self.formatTime(record)} {record.levelname} {source}{message}"


class _ErrorCollector(logging.Handler):
    """Keeps the ERROR lines a command logs, for ``--json``'s ``"error"``."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        self._into.append(_one_line_text(record.getMessage()))


def _configure_logging(verbose: int, quiet: bool) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    if verbose:
        handler.setFormatter(_LogFormatter())
    else:
        handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    if quiet:
        level = logging.CRITICAL + 1
    elif verbose:
        level = logging.DEBUG if verbose > 1 else logging.INFO
    else:
        level = logging.ERROR
    handler.setLevel(level)
    return handler


def _one_line_text(text: str) -> str:
    return " ".join(redact(text).split())


def _one_line(exc: BaseException) -> str:
    """The error as one line, secrets masked (core redacts too; this is a second line of defence)."""
    return _one_line_text(str(exc)) or type(exc).__name__


def _timeout(args: argparse.Namespace) -> float:
    if args.timeout is not None:
        return float(args.timeout)
    return DEFAULT_WAIT if args.command == "wait" else 5.0


def _resolve(args: argparse.Namespace, timeout: float) -> NatsConfig:
    config = resolve_nats_config(args.url)
    if args.command != "wait" and config.connection_timeout > timeout:
        config = dataclasses.replace(config, connection_timeout=timeout)
    elif args.command == "wait":  # each attempt is bounded by wait_for_nats_connection
        config = dataclasses.replace(config, connection_timeout=min(config.connection_timeout, timeout))
    return config


def _fail(args: argparse.Namespace, message: str) -> None:
    """Report a failure: one JSON document with ``--json``, else one line on stderr (unless -q)."""
    if args.json:
        print(json.dumps({"ok": False, "command": args.command, "error": message}, indent=2))
    elif not args.quiet:
        print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        return _main(argv)
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C anywhere: no traceback, 128 + SIGINT
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    timeout = _timeout(args)
    try:
        config = _resolve(args, timeout)
    except ValueError as exc:  # NaqConfigError is a ValueError
        _fail(args, _one_line(exc))
        return EXIT_USAGE
    ctx = CliContext(config=config, args=args, timeout=timeout, json=args.json, quiet=args.quiet)
    handler = _configure_logging(args.verbose, args.quiet)
    collector = _ErrorCollector(ctx.errors)
    naq_logger = logging.getLogger("naq")
    previous_level = naq_logger.level
    naq_logger.addHandler(handler)
    naq_logger.addHandler(collector)
    naq_logger.setLevel(min(handler.level, logging.ERROR))
    try:
        return asyncio.run(_COMMANDS[args.command].run(ctx))
    except NaqConnectionError as exc:
        _fail(args, _one_line(exc))
        return EXIT_FAILURE
    finally:
        naq_logger.removeHandler(handler)
        naq_logger.removeHandler(collector)
        naq_logger.setLevel(previous_level)


if __name__ == "__main__":  # pragma: no cover - python -m naq.connection.utils.cli
    sys.exit(main())
