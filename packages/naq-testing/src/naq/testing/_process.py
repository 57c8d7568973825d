"""One nats-server OS process: launch with output to a log file, signal, terminate-then-kill.

Output goes to a file, never to a pipe nobody reads (a full pipe blocks the server). Every live
process is tracked so an interpreter exit kills whatever a crashed test left behind.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import IO

import psutil

__all__ = ["BinaryProcess", "kill_all"]

_LIVE: set[BinaryProcess] = set()
_ERROR_LINE = re.compile(r"\[(ERR|FTL)\]|flag provided but not defined|^nats-server: ")
_LOCK = threading.Lock()


class BinaryProcess:
    """A restartable handle on ``argv`` run as a child process, logging to ``log_path``."""

    def __init__(self, argv: Sequence[str], log_path: str) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.paused = False

    # -- lifecycle -----------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the process (appending to the log file, so a restart keeps the history)."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap()
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        except OSError:
            self._close_log()
            raise
        self.paused = False
        with _LOCK:
            _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def send(self, sig: int) -> None:
        """Send ``sig`` if the process still runs (a no-op on an exited process)."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def pause(self) -> None:
        """SIGSTOP, then wait (bounded) until the kernel reports the process stopped."""
        self.send(signal.SIGSTOP)
        self.paused = True
        self._wait_state(stopped=True)

    def resume(self) -> None:
        """SIGCONT, then wait (bounded) until the process runs again."""
        self.send(signal.SIGCONT)
        self.paused = False
        self._wait_state(stopped=False)

    def _wait_state(self, stopped: bool, timeout: float = 5.0) -> None:
        # Signal delivery is asynchronous: without this, a test right after pause() can still
        # be answered by the server.
        if self.proc is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status = psutil.Process(self.proc.pid).status()
            except psutil.Error:
                return
            if (status == psutil.STATUS_STOPPED) == stopped:
                return
            time.sleep(0.005)

    def terminate(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; always reaps the child (no zombie)."""
        if self.proc is None:
            return
        if self.paused:
            self.resume()  # a stopped process cannot act on SIGTERM
        self.send(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._reap()

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is None:
            return
        self.send(signal.SIGKILL)
        self.proc.wait(10)
        self._reap()

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the process to exit on its own; True if it did (and was reaped)."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        self._reap()
        return True

    def _reap(self) -> None:
        self.paused = False
        self._close_log()
        with _LOCK:
            _LIVE.discard(self)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines of the log, preceded by earlier error lines (a bad flag is
        reported on the first line, before a long usage text)."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 64 * 1024))
                all_lines = fh.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        tail = all_lines[-lines:]
        earlier = [line for line in all_lines[:-lines] if _ERROR_LINE.search(line)][-5:]
        return "\n".join([*earlier, "..."] if earlier else []) + ("\n" if earlier else "") + "\n".join(tail)


def kill_all() -> None:
    """Kill every process this module started that still runs (registered with ``atexit``)."""
    with _LOCK:
        live = list(_LIVE)
    for process in live:
        try:
            process.kill()
        except Exception:  # noqa: S112 - best effort at interpreter exit
            continue


atexit.register(kill_all)
