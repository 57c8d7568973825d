"""``with_nats_connection``, ``with_jetstream_context``, ``with_kv_store``: inject a resource per call.

Each decorated call enters one of core's context managers and passes what it yields as the first
argument (after ``self`` / ``cls`` for methods), followed by the caller's own arguments.

Patch points: the context managers and ``get_config`` are read from ``naq.connection.decorators``
on every call (``_api.nats_connection`` below), never bound here, so tests that patch
``naq.connection.decorators.nats_connection`` see their mock called.

Pool path (``pool=``): the decorator borrows straight from the pool (``pool.connection()``,
``pool.jetstream()``, ``pool.kv_store(bucket)``), which is what core's context managers do when
given ``pool=``, minus one layer -- this is the hot path the benchmarks measure. For connections of
a real ``ConnectionPool`` it uses ``await pool.acquire()`` (a borrow with nothing to give back), which
also saves the ``async with`` protocol. If the matching patch point has been replaced (a test patched
``naq.connection.decorators.nats_connection``), the replacement is called instead as
``nats_connection(pool=pool)``, so patches keep working.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, overload

import naq.connection.decorators as _api
from naq.connection import context_managers as _core_cms
from naq.connection.config import redact_url
from naq.connection.decorators._fastpath import compile_pooled_wrapper
from naq.connection.decorators._signature import (
    copy_metadata,
    injection_point,
    require_async,
    unwrap_descriptor,
)
from naq.connection.pool import ConnectionPool as _ConnectionPool

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from naq.connection.config import Config, NatsConfig
    from naq.connection.pool import ConnectionPool

__all__ = ["with_jetstream_context", "with_kv_store", "with_nats_connection"]

P = ParamSpec("P")
R = TypeVar("R")

# The patch surface's namespace: ``_SURFACE["nats_connection"]`` is the same call-time lookup as
# ``_api.nats_connection`` (patching sets the module attribute, i.e. this dict's entry).
_SURFACE = vars(_api)

# Core's own context managers, captured once: when the patch surface still holds these, the pool
# path may skip them and borrow from the pool directly (same behaviour, one layer less).
_CORE_NATS_CONNECTION = _core_cms.nats_connection
_CORE_NATS_JETSTREAM = _core_cms.nats_jetstream
_CORE_NATS_KV_STORE = _core_cms.nats_kv_store

Opener = Callable[[], "AbstractAsyncContextManager[Any]"]


class _Second:
    """Async CM adapter yielding the second item of what ``cm`` yields (``(conn, js)`` -> ``js``)."""

    __slots__ = ("_cm",)

    def __init__(self, cm: AbstractAsyncContextManager[Any]) -> None:
        self._cm = cm

    async def __aenter__(self) -> Any:
        pair = await self._cm.__aenter__()
        try:
            return pair[1]
        except BaseException as exc:  # not a (conn, js) pair: leave the entered context, then raise
            await self._cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._cm.__aexit__(exc_type, exc, tb)


# --------------------------------------------------------------------------------------------
# argument checks (decoration time)


def _check_config_key(config_key: object, decorator: str) -> str | None:
    if config_key is None:
        return None
    if not isinstance(config_key, str):
        raise TypeError(
            f"{decorator}(config_key=...) must be a profile name (str) or None, got "
            f"{type(config_key).__name__}; to pass a Config, NatsConfig or URL use config=..."
        )
    if not config_key.strip():
        raise ValueError(f"{decorator}(config_key=...) must be a non-empty profile name, got {config_key!r}")
    if "://" in config_key:
        raise ValueError(
            f"{decorator}: config_key is the name of a connection profile, but "
            f"{redact_url(config_key)!r} looks like a server URL; pass it as config=..."
        )
    return config_key


def _check_sources(config_key: str | None, config: object, pool: object, decorator: str) -> None:
    if pool is not None:
        if config_key is not None or config is not None:
            raise ValueError(
                f"{decorator}: pass either pool= or config_key/config=, not both -- a ConnectionPool "
                "carries its own configuration (give it to ConnectionPool(config) instead)."
            )
        if not callable(getattr(pool, "connection", None)):
            raise TypeError(
                f"{decorator}(pool=...) must be a naq.connection.ConnectionPool, got {type(pool).__name__}"
            )
    if config_key is not None and config is not None and not callable(getattr(config, "profile", None)):
        raise TypeError(
            f"{decorator}: config_key={config_key!r} selects a profile of a Config, but config= is a "
            f"{type(config).__name__}; pass a naq.connection.config.Config, or drop config_key."
        )


def _profile_resolver(config_key: str, config: Any) -> Callable[[], Any]:
    """Call-time profile lookup: the global config may be replaced at runtime (``set_config``)."""
    if config is not None:
        return lambda: config.profile(config_key)
    return lambda: _api.get_config().profile(config_key)


# --------------------------------------------------------------------------------------------
# wrapper construction (one lean wrapper per shape: function or method)


def _inject(fn_or_descriptor: Any, opener: Opener, decorator: str) -> Any:
    fn, rewrap = unwrap_descriptor(fn_or_descriptor)
    require_async(fn, decorator)
    injection = injection_point(fn, decorator)
    call = fn

    if injection.method:

        async def wrapper(instance: Any, /, *args: Any, **kwargs: Any) -> Any:
            async with opener() as resource:
                return await call(instance, resource, *args, **kwargs)

    else:

        async def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            async with opener() as resource:
                return await call(resource, *args, **kwargs)

    copy_metadata(wrapper, fn, injection)
    return rewrap(wrapper)


@dataclass(frozen=True)
class _Pooled:
    """The pool path of one decorator: borrow directly unless the patch point was replaced."""

    surface: str
    """Name of the patch point in ``naq.connection.decorators`` (e.g. ``"nats_connection"``)."""
    core: object
    """Core's own context manager function: while the patch point holds it, borrow directly."""
    borrow: Opener
    """Borrow from the pool (``pool.connection``), yielding exactly what is injected."""
    patched: Callable[[Any], AbstractAsyncContextManager[Any]]
    """Call a replaced patch point (``lambda cm: cm(pool=pool)``)."""
    direct: tuple[Callable[[], Any], Callable[[], Awaitable[Any]]] | None = None
    """For a real ConnectionPool: ``(nowait, acquire)``, its methods that borrow without a context
    manager (``acquire_nowait`` / ``acquire``, or ``jetstream_nowait`` / ``acquire_jetstream``;
    nothing to give back), which saves the ``async with`` protocol -- and, while the pooled
    connection is up, any extra coroutine -- on the hottest path."""


