"""``with_connection_monitoring``: count and time each call as one *operation* of a ``ConnectionMonitor``.

A decorated call is an operation, not a connection: the decorator wraps the call in
``monitor.track_operation(name)`` (``name`` is the function's ``__qualname__``), which counts it as
started, then succeeded, failed (an ``Exception``) or cancelled (any other ``BaseException``, e.g.
``CancelledError``: neither a success nor a failure), with its duration. Connections are counted by
utils' automatic monitoring from core's events, so one pooled connection serving 100 monitored calls
reads as 1 connection and 100 operations.

The monitor is ``naq.connection.decorators.connection_monitor``, looked up on every call (so tests
can patch it), unless ``monitor=`` was given. Monitoring never changes a call's outcome: a monitor
whose ``track_operation`` (or the context manager it returns) raises is logged (WARNING) and the
call's own result or exception is what the caller gets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, overload

import naq.connection.decorators as _api
from naq.connection.decorators._signature import copy_metadata, require_async, unwrap_descriptor

__all__ = ["with_connection_monitoring"]

P = ParamSpec("P")
R = TypeVar("R")

_NAME = "with_connection_monitoring"


def _monitor_failed(monitor: Any, step: str, exc: Exception) -> None:
    _api.logger.warning(
        "connection monitor %s.track_operation %s failed: %s: %s",
        type(monitor).__name__,
        step,
        type(exc).__name__,
        exc,
    )


def _decorate(fn_or_descriptor: Any, monitor: Any) -> Any:
    fn, rewrap = unwrap_descriptor(fn_or_descriptor)
    require_async(fn, _NAME)
    call = fn
    fixed = monitor
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        mon = _api.connection_monitor if fixed is None else fixed
        try:
            operation = mon.track_operation(name)
            operation.__enter__()
        except Exception as exc:  # monitoring must never change the outcome of the monitored call
            _monitor_failed(mon, "start", exc)
            return await call(*args, **kwargs)
        try:
            result = await call(*args, **kwargs)
        except BaseException as exc:
            _leave(mon, operation, exc)
            raise
        _leave(mon, operation, None)
        return result

    copy_metadata(wrapper, fn)
    return rewrap(wrapper)


def _leave(monitor: Any, operation: Any, exc: BaseException | None) -> None:
    """Close the tracked operation with the call's outcome; a failing monitor is only logged."""
    try:
        operation.__exit__(type(exc) if exc is not None else None, exc, exc.__traceback__ if exc else None)
    except Exception as error:
        _monitor_failed(monitor, "end", error)


@overload
def with_connection_monitoring(
    func: Callable[P, Awaitable[R]], /, *, monitor: Any = None
) -> Callable[P, Coroutine[Any, Any, R]]: ...
@overload
def with_connection_monitoring(
    func: None = None, /, *, monitor: Any = None
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]: ...
def with_connection_monitoring(func: Any = None, /, *, monitor: Any = None) -> Any:
    """Count each call of the decorated ``async def`` as one operation of a connection monitor.

    Usable bare (``@with_connection_monitoring``) or called (``@with_connection_monitoring()``,
    ``@with_connection_monitoring(monitor=my_monitor)``). Without ``monitor=`` the module's
    ``connection_monitor`` (utils' global monitor) is used, looked up at call time. ``monitor``
    must have ``track_operation(name)`` (utils' ``ConnectionMonitor`` does).
    """
    if monitor is not None and not callable(getattr(monitor, "track_operation", None)):
        raise TypeError(
            f"{_NAME}(monitor=...) needs a ConnectionMonitor (an object with track_operation); "
            f"got {type(monitor).__name__}"
        )
    if func is None:
        return lambda fn: _decorate(fn, monitor)
    return _decorate(func, monitor)
