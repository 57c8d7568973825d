"""The pooled injection wrapper, compiled with the decorated function's own parameter list.

A generic ``async def wrapper(*args, **kwargs)`` packs and unpacks every call's arguments: about
150 ns a call, which is a tenth of a core NATS publish on a live connection -- the operation the
pooled ``@with_nats_connection`` benchmark compares against. For the pool path (the hot one) this
module builds the wrapper from source instead, the way :mod:`dataclasses` builds ``__init__``: its
parameters are exactly the public ones (same kinds, same default objects) and it forwards them by
name, so a call costs one coroutine plus the borrow.

Anything unusual (a resource injected into ``*args``, a parameter name this module uses itself)
returns ``None`` and the caller keeps the generic wrapper: behaviour is identical either way.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from naq.connection.decorators._signature import Injection

_P = inspect.Parameter
_PREFIX = "_naq_fast_"


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
) -> Callable[..., Awaitable[Any]] | None:
    """An ``async def`` with ``fn``'s public parameters that borrows from the pool and calls ``fn``.

    While ``surface[surface_name]`` is ``core`` (nobody patched the context manager) it borrows
    with ``nowait()`` (falling back to ``await acquire()``); otherwise it enters
    ``patched(surface[surface_name])``, exactly as the generic wrapper does.
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
    declared, forwarded = _parameters(params, namespace)
    forwarded.insert(1 if injection.method else 0, f"{_PREFIX}conn")
    p = _PREFIX
    source = "\n".join(
        [
            f"async def {p}wrapper({', '.join(declared)}):",
            f"    {p}cm = {p}surface[{p}name]",
            f"    if {p}cm is {p}core:",
            f"        {p}conn = {p}nowait()",
            f"        if {p}conn is None:",
            f"            {p}conn = await {p}acquire()",
            f"        return await {p}call({', '.join(forwarded)})",
            f"    async with {p}patched({p}cm) as {p}conn:",
            f"        return await {p}call({', '.join(forwarded)})",
        ]
    )
    code = compile(source, f"<naq.connection.decorators pooled wrapper of {fn.__qualname__}>", "exec")
    exec(code, namespace)  # noqa: S102 -- the source is built above from parameter names only
    wrapper: Callable[..., Awaitable[Any]] = namespace[f"{_PREFIX}wrapper"]
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
