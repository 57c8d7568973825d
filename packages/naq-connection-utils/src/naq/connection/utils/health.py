"""Health checks: is NATS reachable, is JetStream on, wait until it is, what is the server.

Every name these functions depend on (``nats_connection``, ``nats_jetstream``, ``logger``,
``asyncio``, ``test_nats_connection``) is looked up on the ``naq.connection.utils`` package at call
time, so tests can patch them there.

Every check also accepts what the application already has: a :class:`~naq.connection.pool.ConnectionPool`
(it borrows the pool's connection) or a connected nats-py client (it uses it). Then it opens nothing
new, so a readiness probe every few seconds costs one PING/PONG instead of a TCP connect and close.

``flush()`` alone is not a health check: nats-py returns from it successfully while the client is
reconnecting. The checks here therefore refuse a client that is reconnecting and finish with a real
round trip (``rtt()``, a PING/PONG).
"""

from __future__ import annotations

import asyncio as _aio
import contextlib
import contextvars
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from naq.connection import _nats_compat
from naq.connection import utils as _utils
from naq.connection.config import Config, NatsConfig, redact_url
from naq.connection.errors import NaqConnectionError
from naq.connection.pool import ConnectionPool
from naq.connection.utils.metrics import describe_error

__all__ = [
    "DEFAULT_PROBE_TIMEOUT",
    "ConfigLike",
    "Target",
    "WaitProgress",
    "get_nats_server_info",
    "test_jetstream_connection",
    "test_nats_connection",
    "wait_for_nats_connection",
]

ConfigLike = Config | NatsConfig | str | None
"""A config as core's ``nats_connection`` accepts it: a new connection is opened for the check."""

Target = ConfigLike | ConnectionPool | Any
"""What the checks accept as ``config``: a :data:`ConfigLike`, a ``ConnectionPool`` (borrowed from)
or a connected nats-py client (used as is)."""

DEFAULT_PROBE_TIMEOUT = 5.0
"""Longest single attempt inside :func:`wait_for_nats_connection`."""


@dataclass
class _Quiet:
    """Set while :func:`wait_for_nats_connection` polls: attempts log at DEBUG, the last error is kept."""

    last_error: str | None = None


_quiet: contextvars.ContextVar[_Quiet | None] = contextvars.ContextVar("naq_utils_quiet_probe", default=None)


