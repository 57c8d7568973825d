"""``with_connection_monitoring``: count and time each call in a ``ConnectionMonitor``.

Accounting (one decorated call = one monitored operation):

- success: ``record_connection_start()`` before the call, ``record_connection_end(duration)`` after.
- exception: ``record_connection_start()``, then ``record_connection_failure()`` and
  ``record_connection_closed()``, which closes the started record without counting a success, so
  ``active_connections`` is back to 0 and ``successful_connections`` is unchanged.
- cancellation (or another ``BaseException``): ``record_connection_closed()`` only -- the call
  neither succeeded nor failed.

A monitor without ``record_connection_closed`` (only the three base methods) cannot close out a
started record without counting a success. For such a monitor the decorator defers the record
until the outcome is known: a success records ``start`` then ``end(duration)`` after the call, a
failure records only ``failure``. Counts and times stay exact and ``active_connections`` returns to
0; what is lost is the live view of calls still in flight.

For utils' own ``ConnectionMonitor`` (exactly that class) the decorator calls its synchronous twins
(``connection_started`` / ``connection_ended`` / ``connection_failed`` / ``connection_released``),
which do the same accounting without a coroutine per record: monitoring then costs well under a
microsecond a call. Subclasses and test doubles get the async ``record_*`` calls.

The monitor is ``naq.connection.decorators.connection_monitor``, looked up on every call (so tests
can patch it), unless ``monitor=`` was given. Monitoring never changes a call's outcome: a monitor
method that raises is logged (WARNING) and the call's own result or exception is what the caller gets.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from time import perf_counter
from typing import Any, ParamSpec, TypeVar, overload

import naq.connection.decorators as _api
from naq.connection.decorators._signature import copy_metadata, require_async, unwrap_descriptor
from naq.connection.utils import ConnectionMonitor

__all__ = ["with_connection_monitoring"]

P = ParamSpec("P")
R = TypeVar("R")

_NAME = "with_connection_monitoring"


async def _record(monitor: Any, method: str, *args: Any) -> None:
    """Call ``monitor.<method>(*args)``, awaiting it if it returns an awaitable; never raise."""
    try:
        result = getattr(monitor, method)(*args)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:  # monitoring must never change the outcome of the monitored call
        _api.logger.warning(
            "connection monitor %s.%s failed: %s: %s", type(monitor).__name__, method, type(exc).__name__, exc
        )


def _decorate(fn_or_descriptor: Any, monitor: Any) -> Any:
    fn, rewrap = unwrap_descriptor(fn_or_descriptor)
    require_async(fn, _NAME)
    call = fn
    fixed = monitor

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        mon = _api.connection_monitor if fixed is None else fixed
        if type(mon) is ConnectionMonitor:
            # utils' own monitor (not a subclass or a test double): its synchronous twins do exactly
            # what the async record_* methods do, without four coroutines per call.
            mon.connection_started()
            started = perf_counter()
            try:
                result = await call(*args, **kwargs)
            except Exception:
                mon.connection_failed()
                mon.connection_released()
                raise
            except BaseException:
                mon.connection_released()
                raise
            mon.connection_ended(perf_counter() - started)
            return result
        if getattr(mon, "record_connection_closed", None) is None:
            return await _deferred(mon, call, args, kwargs)
        await _record(mon, "record_connection_start")
        started = perf_counter()
        try:
            result = await call(*args, **kwargs)
        except Exception:
            await _record(mon, "record_connection_failure")
            await _record(mon, "record_connection_closed")
            raise
        except BaseException:
            await _record(mon, "record_connection_closed")
            raise
        await _record(mon, "record_connection_end", perf_counter() - started)
        return result

    copy_metadata(wrapper, fn)
    return rewrap(wrapper)


async def _deferred(mon: Any, call: Callable[..., Awaitable[Any]], args: Any, kwargs: Any) -> Any:
    """Accounting for monitors without ``record_connection_closed``: record once the outcome is known."""
    started = perf_counter()
    try:
        result = await call(*args, **kwargs)
    except Exception:
        await _record(mon, "record_connection_failure")
        raise
    duration = perf_counter() - started
    await _record(mon, "record_connection_start")
    await _record(mon, "record_connection_end", duration)
    return result


@overload
def with_connection_monitoring(
    func: Callable[P, Awaitable[R]], /, *, monitor: Any = None
) -> Callable[P, Coroutine[Any, Any, R]]: ...
@overload
def with_connection_monitoring(
    func: None = None, /, *, monitor: Any = None
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]: ...
def with_connection_monitoring(func: Any = None, /, *, monitor: Any = None) -> Any:
    """Record each call of the decorated ``async def`` in a connection monitor.

    Usable bare (``@with_connection_monitoring``) or called (``@with_connection_monitoring()``,
    ``@with_connection_monitoring(monitor=my_monitor)``). Without ``monitor=`` the module's
    ``connection_monitor`` (utils' global monitor) is used, looked up at call time.
    """
    if monitor is not None:
        missing = [
            m
            for m in ("record_connection_start", "record_connection_end", "record_connection_failure")
            if not callable(getattr(monitor, m, None))
        ]
        if missing:
            raise TypeError(
                f"{_NAME}(monitor=...) needs a ConnectionMonitor-like object; "
                f"{type(monitor).__name__} lacks {', '.join(missing)}"
            )
    if func is None:
        return lambda fn: _decorate(fn, monitor)
    return _decorate(func, monitor)