def _direct_pool(pool: object) -> _ConnectionPool | None:
    """``pool`` when it is a real ConnectionPool (not a mock standing in for one), else None."""
    return pool if issubclass(type(pool), _ConnectionPool) else None  # type: ignore[return-value]


def _direct_connection(pool: object) -> tuple[Callable[[], Any], Callable[[], Awaitable[Any]]] | None:
    real = _direct_pool(pool)
    return None if real is None else (real.acquire_nowait, real.acquire)


def _direct_jetstream(pool: object) -> tuple[Callable[[], Any], Callable[[], Awaitable[Any]]] | None:
    real = _direct_pool(pool)
    return None if real is None else (real.jetstream_nowait, real.acquire_jetstream)


def _inject_pooled(fn_or_descriptor: Any, pooled: _Pooled, decorator: str) -> Any:
    """Like :func:`_inject`, with the pool path inlined: it is the hot path the benchmarks measure."""
    fn, rewrap = unwrap_descriptor(fn_or_descriptor)
    require_async(fn, decorator)
    injection = injection_point(fn, decorator)
    call = fn
    surface, core, borrow, patched, direct = (
        pooled.surface,
        pooled.core,
        pooled.borrow,
        pooled.patched,
        pooled.direct,
    )

    if direct is not None:
        nowait, acquire = direct
        fast = compile_pooled_wrapper(
            fn,
            injection,
            surface=_SURFACE,
            surface_name=surface,
            core=core,
            patched=patched,
            nowait=nowait,
            acquire=acquire,
        )
        if fast is not None:
            copy_metadata(fast, fn, injection)
            return rewrap(fast)

    if direct is not None and injection.method:

        async def wrapper(instance: Any, /, *args: Any, **kwargs: Any) -> Any:
            cm = _SURFACE[surface]
            if cm is core:
                conn = nowait()
                if conn is None:
                    conn = await acquire()
                return await call(instance, conn, *args, **kwargs)
            async with patched(cm) as resource:
                return await call(instance, resource, *args, **kwargs)

    elif direct is not None:

        async def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            cm = _SURFACE[surface]
            if cm is core:
                conn = nowait()
                if conn is None:
                    conn = await acquire()
                return await call(conn, *args, **kwargs)
            async with patched(cm) as resource:
                return await call(resource, *args, **kwargs)

    elif injection.method:

        async def wrapper(instance: Any, /, *args: Any, **kwargs: Any) -> Any:
            cm = _SURFACE[surface]
            async with borrow() if cm is core else patched(cm) as resource:
                return await call(instance, resource, *args, **kwargs)

    else:

        async def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            cm = _SURFACE[surface]
            async with borrow() if cm is core else patched(cm) as resource:
                return await call(resource, *args, **kwargs)

    copy_metadata(wrapper, fn, injection)
    return rewrap(wrapper)