def _check_timeout(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _is_client(value: object) -> bool:
    """A connected nats-py client (or anything shaped like one: ``flush``, ``rtt``, ``is_connected``)."""
    return callable(getattr(value, "flush", None)) and hasattr(value, "is_connected")


def _check_target(value: object, name: str = "config") -> None:
    if value is None or isinstance(value, Config | NatsConfig | str | ConnectionPool) or _is_client(value):
        return
    raise TypeError(
        f"{name} must be a Config, NatsConfig, URL string, ConnectionPool or connected nats client "
        f"(or None), got {type(value).__name__}"
    )


def _connect(config: Target) -> Any:
    """An async context manager yielding a connection: borrowed from a pool, the given client itself,
    or ``nats_connection(config)`` (called with no argument when there is no config)."""
    if isinstance(config, ConnectionPool):
        return config.connection()
    if config is not None and not isinstance(config, Config | NatsConfig | str):
        return contextlib.nullcontext(config)  # a client the application holds: never closed here
    return _utils.nats_connection() if config is None else _utils.nats_connection(config)


def _require_usable(conn: Any) -> None:
    """Fail at once on a client that is reconnecting or closed (its flush would still succeed)."""
    if getattr(conn, "is_reconnecting", False) is True:
        raise NaqConnectionError("the connection is reconnecting")
    if getattr(conn, "is_closed", False) is True:
        raise NaqConnectionError("the connection is closed")


async def _round_trip(conn: Any, timeout: float) -> None:
    """A real PING/PONG: ``rtt()`` when the client has it, else a request to our own inbox."""
    rtt = getattr(conn, "rtt", None)
    if rtt is not None:
        result = rtt(timeout)
        if inspect.isawaitable(result):
            await result
        return
    inbox = conn.new_inbox()
    sub = await conn.subscribe(inbox)
    try:
        await conn.publish(inbox, b"naq-health")
        await sub.next_msg(timeout=timeout)
    finally:
        await sub.unsubscribe()


def _report(message: str) -> None:
    """Log one failure line: ERROR normally, DEBUG (and remembered) while being polled."""
    quiet = _quiet.get()
    if quiet is None:
        _utils.logger.error("%s", message)
    else:
        quiet.last_error = message
        _utils.logger.debug("%s", message)


def _failure_text(exc: BaseException, what: str, timeout: float) -> str:
    if isinstance(exc, _aio.TimeoutError):
        return f"{what} failed: no answer within {timeout:g} s"
    return f"{what} failed: {describe_error(exc)}"


async def test_nats_connection(config: Target = None, timeout: float = 5.0) -> bool:  # noqa: PT028
    """True when NATS answers a round trip within ``timeout`` seconds; False otherwise, never raises.

    ``config`` is a config (a new connection through ``nats_connection``), a ``ConnectionPool`` (its
    connection is borrowed) or a connected client (used as is). Then: False at once when that
    connection is reconnecting, else a flush and a real round trip (a PING/PONG). A failure logs
    exactly one ERROR line on ``naq.connection.utils``. Cancellation propagates; a ``config`` or
    ``timeout`` of the wrong type is a ``TypeError``, a non-positive ``timeout`` a ``ValueError``.
    """
    _check_target(config)
    limit = _check_timeout("timeout", timeout)

    async def probe() -> None:
        async with _connect(config) as conn:
            _require_usable(conn)
            await conn.flush(timeout=limit)
            await _round_trip(conn, limit)

    try:
        await _aio.wait_for(probe(), limit)
    except _aio.CancelledError:
        raise
    except Exception as exc:
        _report(_failure_text(exc, "NATS health check", limit))
        return False
    return True


test_nats_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported


async def test_jetstream_connection(
    config: Target = None,  # noqa: PT028
    timeout: float = 5.0,  # noqa: PT028
) -> bool:
    """True when JetStream answers (``account_info``) within ``timeout``; False otherwise, never raises.

    ``config`` as for :func:`test_nats_connection` (a pool or a client opens nothing new). A server
    running without JetStream gives False with a log line saying so.
    """
    _check_target(config)
    limit = _check_timeout("timeout", timeout)

    async def probe() -> None:
        if isinstance(config, ConnectionPool):
            async with config.connection() as conn:
                _require_usable(conn)
                await conn.jetstream().account_info()
        elif config is None or isinstance(config, Config | NatsConfig | str):
            cm = _utils.nats_jetstream() if config is None else _utils.nats_jetstream(config)
            async with cm as (_conn, js):
                await js.account_info()
        else:
            _require_usable(config)
            await config.jetstream().account_info()

    try:
        await _aio.wait_for(probe(), limit)
    except _aio.CancelledError:
        raise
    except Exception as exc:
        if type(exc).__name__ in {"ServiceUnavailableError", "NoRespondersError"}:
            _report("JetStream check failed: JetStream is not enabled on the server")
        else:
            _report(_failure_text(exc, "JetStream check", limit))
        return False
    return True


test_jetstream_connection.__test__ = False  # type: ignore[attr-defined]


WaitProgress = Callable[[int, float], None]
"""``progress(attempts, elapsed_seconds)`` after each failed attempt of :func:`wait_for_nats_connection`."""


async def wait_for_nats_connection(
    config: Target = None,
    timeout: float = 30.0,
    interval: float = 1.0,
    *,
    progress: WaitProgress | None = None,
) -> bool:
    """Poll until NATS answers (True, as soon as it does) or ``timeout`` seconds pass (False).

    Time is measured with ``asyncio.get_event_loop().time()`` and waits use ``asyncio.sleep``, both
    through ``naq.connection.utils.asyncio``; each attempt is ``test_nats_connection`` (looked up on
    the package) bounded by the time left. Failed attempts log at DEBUG; giving up logs one ERROR line
    with the last failure. At least one attempt is always made. ``config`` as for
    :func:`test_nats_connection`; ``progress(attempts, elapsed)`` is called after each failed attempt.
    """
    _check_target(config)
    total = _check_timeout("timeout", timeout)
    pause = _check_timeout("interval", interval)
    aio = _utils.asyncio
    loop = aio.get_event_loop()
    deadline = loop.time() + total
    attempts = 0
    quiet = _Quiet()
    token = _quiet.set(quiet)
    try:
        remaining = total
        while True:
            attempts += 1
            attempt_timeout = max(min(remaining, DEFAULT_PROBE_TIMEOUT), 0.001)
            if await _utils.test_nats_connection(config, timeout=attempt_timeout):
                return True
            remaining = deadline - loop.time()
            if progress is not None:
                progress(attempts, total - remaining)
            if remaining <= 0:
                break
            await aio.sleep(min(pause, remaining))
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
    finally:
        _quiet.reset(token)
    reason = f": last error: {quiet.last_error}" if quiet.last_error else ""
    _utils.logger.error("NATS not reachable after %g s (%d attempts)%s", total, attempts, reason)
    return False


async def get_nats_server_info(config: Target = None, timeout: float = 5.0) -> dict[str, Any]:
    """What the server says about itself, plus the measured round-trip time.

    Keys: ``server_name``, ``server_id``, ``version``, ``go``, ``proto``, ``jetstream`` (bool),
    ``max_payload``, ``headers``, ``cluster`` (None outside a cluster), ``client_id``, ``rtt``
    (seconds), ``connected_url`` (credentials redacted). Raises :class:`NaqConnectionError` when the
    server cannot be reached or does not answer within ``timeout`` (or the given connection is
    reconnecting). ``config`` as for :func:`test_nats_connection`.
    """
    _check_target(config)
    limit = _check_timeout("timeout", timeout)

    async def probe() -> dict[str, Any]:
        async with _connect(config) as conn:
            _require_usable(conn)
            rtt = await conn.rtt(limit)
            info = _nats_compat.server_info(conn)
            url = conn.connected_url
            return {
                "server_name": info.get("server_name"),
                "server_id": info.get("server_id"),
                "version": info.get("version"),
                "go": info.get("go"),
                "proto": info.get("proto"),
                "jetstream": bool(info.get("jetstream", False)),
                "max_payload": info.get("max_payload", getattr(conn, "max_payload", None)),
                "headers": bool(info.get("headers", False)),
                "cluster": info.get("cluster"),
                "client_id": info.get("client_id"),
                "rtt": float(rtt),
                "connected_url": redact_url(url.geturl()) if url is not None else None,
            }

    try:
        return await _aio.wait_for(probe(), limit)
    except (_aio.CancelledError, NaqConnectionError):
        raise
    except Exception as exc:
        raise NaqConnectionError(_failure_text(exc, "reading NATS server info", limit)) from exc
