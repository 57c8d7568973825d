"""The pooled injection wrapper, compiled with the decorated function's own parameter list.

A generic ``async def wrapper(*args, **kwargs)`` packs and unpacks every call's arguments: about
150 ns a call, which is a tenth of a core NATS publish on a live connection -- the operation the
pooled ``@with_nats_connection`` benchmark compares against. For the pool path (the hot one) this
module builds the wrapper from source instead, the way :mod:`dataclasses` builds ``__init__``: its
parameters are exactly the public ones (same kinds, same default objects) and it forwards them by
name, so a call costs one coroutine plus the borrow.

Anything unusual (a resource injected into ``*args``, a parameter name this module uses itself)
returns ``None`` and the caller keeps the generic wrapper: behaviour is identical either way.

``@with_connection_monitoring`` on top of such a wrapper is fused into it (:func:`fuse_monitoring`):
one compiled coroutine that records the call in utils' ``ConnectionMonitor`` around the borrow and
the call, instead of a monitoring coroutine awaiting the pooled one (a coroutine layer is ~1% of a
local JetStream publish, half the 2% monitoring may cost). The accounting is the monitoring
wrapper's own (see ``_monitoring``); any other monitor goes to that generic wrapper.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from time import perf_counter
from types import ModuleType
from typing import Any

from naq.connection.decorators._signature import Injection

_P = inspect.Parameter
_PREFIX = "_naq_fast_"


@dataclass(frozen=True)
class Monitoring:
    """What a fused monitoring wrapper needs from ``with_connection_monitoring``.

    ``fixed``: the ``monitor=`` given to the decorator, or ``None`` to look up
    ``api.connection_monitor`` on every call. ``exact``: the monitor class whose synchronous
    ``connection_*`` twins the fused code calls. ``slow``: the generic monitoring wrapper, for every
    other monitor.
    """

    fixed: Any
    api: ModuleType
    exact: type
    slow: Callable[..., Awaitable[Any]]


_fusable: weakref.WeakKeyDictionary[Callable[..., Any], Callable[..., Callable[..., Awaitable[Any]] | None]]
_fusable = weakref.WeakKeyDictionary()
"""Compiled pooled wrappers -> how to build them again with monitoring fused in."""


def fuse_monitoring(
    inner: Callable[..., Any], monitoring: Monitoring
) -> Callable[..., Awaitable[Any]] | None:
    """``inner`` (a wrapper from :func:`compile_pooled_wrapper`) rebuilt with monitoring inside, or
    ``None`` when ``inner`` is anything else (then the generic monitoring wrapper is used)."""
    build = _fusable.get(inner)
    return None if build is None else build(monitoring=monitoring)


def compile_pooled_wrapper(
    fn: Callable[..., Awaitable[Any]],
    injection: Injection,
    *,
    surface: Mapping[str, Any],
    surface_name: str,
    core: object,
    patched: Callable[[Any], AbstractAsyncContextManager[Any]],
    nowait: Callable[[], Any],
    acquire: Callable[[], Awaitable[Any]],
    monitoring: Monitoring | None = None,
) -> Callable[..., Awaitable[Any]] | None:
    """An ``async def`` with ``fn``'s public parameters that borrows from the pool and calls ``fn``.

    While ``surface[surface_name]`` is ``core`` (nobody patched the context manager) it borrows
    with ``nowait()`` (falling back to ``await acquire()``); otherwise it enters
    ``patched(surface[surface_name])``, exactly as the generic wrapper does. With ``monitoring``,
    the call is also recorded (see :func:`fuse_monitoring`).
    """
    if injection.injected is None:
        return None
    params = list(injection.signature.parameters.values())
    if any(p.name.startswith(_PREFIX) or not p.name.isidentifier() for p in params):
        return None
    namespace: dict[str, Any] = {
        f"{_PREFIX}surface": surface,
        f"{_PREFIX}name": surface_name,
        f"{_PREFIX}core": core,
        f"{_PREFIX}patched": patched,
        f"{_PREFIX}nowait": nowait,
        f"{_PREFIX}acquire": acquire,
        f"{_PREFIX}call": fn,
    }
    declared, public = _parameters(params, namespace)
    forwarded = list(public)
    forwarded.insert(1 if injection.method else 0, f"{_PREFIX}conn")
    p = _PREFIX
    call = f"{p}call({', '.join(forwarded)})"
    if monitoring is None:
        body = [
            f"{p}cm = {p}surface[{p}name]",
            f"if {p}cm is {p}core:",
            f"    {p}conn = {p}nowait()",
            f"    if {p}conn is None:",
            f"        {p}conn = await {p}acquire()",
            f"    return await {call}",
            f"async with {p}patched({p}cm) as {p}conn:",
            f"    return await {call}",
        ]
    else:
        namespace.update(
            {
                f"{p}fixed": monitoring.fixed,
                f"{p}api": monitoring.api,
                f"{p}exact": monitoring.exact,
                f"{p}slow": monitoring.slow,
                f"{p}type": type,
                f"{p}perf_counter": perf_counter,
                f"{p}Exception": Exception,
                f"{p}BaseException": BaseException,
            }
        )
        # _monitoring's wrapper for an exact ConnectionMonitor, with the borrow and the call inside
        body = [
            f"{p}mon = {p}api.connection_monitor if {p}fixed is None else {p}fixed",
            f"if {p}type({p}mon) is not {p}exact:",
            f"    return await {p}slow({', '.join(public)})",
            f"{p}mon.connection_started()",
            f"{p}started = {p}perf_counter()",
            "try:",
            f"    {p}cm = {p}surface[{p}name]",
            f"    if {p}cm is {p}core:",
            f"        {p}conn = {p}nowait()",
            f"        if {p}conn is None:",
            f"            {p}conn = await {p}acquire()",
            f"        {p}result = await {call}",
            "    else:",
            f"        async with {p}patched({p}cm) as {p}conn:",
            f"            {p}result = await {call}",
            f"except {p}Exception:",
            f"    {p}mon.connection_failed()",
            f"    {p}mon.connection_released()",
            "    raise",
            f"except {p}BaseException:",
            f"    {p}mon.connection_released()",
            "    raise",
            f"{p}mon.connection_ended({p}perf_counter() - {p}started)",
            f"return {p}result",
        ]
    source = "\n".join([f"async def {p}wrapper({', '.join(declared)}):", *("    " + line for line in body)])
    kind = "pooled wrapper" if monitoring is None else "monitored pooled wrapper"
    code = compile(source, f"<naq.connection.decorators {kind} of {fn.__qualname__}>", "exec")
    exec(code, namespace)  # noqa: S102 -- the source is built above from parameter names only
    wrapper: Callable[..., Awaitable[Any]] = namespace[f"{_PREFIX}wrapper"]
    if monitoring is None:
        _fusable[wrapper] = functools.partial(
            compile_pooled_wrapper,
            fn,
            injection,
            surface=surface,
            surface_name=surface_name,
            core=core,
            patched=patched,
            nowait=nowait,
            acquire=acquire,
        )
    return wrapper


def _parameters(params: list[inspect.Parameter], namespace: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The wrapper's parameter list and the arguments that forward each parameter unchanged."""
    declared: list[str] = []
    forwarded: list[str] = []
    star_seen = False
    last_positional_only = -1
    for index, param in enumerate(params):
        name = param.name
        default = ""
        if param.default is not _P.empty:
            key = f"{_PREFIX}default_{index}"
            namespace[key] = param.default
            default = f"={key}"
        if param.kind is _P.POSITIONAL_ONLY:
            declared.append(name + default)
            forwarded.append(name)
            last_positional_only = len(declared)
        elif param.kind is _P.POSITIONAL_OR_KEYWORD:
            declared.append(name + default)
            forwarded.append(name)
        elif param.kind is _P.VAR_POSITIONAL:
            declared.append(f"*{name}")
            forwarded.append(f"*{name}")
            star_seen = True
        elif param.kind is _P.KEYWORD_ONLY:
            if not star_seen:
                declared.append("*")
                star_seen = True
            declared.append(name + default)
            forwarded.append(f"{name}={name}")
        else:  # VAR_KEYWORD
            declared.append(f"**{name}")
            forwarded.append(f"**{name}")
    if last_positional_only >= 0:
        declared.insert(last_positional_only, "/")
    return declared, forwarded