def _bare_or_factory(
    first: Any,
    decorator: str,
    build: Callable[[str | None], Callable[[Any], Any]],
) -> Any:
    """Support ``@deco`` as well as ``@deco(...)``: a callable first argument is the function itself."""
    if first is not None and not isinstance(first, str) and (callable(first) or hasattr(first, "__func__")):
        return build(None)(first)
    return build(_check_config_key(first, decorator))


# --------------------------------------------------------------------------------------------
# public decorators


@overload
def with_nats_connection(
    config_key: Callable[Concatenate[Any, P], Awaitable[R]], /
) -> Callable[P, Coroutine[Any, Any, R]]: ...
@overload
def with_nats_connection(
    config_key: str | None = None,
    *,
    config: Config | NatsConfig | str | None = None,
    pool: ConnectionPool | None = None,
) -> Callable[[Callable[Concatenate[Any, P], Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]: ...
def with_nats_connection(
    config_key: Any = None,
    *,
    config: Config | NatsConfig | str | None = None,
    pool: ConnectionPool | None = None,
) -> Any:
    """Call the decorated ``async def`` with a live NATS connection as its first argument.

    ``@with_nats_connection`` (bare) and ``@with_nats_connection()`` use the global config:
    each call runs ``async with nats_connection() as conn`` (no config argument). ``config_key``
    selects a named profile at call time (``get_config().profile(key)``; unknown names raise
    ``NaqConfigError`` listing the known ones); ``config=`` passes a ``Config``, ``NatsConfig`` or
    URL through; ``pool=`` borrows a shared connection from a ``ConnectionPool`` instead of
    connecting per call. Methods get the connection after ``self`` / ``cls``.
    """
    name = "with_nats_connection"

    def build(key: str | None) -> Callable[[Any], Any]:
        _check_sources(key, config, pool, name)
        if pool is not None:
            pooled = _Pooled(
                "nats_connection",
                _CORE_NATS_CONNECTION,
                pool.connection,
                lambda cm: cm(pool=pool),
                _direct_connection(pool),
            )
            return lambda fn: _inject_pooled(fn, pooled, name)
        opener: Opener
        if key is not None:
            profile = _profile_resolver(key, config)

            def opener() -> AbstractAsyncContextManager[Any]:
                return _api.nats_connection(profile())

        elif config is not None:

            def opener() -> AbstractAsyncContextManager[Any]:
                return _api.nats_connection(config)

        else:

            def opener() -> AbstractAsyncContextManager[Any]:
                return _api.nats_connection()

        return lambda fn: _inject(fn, opener, name)

    return _bare_or_factory(config_key, name, build)


@overload
def with_jetstream_context(
    config_key: Callable[Concatenate[Any, P], Awaitable[R]], /
) -> Callable[P, Coroutine[Any, Any, R]]: ...
@overload
def with_jetstream_context(
    config_key: str | None = None,
    *,
    config: Config | NatsConfig | str | None = None,
    pool: ConnectionPool | None = None,
) -> Callable[[Callable[Concatenate[Any, P], Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]: ...
def with_jetstream_context(
    config_key: Any = None,
    *,
    config: Config | NatsConfig | str | None = None,
    pool: ConnectionPool | None = None,
) -> Any:
    """Call the decorated ``async def`` with a JetStream context as its first argument.

    Each call runs ``async with nats_jetstream(...) as (conn, js)`` and passes ``js``; the
    arguments select the configuration exactly as for :func:`with_nats_connection`. With
    ``pool=``, the pool's cached JetStream context is borrowed (``pool.jetstream()``).
    """
    name = "with_jetstream_context"

    def build(key: str | None) -> Callable[[Any], Any]:
        _check_sources(key, config, pool, name)
        if pool is not None:
            pooled = _Pooled(
                "nats_jetstream",
                _CORE_NATS_JETSTREAM,
                pool.jetstream,
                lambda cm: _Second(cm(pool=pool)),
                _direct_jetstream(pool),
            )
            return lambda fn: _inject_pooled(fn, pooled, name)
        opener: Opener
        if key is not None:
            profile = _profile_resolver(key, config)

            def opener() -> AbstractAsyncContextManager[Any]:
                return _Second(_api.nats_jetstream(profile()))

        elif config is not None:

            def opener() -> AbstractAsyncContextManager[Any]:
                return _Second(_api.nats_jetstream(config))

        else:

            def opener() -> AbstractAsyncContextManager[Any]:
                return _Second(_api.nats_jetstream())

        return lambda fn: _inject(fn, opener, name)

    return _bare_or_factory(config_key, name, build)


def with_kv_store(
    bucket: str,
    config_key: str | None = None,
    *,
    config: Config | NatsConfig | str | None = None,
    pool: ConnectionPool | None = None,
    create: bool = False,
) -> Callable[[Callable[Concatenate[Any, P], Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Call the decorated ``async def`` with the KV bucket ``bucket`` as its first argument.

    With no key and no config each call runs ``async with nats_kv_store(bucket) as kv`` -- the
    bucket alone; ``create=True`` adds ``create=True`` (create the bucket if missing). A missing
    bucket otherwise raises core's ``NaqBucketNotFoundError``. ``config_key`` / ``config=`` /
    ``pool=`` select the connection as for :func:`with_nats_connection`; with a pool the bucket
    handle is borrowed from the pool's cache (``pool.kv_store(bucket)``).
    """
    name = "with_kv_store"
    given: object = bucket  # checked at run time: a bare @with_kv_store passes the function here
    if not isinstance(given, str):
        what = "a function" if callable(given) else type(given).__name__
        raise TypeError(
            f"{name} needs a bucket name as its first argument, got {what}; write "
            "@with_kv_store('bucket') -- it cannot be used bare."
        )
    if not bucket.strip():
        raise ValueError(f"{name}(bucket=...) must be a non-empty bucket name, got {bucket!r}")
    flag: object = create
    if not isinstance(flag, bool):
        raise TypeError(f"{name}(create=...) must be True or False, got {type(flag).__name__}")
    key = _check_config_key(config_key, name)
    _check_sources(key, config, pool, name)
    extra: dict[str, Any] = {"create": True} if create else {}

    if pool is not None:
        pooled = _Pooled(
            "nats_kv_store",
            _CORE_NATS_KV_STORE,
            functools.partial(pool.kv_store, bucket, **extra),
            lambda cm: cm(bucket, pool=pool, **extra),
        )
        return lambda fn: _inject_pooled(fn, pooled, name)
    opener: Opener
    if key is not None:
        profile = _profile_resolver(key, config)

        def opener() -> AbstractAsyncContextManager[Any]:
            return _api.nats_kv_store(bucket, profile(), **extra)

    elif config is not None:

        def opener() -> AbstractAsyncContextManager[Any]:
            return _api.nats_kv_store(bucket, config, **extra)

    else:

        def opener() -> AbstractAsyncContextManager[Any]:
            return _api.nats_kv_store(bucket, **extra)

    return lambda fn: _inject(fn, opener, name)
