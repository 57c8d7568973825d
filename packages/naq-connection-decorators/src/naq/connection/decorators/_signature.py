"""Decoration-time checks and metadata shared by every decorator in this package.

Everything here runs once, when a function is decorated -- never per call -- so it may be as
thorough as it likes: it rejects what cannot work (sync functions, async generators, nothing to
inject into) with a ``TypeError`` that says why, finds where the injected argument goes (first
positional parameter, or the one after ``self`` / ``cls`` for methods) and builds the public
signature callers see.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Injection",
    "copy_metadata",
    "describe",
    "injection_point",
    "require_async",
    "unwrap_descriptor",
]

METHOD_FIRST_PARAMETERS = frozenset({"self", "cls"})
"""A first parameter with one of these names marks a method: the injected argument goes after it."""

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def describe(obj: object) -> str:
    """A short human name for ``obj`` in error messages: ``module.qualname`` when it has one."""
    qualname = getattr(obj, "__qualname__", None)
    if qualname is None:
        return repr(obj)
    module = getattr(obj, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


def _identity(fn: Any) -> Any:
    return fn


def unwrap_descriptor(obj: Any) -> tuple[Any, Callable[[Any], Any]]:
    """Split a ``classmethod`` / ``staticmethod`` object into its function and a re-wrapper.

    This lets a decorator be written *above* ``@classmethod`` as well as below it: the function
    inside is decorated and wrapped again in the same descriptor.
    """
    if isinstance(obj, classmethod):
        return obj.__func__, classmethod
    if isinstance(obj, staticmethod):
        return obj.__func__, staticmethod
    return obj, _identity


def require_async(fn: object, decorator: str) -> None:
    """Raise ``TypeError`` unless ``fn`` is an ``async def`` function (a coroutine function)."""
    if inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"@{decorator} cannot decorate {describe(fn)}: it is an async generator (async def with "
            "yield), which is iterated rather than awaited, so there is no single call to wrap. "
            "Decorate a plain `async def` function that returns its result instead."
        )
    if not callable(fn):
        raise TypeError(f"@{decorator} decorates async functions, got {type(fn).__name__}: {fn!r}")
    if not inspect.iscoroutinefunction(fn):
        kind = "a generator function" if inspect.isgeneratorfunction(fn) else "not a coroutine function"
        raise TypeError(
            f"@{decorator} needs an `async def` function, but {describe(fn)} is {kind}: the decorator "
            "awaits the call (to hold the resource open, time it or retry it), which a synchronous "
            "function cannot be. Define it with `async def`."
        )


@dataclass(frozen=True)
class Injection:
    """Where an injecting decorator puts its argument, and what callers see afterwards."""

    method: bool
    """True when the injected argument goes after ``self`` / ``cls`` (second position)."""
    signature: inspect.Signature
    """The public signature: the original minus the injected parameter."""
    injected: str | None
    """Name of the removed parameter (None when injected into ``*args``)."""


def injection_point(fn: Callable[..., Any], decorator: str) -> Injection:
    """Find the parameter the decorator fills, or raise ``TypeError`` saying why none fits.

    A first parameter named ``self`` or ``cls`` marks a method: the resource is injected after it,
    so ``async def publish(self, conn, subject)`` is called as ``obj.publish(subject)``.
    """
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    method = bool(params) and params[0].name in METHOD_FIRST_PARAMETERS and params[0].kind in _POSITIONAL
    index = 1 if method else 0
    target = params[index] if len(params) > index else None
    where = f"after `{params[0].name}`" if method else "as the first argument"
    if target is None or target.kind not in (*_POSITIONAL, inspect.Parameter.VAR_POSITIONAL):
        raise TypeError(
            f"@{decorator} passes its resource {where}, but {describe(fn)}{signature} has no positional "
            f"parameter there. Add one, e.g. `async def {getattr(fn, '__name__', 'fn')}("
            f"{'self, ' if method else ''}conn, ...)`."
        )
    if target.kind is inspect.Parameter.VAR_POSITIONAL:
        return Injection(method=method, signature=signature, injected=None)
    public = signature.replace(parameters=[p for p in params if p is not target])
    return Injection(method=method, signature=public, injected=target.name)


def copy_metadata(
    wrapper: Callable[..., Any],
    fn: Callable[..., Any],
    injection: Injection | None = None,
) -> None:
    """``functools.update_wrapper`` plus the public signature and annotations of an injection.

    ``__wrapped__`` points at ``fn``; ``__signature__`` is set explicitly so ``inspect.signature``
    shows what callers pass, not what the decorated function receives.
    """
    functools.update_wrapper(wrapper, fn)
    if injection is None:
        return
    wrapper.__signature__ = injection.signature  # type: ignore[attr-defined]
    if injection.injected is not None:
        annotations = dict(getattr(fn, "__annotations__", {}))
        annotations.pop(injection.injected, None)
        wrapper.__annotations__ = annotations
