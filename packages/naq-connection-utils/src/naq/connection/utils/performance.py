"""Connection performance: how long does connecting to NATS take, and how often does it fail."""

from __future__ import annotations

import asyncio as _aio
import time
from collections.abc import Callable
from typing import Any

from naq.connection import utils as _utils
from naq.connection.utils.health import ConfigLike
from naq.connection.utils.metrics import describe_error, percentile

__all__ = ["ProgressCallback", "measure_connection_performance"]

ProgressCallback = Callable[[int, int, bool], None]
"""``progress(done, total, ok)`` after each iteration (the CLI draws its progress indicator with it)."""


async def measure_connection_performance(
    config: ConfigLike = None, iterations: int = 10, *, progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Open and close ``iterations`` connections one after another and summarise the connect times.

    Returns ``iterations``, ``successes``, ``failures``, ``success_rate`` (0..1), and over the
    successful connects (seconds; 0.0 when none succeeded) ``average_time``, ``min_time``,
    ``max_time``, ``p50``, ``p95``, ``p99``, plus ``total_time`` (the whole run) and ``last_error``
    (redacted, or None). A connect time runs from calling ``nats_connection`` to the connection being
    ready; failures are counted, never raised (cancellation still propagates). ``iterations`` < 1 is a
    ``ValueError``.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    times: list[float] = []
    failures = 0
    last_error: str | None = None
    run_start = time.perf_counter()
    for done in range(1, iterations + 1):
        ok = True
        start = time.perf_counter()
        try:
            cm = _utils.nats_connection() if config is None else _utils.nats_connection(config)
            async with cm:
                times.append(time.perf_counter() - start)
        except _aio.CancelledError:
            raise
        except Exception as exc:
            ok = False
            failures += 1
            last_error = describe_error(exc)
        if progress is not None:
            progress(done, iterations, ok)
    total_time = time.perf_counter() - run_start
    if failures:
        _utils.logger.warning(
            "%d of %d connection attempts failed; last error: %s", failures, iterations, last_error
        )
    times.sort()
    return {
        "iterations": iterations,
        "successes": len(times),
        "failures": failures,
        "success_rate": len(times) / iterations,
        "average_time": sum(times) / len(times) if times else 0.0,
        "min_time": times[0] if times else 0.0,
        "max_time": times[-1] if times else 0.0,
        "p50": percentile(times, 50),
        "p95": percentile(times, 95),
        "p99": percentile(times, 99),
        "total_time": total_time,
        "last_error": last_error,
    }
