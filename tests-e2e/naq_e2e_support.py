"""Helpers shared by the end-to-end suite: unique names, leak checks, fault listeners, secret scans.

Imported by the test modules as ``naq_e2e_support`` (conftest puts this folder on ``sys.path``;
the name is prefixed so it cannot shadow anything installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import psutil

# Generous bound for "the server sees the connection gone": a close is a TCP FIN the server
# processes almost at once, but the machine is shared.
CLIENTS_GONE_TIMEOUT = 5.0


def unique(prefix: str) -> str:
    """A name unique to one test: letters, digits, '_' and '-' only (valid for streams and buckets)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------------------------
# Server-side views (/varz, /connz through NatsServer)
# ---------------------------------------------------------------------------------------------


def varz(server: Any) -> dict[str, Any]:
    """The server's /varz (cumulative counters such as ``total_connections`` live here)."""
    return dict(server.varz())


def total_connections(server: Any) -> int:
    """Cumulative number of client connections the server has accepted since it started."""
    return int(varz(server)["total_connections"])


def client_count(server: Any) -> int:
    return int(server.client_count())


async def wait_for_clients(server: Any, expected: int = 0, timeout: float = CLIENTS_GONE_TIMEOUT) -> int:
    """Poll the server until it reports ``expected`` open client connections; return the last count."""
    deadline = time.monotonic() + timeout
    count = await asyncio.to_thread(client_count, server)
    while count != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        count = await asyncio.to_thread(client_count, server)
    return count


async def assert_no_clients(*servers: Any, timeout: float = CLIENTS_GONE_TIMEOUT) -> None:
    """Every server reports zero open client connections (the /connz leak check)."""
    for server in servers:
        count = await wait_for_clients(server, 0, timeout)
        if count:
            conns = await asyncio.to_thread(server.connz)
            raise AssertionError(f"{count} client connection(s) still open on {server.url}: {conns}")


# ---------------------------------------------------------------------------------------------
# Process-side baselines: file descriptors and asyncio tasks
# ---------------------------------------------------------------------------------------------


def open_fds() -> int:
    return int(psutil.Process().num_fds())


def _other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


@dataclass
class Baseline:
    """File descriptors and asyncio tasks at one moment, to compare against later."""

    fds: int
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    def take(cls) -> Baseline:
        gc.collect()
        return cls(fds=open_fds(), tasks=_other_tasks())

    async def assert_restored(self, *servers: Any, timeout: float = CLIENTS_GONE_TIMEOUT) -> None:
        """Servers report no clients, fds and tasks are back to this baseline (polled, bounded)."""
        await assert_no_clients(*servers, timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            gc.collect()
            extra_tasks = _other_tasks() - self.tasks
            fds = open_fds()
            if (not extra_tasks and fds <= self.fds) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert not extra_tasks, f"{len(extra_tasks)} asyncio task(s) left behind: {_describe(extra_tasks)}"
        assert fds <= self.fds, f"file descriptors grew from {self.fds} to {fds}: {_fd_targets()}"


def _describe(tasks: Iterable[asyncio.Task[Any]]) -> list[str]:
    return sorted(f"{t.get_name()}:{t.get_coro()!r}" for t in tasks)[:10]


def _fd_targets() -> list[str]:
    out = []
    with contextlib.suppress(OSError):
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                out.append(os.readlink(f"/proc/self/fd/{fd}"))
    return sorted(out)


def rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


# ---------------------------------------------------------------------------------------------
# A TCP listener that accepts and never speaks (cancel / time out during connect)
# ---------------------------------------------------------------------------------------------


class SilentListener:
    """Accepts TCP connections on 127.0.0.1 and never sends NATS INFO: a connect hangs on it.

    Every accepted socket is held until the client goes away or the listener closes, so a
    client that forgets its socket shows up as an fd leak, not as a connection we dropped.
    """

    def __init__(self) -> None:
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        try:
            while await reader.read(4096):  # drain until the client closes (EOF)
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def open_connections(self) -> int:
        """Accepted sockets the client side has not closed yet (after a moment to see EOF)."""
        await asyncio.sleep(0.05)
        return len(self._writers)

    async def __aenter__(self) -> SilentListener:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def silent_listener() -> AsyncIterator[SilentListener]:
    async with SilentListener() as listener:
        yield listener


# ---------------------------------------------------------------------------------------------
# Secret scanning
# ---------------------------------------------------------------------------------------------


class CaptureHandler(logging.Handler):
    """Keeps every formatted log record (message, args, exception text) at any level."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.texts.append(self.format(record))
            self.texts.append(repr(record.args))
        except Exception as exc:  # a record that cannot format is itself worth seeing
            self.texts.append(f"<unformattable record {record.msg!r}: {exc!r}>")


@contextlib.contextmanager
def capture_all_logs() -> Iterable[CaptureHandler]:  # type: ignore[misc]
    """Root logger at DEBUG with a capturing handler, restored afterwards."""
    root = logging.getLogger()
    handler = CaptureHandler()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # naq loggers may have their own level set by a package; make sure DEBUG reaches us.
    touched = []
    for name in ("naq", "naq.connection", "naq.testing", "nats"):
        lg = logging.getLogger(name)
        touched.append((lg, lg.level, lg.disabled))
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for lg, level, disabled in touched:
            lg.setLevel(level)
            lg.disabled = disabled


def exception_texts(exc: BaseException) -> list[str]:
    """str and repr of an exception and everything chained to it."""
    out: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(f"{type(cur).__name__}: {cur}")
        out.append(repr(cur))
        out.extend(str(a) for a in getattr(cur, "args", ()))
        cur = cur.__cause__ or cur.__context__
    return out


def find_secrets(texts: Iterable[str], secrets: Iterable[str]) -> list[tuple[str, str]]:
    """(secret, text excerpt) for every text that contains a secret."""
    hits = []
    secrets = [s for s in secrets if s]
    for text in texts:
        for secret in secrets:
            idx = text.find(secret)
            if idx >= 0:
                excerpt = text[max(0, idx - 60) : idx + len(secret) + 20].replace(secret, "<SECRET>")
                hits.append((secret[:4] + "...", excerpt))
    return hits


# ---------------------------------------------------------------------------------------------
# Bounded waits: a hang must fail the test quickly, never wait for pytest-timeout
# ---------------------------------------------------------------------------------------------

HANG_MARGIN = 5.0


async def bounded(coro: Any, limit: float) -> tuple[Any, BaseException | None, float]:
    """Run ``coro`` under ``wait_for(limit + HANG_MARGIN)``; return (result, exception, elapsed).

    Asserts it finished within ``limit`` and that it was not the outer ``wait_for`` that stopped it
    (that would be a hang, reported as such).
    """
    start = time.monotonic()
    result: Any = None
    error: BaseException | None = None
    hung = False
    try:
        result = await asyncio.wait_for(coro, limit + HANG_MARGIN)
    except asyncio.TimeoutError as exc:
        hung = time.monotonic() - start >= limit + HANG_MARGIN - 0.05
        error = exc
    except Exception as exc:
        error = exc
    elapsed = time.monotonic() - start
    assert not hung, f"hung: still running {limit + HANG_MARGIN:.1f}s later (limit {limit:.1f}s)"
    assert elapsed < limit, f"took {elapsed:.2f}s, limit {limit:.2f}s ({error!r})"
    return result, error, elapsed
