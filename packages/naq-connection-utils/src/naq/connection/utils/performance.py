"""Connection performance: how long does connecting to NATS take, and how often does it fail."""

from __future__ import annotations

import asyncio as _aio
import time
from collections.abc import Callable
from typing import Any

from naq.connection import utils as _utils
from naq.connection.utils.health import ConfigLike
from naq.connection.utils.metrics import describe_error, percentile

__all__ = ["ConnectionBenchmark", "ProgressCallback", "measure_connection_performance"]

ProgressCallback = Callable[[int, int, bool], None]
"""``progress(done, total, ok)`` after each iteration (the CLI draws its progress indicator with it)."""


class ConnectionBenchmark:
    """Open and close ``iterations`` connections one after another, keeping every result so far.

    :meth:`run` does the work; :meth:`summary` can be read at any time, also after the run was
    interrupted (the CLI prints the partial results on Ctrl-C). ``iterations`` < 1 is a
    ``ValueError``, a non-integer a ``TypeError``.
    """

    def __init__(self, config: ConfigLike = None, iterations: int = 10) -> None:
        if isinstance(iterations, bool) or not isinstance(iterations, int):
            raise TypeError(f"iterations must be an int, got {type(iterations).__name__}")
        if iterations < 1:
            raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
        self.config = config
        self.iterations = iterations
        self._times: list[float] = []
        self._failures = 0
        self._last_error: str | None = None
        self._elapsed = 0.0

    async def run(self, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Connect and close ``iterations`` times; return :meth:`summary`. Failures are counted,
        never raised (cancellation propagates, with the results so far kept)."""
        config = self.config
        run_start = time.perf_counter()
        try:
            for done in range(len(self._times) + self._failures + 1, self.iterations + 1):
                ok = True
                start = time.perf_counter()
                try:
                    cm = _utils.nats_connection() if config is None else _utils.nats_connection(config)
                    async with cm:
                        self._times.append(time.perf_counter() - start)
                except _aio.CancelledError:
                    raise
                except Exception as exc:
                    ok = False
                    self._failures += 1
                    self._last_error = describe_error(exc)
                if progress is not None:
                    progress(done, self.iterations, ok)
        finally:
            self._elapsed += time.perf_counter() - run_start
        if self._failures:
            _utils.logger.warning(
                "%d of %d connection attempts failed; last error: %s",
                self._failures,
                self.iterations,
                self._last_error,
            )
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """The results so far (see :func:`measure_connection_performance` for the keys)."""
        times = sorted(self._times)
        completed = len(times) + self._failures
        return {
            "iterations": self.iterations,
            "completed": completed,
            "successes": len(times),
            "failures": self._failures,
            "success_rate": len(times) / completed if completed else 0.0,
            "average_time": sum(times) / len(times) if times else 0.0,
            "min_time": times[0] if times else 0.0,
            "max_time": times[-1] if times else 0.0,
            "p50": percentile(times, 50),
            "p95": percentile(times, 95),
            "p99": percentile(times, 99),
            "total_time": self._elapsed,
            "last_error": self._last_error,
        }


async def measure_connection_performance(
    config: ConfigLike = None, iterations: int = 10, *, progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Open and close ``iterations`` connections one after another and summarise the connect times.

    Returns ``iterations``, ``completed`` (iterations done), ``successes``, ``failures``,
    ``success_rate`` (0..1), and over the successful connects (seconds; 0.0 when none succeeded:
    check ``successes``) ``average_time``, ``min_time``, ``max_time``, ``p50``, ``p95``, ``p99``,
    plus ``total_time`` (the whole run) and ``last_error`` (redacted, or None). A connect time runs
    from calling ``nats_connection`` to the connection being ready; failures are counted, never
    raised (cancellation still propagates). ``iterations`` < 1 is a ``ValueError``.
    """
    return await ConnectionBenchmark(config, iterations).run(progress)
