"""``retry_on_connection_failure``: retry a call on transient NATS failures, with capped backoff.

What is retried: exceptions for which core's ``naq.connection.errors.is_transient(exc)`` is True
(no servers / failed connect, stale connection, reconnecting, timeouts, refused / reset, JetStream
503), or -- when ``retry_on`` is given -- exactly the exceptions that are instances of it. Never
retried: anything else (authorization, bad subject, not found, bad request, config errors, the
caller's own exceptions) and ``BaseException``s that are not ``Exception`` (``CancelledError``,
``KeyboardInterrupt``). The last exception is re-raised unchanged (the same object).

Delays: retry ``n`` (1-based) waits ``min(max_delay, retry_delay * backoff_factor ** (n - 1))``.
With ``jitter=True`` that is "equal jitter": a uniform draw in ``[d / 2, d]``, which spreads
clients that failed together while keeping at least half the back-off (a full-jitter draw in
``[0, d]`` may retry at once, against a server that is still restarting). ``jitter=False`` waits
exactly ``d``. ``max_elapsed`` bounds the whole call: a retry whose wait would end after
``max_elapsed`` seconds since the first attempt is not made. Waits go through
``naq.connection.decorators.asyncio.sleep``, looked up at call time.

Testing switch (after stamina's ``set_testing``): :func:`set_retry_testing` (or the
:func:`retry_testing` context manager) removes every wait and can cap the number of retries, so
tests exercise retry paths without sleeping. It is process-global, like the logging config.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import monotonic
from typing import Any, ParamSpec, TypeVar, overload

import naq.connection.decorators as _api
from naq.connection import config as _config
from naq.connection import errors as _errors
from naq.connection.decorators._signature import copy_metadata, require_async, unwrap_descriptor

__all__ = [
    "is_retry_testing",
    "retry_on_connection_failure",
    "retry_testing",
    "set_retry_testing",
]

P = ParamSpec("P")
R = TypeVar("R")

_NAME = "retry_on_connection_failure"
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class _Testing:
    max_retries: int | None


_testing: _Testing | None = None


def set_retry_testing(testing: bool, *, max_retries: int | None = None) -> None:
    """Switch retry testing mode on or off for every decorated function in the process.

    In testing mode retries happen without waiting (``asyncio.sleep`` is not called) and, when
    ``max_retries`` is given, each function retries at most that many times (never more than its
    own ``max_retries``). Warnings and errors are still logged. Turn it on in a ``conftest.py``
    fixture; turn it off again in its teardown.
    """
    global _testing
    flag: object = testing
    if not isinstance(flag, bool):
        raise TypeError(f"set_retry_testing(testing=...) must be True or False, got {type(flag).__name__}")
    if max_retries is not None:
        _check_count(max_retries, "max_retries", "set_retry_testing")
    _testing = _Testing(max_retries) if testing else None


def is_retry_testing() -> bool:
    """Whether :func:`set_retry_testing` switched testing mode on."""
    return _testing is not None


@contextmanager
def retry_testing(*, max_retries: int | None = None) -> Iterator[None]:
    """Testing mode for the ``with`` block, then back to the previous mode."""
    global _testing
    previous = _testing
    set_retry_testing(True, max_retries=max_retries)
    try:
        yield
    finally:
        _testing = previous


# --------------------------------------------------------------------------------------------
# argument checks (decoration time)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_count(value: object, name: str, where: str = _NAME) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{where}({name}=...) must be an int, got {type(value).__name__}: {value!r}")
    if value < 0:
        raise _errors.NaqConfigError(
            f"{where}({name}=...) must be >= 0, got {value}", field=name, source="argument", value=repr(value)
        )
    return value


def _check_number(
    value: object, name: str, *, minimum: float, strict: bool = False, what: str = "a number of seconds"
) -> float:
    if not _is_number(value):
        raise TypeError(f"{_NAME}({name}=...) must be {what}, got {type(value).__name__}: {value!r}")
    number = float(value)  # type: ignore[arg-type]
    too_small = number <= minimum if strict else number < minimum
    if too_small or not math.isfinite(number):
        bound = ">" if strict else ">="
        raise _errors.NaqConfigError(
            f"{_NAME}({name}=...) must be finite and {bound} {minimum:g}, got {value!r}",
            field=name,
            source="argument",
            value=repr(value),
        )
    return number


def _check_retry_on(retry_on: object) -> tuple[type[Exception], ...] | None:
    if retry_on is None:
        return None
    classes = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    if not classes:
        raise _errors.NaqConfigError(
            f"{_NAME}(retry_on=...) must name at least one exception class, got ()",
            field="retry_on",
            source="argument",
        )
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(
                f"{_NAME}(retry_on=...) must be an exception class or a tuple of them, got {cls!r}"
            )
        if not issubclass(cls, Exception):
            raise _errors.NaqConfigError(
                f"{_NAME}(retry_on=...) cannot include {cls.__name__}: cancellation and interpreter "
                "exits (BaseException that is not Exception) are never retried",
                field="retry_on",
                source="argument",
            )
    return classes


# --------------------------------------------------------------------------------------------
# policy


@dataclass(frozen=True)
class _Policy:
    max_retries: int
    retry_delay: float
    backoff_factor: float
    max_delay: float
    jitter: bool
    retry_on: tuple[type[Exception], ...] | None
    max_elapsed: float | None

    def retryable(self, exc: Exception) -> bool:
        if self.retry_on is not None:
            return isinstance(exc, self.retry_on)
        return _errors.is_transient(exc)

    def backoff(self, retry: int) -> float:
        """The un-jittered wait before retry ``retry`` (1-based), capped by ``max_delay``."""
        try:
            delay = self.retry_delay * self.backoff_factor ** (retry - 1)
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, delay)

    def delay(self, retry: int) -> float:
        base = self.backoff(retry)
        if self.jitter:
            half = base / 2
            return half + random.uniform(0.0, half)  # noqa: S311 -- jitter, not cryptography
        return base


def _one_line(exc: BaseException) -> str:
    """``exc``'s message on one line, credentials redacted, length capped; never raises."""
    try:
        text = " ".join(str(exc).split())
    except Exception:  # a broken __str__ must not replace the error being reported
        return "<unprintable>"
    text = _config.redact(text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _plan(policy: _Policy, name: str, exc: Exception, attempt: int, started: float) -> float | None:
    """After ``attempt`` failed with ``exc``: the wait before the next attempt, or None to give up."""
    testing = _testing
    max_retries = policy.max_retries
    if testing is not None and testing.max_retries is not None:
        max_retries = min(max_retries, testing.max_retries)
    total = max_retries + 1
    logger = _api.logger
    if not policy.retryable(exc):
        if attempt > 1:
            logger.error(
                "%s: attempt %d/%d failed with %s: %s; giving up (not retryable)",
                name, attempt, total, type(exc).__name__, _one_line(exc),
            )  # fmt: skip
        return None
    if attempt > max_retries:
        logger.error(
            "%s: attempt %d/%d failed with %s: %s; giving up (no retries left)",
            name, attempt, total, type(exc).__name__, _one_line(exc),
        )  # fmt: skip
        return None
    delay = 0.0 if testing is not None else policy.delay(attempt)
    if policy.max_elapsed is not None and monotonic() - started + delay > policy.max_elapsed:
        logger.error(
            "%s: attempt %d/%d failed with %s: %s; giving up (max_elapsed=%gs reached)",
            name, attempt, total, type(exc).__name__, _one_line(exc), policy.max_elapsed,
        )  # fmt: skip
        return None
    logger.warning(
        "%s: attempt %d/%d failed with %s: %s; retrying in %.3fs",
        name, attempt, total, type(exc).__name__, _one_line(exc), delay,
    )  # fmt: skip
    return delay


def _decorate(fn_or_descriptor: Any, policy: _Policy) -> Any:
    fn, rewrap = unwrap_descriptor(fn_or_descriptor)
    require_async(fn, _NAME)
    call = fn
    name = getattr(fn, "__qualname__", repr(fn))
    timed = policy.max_elapsed is not None

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = monotonic() if timed else 0.0  # the clock is only read when max_elapsed needs it
        attempt = 1
        while True:
            try:
                return await call(*args, **kwargs)
            except Exception as exc:
                delay = _plan(policy, name, exc, attempt, started)
                if delay is None:
                    raise
            # Sleep outside the except block: the handled exception must not become the
            # __context__ of whatever the next attempt raises.
            if _testing is None:
                await _api.asyncio.sleep(delay)
            attempt += 1

    copy_metadata(wrapper, fn)
    return rewrap(wrapper)


# --------------------------------------------------------------------------------------------
# public decorator


@overload
def retry_on_connection_failure(
    max_retries: Callable[P, Awaitable[R]], /
) -> Callable[P, Coroutine[Any, Any, R]]: ...
@overload
def retry_on_connection_failure(
    max_retries: int = 3,
    retry_delay: float = 1.0,
    backoff_factor: float = 2.0,
    *,
    max_delay: float = 30.0,
    jitter: bool = True,
    retry_on: type[Exception] | tuple[type[Exception], ...] | None = None,
    max_elapsed: float | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]: ...
def retry_on_connection_failure(
    max_retries: Any = 3,
    retry_delay: float = 1.0,
    backoff_factor: float = 2.0,
    *,
    max_delay: float = 30.0,
    jitter: bool = True,
    retry_on: type[Exception] | tuple[type[Exception], ...] | None = None,
    max_elapsed: float | None = None,
) -> Any:
    """Retry the decorated ``async def`` when it fails with a transient connection error.

    ``max_retries`` retries after the first attempt (so at most ``max_retries + 1`` calls), waiting
    ``retry_delay * backoff_factor ** (n - 1)`` seconds before retry ``n``, capped at ``max_delay``,
    with equal jitter unless ``jitter=False``; ``max_elapsed`` caps the total time. ``retry_on``
    replaces the transient-error classification with an explicit tuple of exception classes.
    Logs one WARNING per retry and one ERROR when giving up; re-raises the last exception as is.
    Usable bare: ``@retry_on_connection_failure``.
    """
    if callable(max_retries) or hasattr(max_retries, "__func__"):
        return _decorate(max_retries, _Policy(3, 1.0, 2.0, 30.0, True, None, None))
    jitter_flag: object = jitter
    if not isinstance(jitter_flag, bool):
        raise TypeError(f"{_NAME}(jitter=...) must be True or False, got {type(jitter_flag).__name__}")
    backoff = _check_number(backoff_factor, "backoff_factor", minimum=1.0, what="a number (multiplier)")
    policy = _Policy(
        max_retries=_check_count(max_retries, "max_retries"),
        retry_delay=_check_number(retry_delay, "retry_delay", minimum=0.0),
        backoff_factor=backoff,
        max_delay=_check_number(max_delay, "max_delay", minimum=0.0),
        jitter=jitter,
        retry_on=_check_retry_on(retry_on),
        max_elapsed=(
            None
            if max_elapsed is None
            else _check_number(max_elapsed, "max_elapsed", minimum=0.0, strict=True)
        ),
    )
    return lambda fn: _decorate(fn, policy)
