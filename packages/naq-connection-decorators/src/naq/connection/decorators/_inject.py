"""``with_nats_connection``, ``with_jetstream_context``, ``with_kv_store``: inject a resource per call.

Each decorated call enters one of core's context managers and passes what it yields as the first
argument (after ``self`` / ``cls`` for methods), followed by the caller's own arguments. There is
one path per decorator: the context manager is read from ``naq.connection.decorators`` on every
call (``getattr(_api, "nats_connection")``), never bound here, so a test that patches
``naq.connection.decorators.nats_connection`` sees its replacement called -- with ``pool=pool``
when the decorator was given a pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, overload

import naq.connection.decorators as _api
from naq.connection.config import redact_url
from naq.connection.decorators._signature import (
    copy_metadata,
    injection_point,
    require_async,
    unwrap_descriptor,
)
from naq.connection.errors import NaqConfigError

if TYPE_CHECKING:
    from naq.connection.config import Config, NatsConfig
    from naq.connection.pool import ConnectionPool

__all__ = ["with_jetstream_context", "with_kv_store", "with_nats_connection"]

P = ParamSpec("P")
R = TypeVar("R")

Opener = Callable[[], AbstractAsyncContextManager[Any]]
"""Enters the context manager of one call: ``lambda: _api.nats_connection(pool=pool)``."""


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
        raise NaqConfigError(
            f"{decorator}(config_key=...) must be a non-empty profile name, got {config_key!r}",
            field="config_key",
            source="argument",
            value=repr(config_key),
        )
    if "://" in config_key:
        shown = redact_url(config_key)
        raise NaqConfigError(
            f"{decorator}: config_key is the name of a connection profile, but {shown!r} looks like "
            "a server URL; pass it as config=...",
            field="config_key",
            source="argument",
            value=repr(shown),
        )
    return config_key


def _check_sources(config_key: str | None, config: object, pool: object, decorator: str) -> None:
    if pool is not None:
        if config_key is not None or config is not None:
            raise NaqConfigError(
                f"{decorator}: pass either pool= or config_key/config=, not both -- a ConnectionPool "
                "carries its own configuration (give it to ConnectionPool(config) instead).",
                field="pool",
                source="argument",
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


def _opener(
    surface: str,
    leading: tuple[Any, ...],
    extra: dict[str, Any],
    config_key: str | None,
    config: object,
    pool: object,
) -> Opener:
    """The per-call entry of ``naq.connection.decorators.<surface>`` for one decoration.

    ``leading`` are positional arguments before the config (the bucket name), ``extra`` keyword
    arguments after it (``create=True``). A ``config_key`` profile is looked up at call time, so a
    ``set_config`` after decoration is honoured.
    """
    if pool is not None:
        if not leading and not extra:
            return lambda: getattr(_api, surface)(pool=pool)
        return lambda: getattr(_api, surface)(*leading, pool=pool, **extra)
    if config_key is not None:
        if config is not None:
            return lambda: getattr(_api, surface)(*leading, config.profile(config_key), **extra)  # type: ignore[attr-defined]
        return lambda: getattr(_api, surface)(*leading, _api.get_config().profile(config_key), **extra)
    if config is not None:
        return lambda: getattr(_api, surface)(*leading, config, **extra)
    return lambda: getattr(_api, surface)(*leading, **extra)


# --------------------------------------------------------------------------------------------
# the wrapper


def _inject(fn_or_descriptor: Any, opener: Opener, decorator: str, *, jetstream: bool = False) -> Any:
    """Wrap ``fn`` so each call runs inside ``opener()`` and receives what it yields.

    ``jetstream``: the context manager yields ``(conn, js)`` and ``js`` is injected.
    """
    fn, rewrap = unwrap_descriptor(fn_or_descriptor)
    require_async(fn, decorator)
    injection = injection_point(fn, decorator)
    if injection.method:  # after self / cls

        async def wrapper(instance: Any, /, *args: Any, **kwargs: Any) -> Any:
            async with opener() as resource:
                if jetstream:
                    _conn, resource = resource
                return await fn(instance, resource, *args, **kwargs)

    else:

        async def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            async with opener() as resource:
                if jetstream:
                    _conn, resource = resource
                return await fn(resource, *args, **kwargs)

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

    Each call runs ``async with nats_connection(...) as conn``. ``@with_nats_connection`` (bare) and
    ``@with_nats_connection()`` pass no config (core uses the global one); ``config_key`` selects a
    named profile at call time (``get_config().profile(key)``; unknown names raise
    ``NaqConfigError`` listing the known ones); ``config=`` passes a ``Config``, ``NatsConfig`` or
    URL through; ``pool=`` passes ``pool=pool`` (a shared connection borrowed from the pool).
    Methods get the connection after ``self`` / ``cls``.
    """
    name = "with_nats_connection"

    def build(key: str | None) -> Callable[[Any], Any]:
        _check_sources(key, config, pool, name)
        opener = _opener("nats_connection", (), {}, key, config, pool)
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
    arguments select the configuration (or pool) exactly as for :func:`with_nats_connection`.
    """
    name = "with_jetstream_context"

    def build(key: str | None) -> Callable[[Any], Any]:
        _check_sources(key, config, pool, name)
        opener = _opener("nats_jetstream", (), {}, key, config, pool)
        return lambda fn: _inject(fn, opener, name, jetstream=True)

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

    Each call runs ``async with nats_kv_store(bucket, ...) as kv``; ``create=True`` adds
    ``create=True`` (create the bucket if missing). A missing bucket otherwise raises core's
    ``NaqBucketNotFoundError``. ``config_key`` / ``config=`` / ``pool=`` select the connection as
    for :func:`with_nats_connection`.
    """
    name = "with_kv_store"
    given: object = bucket  # checked at run time: a bare @with_kv_store passes the function here
    if not isinstance(given, str):
        what = "a function" if callable(given) else type(given).__name__
        raise TypeError(
            f"{name} needs a bucket name (str) as its first argument, got {what}; write "
            "@with_kv_store('bucket') -- it cannot be used bare."
        )
    if not bucket.strip():
        raise NaqConfigError(
            f"{name}(bucket=...) must be a non-empty bucket name, got {bucket!r}",
            field="bucket",
            source="argument",
            value=repr(bucket),
        )
    flag: object = create
    if not isinstance(flag, bool):
        raise TypeError(f"{name}(create=...) must be True or False, got {type(flag).__name__}")
    key = _check_config_key(config_key, name)
    _check_sources(key, config, pool, name)
    opener = _opener("nats_kv_store", (bucket,), {"create": True} if create else {}, key, config, pool)
    return lambda fn: _inject(fn, opener, name)
