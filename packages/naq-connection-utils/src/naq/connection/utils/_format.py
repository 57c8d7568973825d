"""Plain-text rendering for the CLI: key/value tables and a one-line progress indicator."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TextIO

__all__ = ["Progress", "WaitProgress", "bench_table", "info_table", "table"]

_INFO_ROWS = (
    ("server_name", "Server name"),
    ("server_id", "Server ID"),
    ("version", "Version"),
    ("go", "Go"),
    ("proto", "Protocol"),
    ("jetstream", "JetStream"),
    ("max_payload", "Max payload"),
    ("headers", "Headers"),
    ("cluster", "Cluster"),
    ("client_id", "Client ID"),
    ("rtt", "RTT"),
    ("connected_url", "Connected URL"),
)


def table(rows: Iterable[tuple[str, str]]) -> str:
    """Two aligned columns."""
    rows = list(rows)
    width = max((len(key) for key, _ in rows), default=0)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in rows)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def _value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "rtt":
        return _ms(float(value))
    if key == "max_payload" and isinstance(value, int):
        return f"{value} bytes ({value / (1024 * 1024):g} MiB)"
    return str(value)


def info_table(info: Mapping[str, Any]) -> str:
    """The server info from ``get_nats_server_info`` as a table."""
    return table((label, _value(key, info.get(key))) for key, label in _INFO_ROWS)


def bench_table(result: Mapping[str, Any], servers: str, *, interrupted: bool = False) -> str:
    """The summary of ``measure_connection_performance`` (or of an interrupted run)."""
    done = f"{result.get('completed', result['iterations'])} of {result['iterations']}"
    rows = [
        ("Server", servers),
        ("Iterations", done + (" (interrupted)" if interrupted else "")),
        ("Succeeded", str(result["successes"])),
        ("Failed", str(result["failures"])),
    ]
    if result["successes"]:
        rows += [
            ("Success rate", f"{result['success_rate'] * 100:.1f} %"),
            ("Average", _ms(result["average_time"])),
            ("Min", _ms(result["min_time"])),
            ("p50", _ms(result["p50"])),
            ("p95", _ms(result["p95"])),
            ("p99", _ms(result["p99"])),
            ("Max", _ms(result["max_time"])),
        ]
    else:
        rows.append(("Timings", "no successful connections"))
    if result.get("last_error"):
        rows.append(("Last error", str(result["last_error"])))
    return table(rows)


class Progress:
    """``[#####.....] 5/10`` redrawn in place on a terminal."""

    width = 30

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._drawn = 0

    def __call__(self, done: int, total: int, ok: bool) -> None:
        filled = self.width * done // total
        line = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        self._drawn = len(line) - 1
        self._stream.write(line)
        self._stream.flush()

    def clear(self) -> None:
        """Erase the indicator so the summary starts on a clean line."""
        if self._drawn:
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._stream.flush()
            self._drawn = 0


class WaitProgress:
    """``waiting for nats://...: attempt 3, 2.0 of 30 s`` redrawn in place on a terminal."""

    def __init__(self, stream: TextIO, servers: str, timeout: float) -> None:
        self._stream = stream
        self._servers = servers
        self._timeout = timeout
        self._drawn = 0

    def __call__(self, attempts: int, elapsed: float) -> None:
        line = f"waiting for {self._servers}: attempt {attempts}, {elapsed:.1f} of {self._timeout:g} s"
        padding = " " * max(self._drawn - len(line), 0)
        self._stream.write(f"\r{line}{padding}")
        self._stream.flush()
        self._drawn = len(line)

    def clear(self) -> None:
        """Erase the line so the result starts on a clean line."""
        if self._drawn:
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._stream.flush()
            self._drawn = 0
