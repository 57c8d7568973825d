"""Async context managers for NATS connections, JetStream contexts and KV / object-store buckets.

::

    async with nats_connection("nats://127.0.0.1:4222") as nc:
        await nc.publish("subject", b"data")

    async with nats_kv_store("settings", create=True) as kv:
        await kv.put("key", b"value")

Every helper accepts a :class:`~naq.connection.config.Config`, a
:class:`~naq.connection.config.NatsConfig`, a URL string (one or comma-separated, applied over the
global config) or ``None`` (``get_config().nats``, looked up on enter), and ``pool=`` to borrow from a
:class:`~naq.connection.pool.ConnectionPool` instead of connecting (with ``reuse_connections`` on, the
per-event-loop default pool is used without asking). Passing both ``config`` and ``pool`` is a
:class:`~naq.connection.errors.NaqConfigError`, raised at the call.

They compose each other, looking the names up in this module on every call, so tests can patch them
(``mock.patch("naq.connection.context_managers.nats_connection", ...)``): ``nats_jetstream()`` enters
``nats_connection()`` then ``jetstream_context()``; ``nats_kv_store()`` / ``nats_object_store()``
without a pool enter ``nats_jetstream()`` and bind the bucket. Other patch points: ``get_config`` and
``get_default_pool``; patch ``nats.connect`` itself to replace the connect. Core logs through the
``naq.connection`` logger (``logging.getLogger("naq.connection")``): capture it with a handler
(pytest's ``caplog``) rather than by patching a module attribute.

Connections are opened and closed by :mod:`naq.connection._connection` (fail fast, bounded close,
cancellation always wins); buckets are bound by :mod:`naq.connection._buckets`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from naq.connection._buckets import KV, OBJECT_STORE, BucketKind, bind_bucket, check_bucket_args
from naq.connection._connection import close_connection, connection_id, open_connection
from naq.connection.config import Config, NatsConfig, config_type_error, get_config
from naq.connection.errors import NaqConfigError
from naq.connection.pool import ConnectionPool, get_default_pool

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue
    from nats.js.object_store import ObjectStore

__all__ = [
    "close_connection",
    "connection_id",
    "jetstream_context",
    "nats_connection",
    "nats_jetstream",
    "nats_kv_store",
    "nats_object_store",
    "open_connection",
]

ConfigLike = Config | NatsConfig | str | None
_T = TypeVar("_T")


def _resolve(config: ConfigLike) -> NatsConfig:
    """The NatsConfig for a helper's ``config`` argument, using this module's ``get_config``."""
    if config is None:
        return get_config().nats
    if isinstance(config, NatsConfig):
        return config
    if isinstance(config, Config):
        return config.nats
    if isinstance(config, str):
        return _with_servers(get_config().nats, config)
    raise config_type_error(config)


@functools.lru_cache(maxsize=64)
def _with_servers(base: NatsConfig, servers: str) -> NatsConfig:
    """``base`` with other servers (validated once per URL string and base config)."""
    return base.replace(servers=servers)


def _check_pool_args(config: object, pool: object) -> None:
    if pool is None:
        return
    if config is not None:
        raise NaqConfigError(
            "pass either config= or pool=, not both: a pool's connections use the pool's own config",
            field="pool",
            source="argument",
        )
    if not isinstance(pool, ConnectionPool):
        raise TypeError(f"pool must be a naq.connection.ConnectionPool, got {type(pool).__name__}")


# ---------------------------------------------------------------------------------------- connection


class _Connection:
    """``async with nats_connection(config) as nc``: open on enter and close on exit, or borrow from
    the default pool when the config (resolved on enter) says ``reuse_connections``."""

    __slots__ = ("_borrow", "_config", "_conn")

    def __init__(self, config: ConfigLike) -> None:
        self._config = config
        self._conn: Client | None = None
        self._borrow: AbstractAsyncContextManager[Client] | None = None

    async def __aenter__(self) -> Client:
        config = _resolve(self._config)
        if not config.reuse_connections:
            conn = self._conn = await open_connection(config)
            return conn
        borrow = get_default_pool(config).connection()
        conn = await borrow.__aenter__()
        self._borrow = borrow
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        borrow, conn = self._borrow, self._conn
        self._borrow = self._conn = None
        if borrow is not None:
            await borrow.__aexit__(exc_type, exc, tb)
        elif conn is not None:
            await close_connection(conn)


def nats_connection(
    config: ConfigLike = None, *, pool: ConnectionPool | None = None
) -> AbstractAsyncContextManager[Client]:
    """``async with nats_connection(config) as nc``: a connected nats-py client, closed on exit.

    The connection is closed however the block ends (normally, by an exception -- re-raised
    unchanged -- or by cancellation). With ``pool=`` this is the pool's own borrow
    (``pool.connection()``), and with ``reuse_connections`` on the default pool's: the connection is
    lent, not closed. A connect failure raises :class:`~naq.connection.errors.NaqConnectionError`
    within ``connection_timeout`` + 1 s.
    """
    if pool is not None:
        if config is not None or not isinstance(pool, ConnectionPool):
            _check_pool_args(config, pool)
        return pool.connection()
    return _Connection(config)


# ---------------------------------------------------------------------------------------- JetStream


class _JetStreamContext:
    __slots__ = ("_conn", "_options")

    def __init__(self, conn: Client, options: dict[str, Any]) -> None:
        self._conn = conn
        self._options = options

    async def __aenter__(self) -> JetStreamContext:
        return self._conn.jetstream(**self._options)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def jetstream_context(conn: Client, **jetstream_options: Any) -> _JetStreamContext:
    """``async with jetstream_context(nc, **options) as js``: ``nc.jetstream(**options)``.

    A JetStream context holds no server resources, so leaving the block releases nothing; the
    connection stays open (it is the caller's).
    """
    return _JetStreamContext(conn, jetstream_options)


def nats_jetstream(
    config: ConfigLike = None, *, pool: ConnectionPool | None = None, **jetstream_options: Any
) -> AbstractAsyncContextManager[tuple[Client, JetStreamContext]]:
    """``async with nats_jetstream(config) as (nc, js)``: ``nats_connection()`` + ``jetstream_context()``.

    ``config`` as for :func:`nats_connection`; ``jetstream_options`` go to ``nc.jetstream()``
    (``domain``, ``prefix``, ``timeout``). The connection is closed on exit. With ``pool=`` this is
    the pool's borrow: its client and its cached JetStream context, nothing closed.
    """
    if pool is not None:
        _check_pool_args(config, pool)
        return pool._connection_and_jetstream(**jetstream_options)
    return _JetStream(config, jetstream_options)


class _JetStream:
    """Enters this module's ``nats_connection`` then ``jetstream_context`` (looked up on enter)."""

    __slots__ = ("_config", "_connection", "_context", "_options")

    def __init__(self, config: ConfigLike, options: dict[str, Any]) -> None:
        self._config = config
        self._options = options
        self._connection: AbstractAsyncContextManager[Client] | None = None
        self._context: AbstractAsyncContextManager[JetStreamContext] | None = None

    async def __aenter__(self) -> tuple[Client, JetStreamContext]:
        connection = nats_connection(self._config)
        nc = await connection.__aenter__()
        try:
            context = jetstream_context(nc, **self._options)
            js = await context.__aenter__()
        except BaseException as exc:
            await connection.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._connection, self._context = connection, context
        return nc, js

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, context = self._connection, self._context
        self._connection = self._context = None
        try:
            if context is not None:
                await context.__aexit__(exc_type, exc, tb)
        finally:
            if connection is not None:
                await connection.__aexit__(exc_type, exc, tb)


# ---------------------------------------------------------------------------------------- buckets


def nats_kv_store(
    bucket: str,
    config: ConfigLike = None,
    *,
    create: bool = False,
    pool: ConnectionPool | None = None,
    **kv_options: Any,
) -> AbstractAsyncContextManager[KeyValue]:
    """``async with nats_kv_store("bucket") as kv``: a JetStream KV bucket.

    Without a pool: ``nats_jetstream(config)`` and ``js.key_value(bucket)``, the connection closed on
    exit; with ``pool=`` (or ``reuse_connections`` on): the pool's cached handle. A missing bucket
    raises :class:`~naq.connection.errors.NaqBucketNotFoundError` unless ``create=True``, which
    creates it with ``js.create_key_value(bucket=bucket, **kv_options)`` (``history``, ``ttl``,
    ``max_bytes``, ...; they apply only on creation). Bad arguments raise before any connect; a server
    without JetStream raises :class:`~naq.connection.errors.NaqConnectionError`.
    """
    if pool is not None:  # the pool checks the bucket arguments
        _check_pool_args(config, pool)
        return pool.kv_store(bucket, create=create, **kv_options)
    name = check_bucket_args(KV, bucket, create, kv_options)
    return _bucket(KV, name, config, create, kv_options)


def nats_object_store(
    bucket: str,
    config: ConfigLike = None,
    *,
    create: bool = False,
    pool: ConnectionPool | None = None,
    **os_options: Any,
) -> AbstractAsyncContextManager[ObjectStore]:
    """``async with nats_object_store("bucket") as store``: like :func:`nats_kv_store` for object stores
    (``js.object_store(bucket)`` / ``js.create_object_store(bucket=bucket, **os_options)``)."""
    if pool is not None:  # the pool checks the bucket arguments
        _check_pool_args(config, pool)
        return pool.object_store(bucket, create=create, **os_options)
    name = check_bucket_args(OBJECT_STORE, bucket, create, os_options)
    return _bucket(OBJECT_STORE, name, config, create, os_options)


@asynccontextmanager
async def _bucket(
    kind: BucketKind, bucket: str, config: ConfigLike, create: bool, options: dict[str, Any]
) -> AsyncIterator[Any]:
    """Without a pool: ``nats_jetstream`` and bind; with ``reuse_connections``: the default pool's handle."""
    resolved = _resolve(config)
    if not resolved.reuse_connections:
        async with nats_jetstream(resolved) as (_, js):
            servers = resolved.redacted_servers()
            yield await _in_own_task(
                bind_bucket(js, kind, bucket, create=create, options=options, servers=servers)
            )
        return
    pool = get_default_pool(resolved)
    borrow = (
        pool.kv_store(bucket, create=create, **options)
        if kind == KV
        else pool.object_store(bucket, create=create, **options)
    )
    async with borrow as handle:
        yield handle


async def _in_own_task(coro: Any) -> Any:
    """Await ``coro`` in a task of its own, so a cancellation of the caller always takes effect.

    nats-py's requests wait with ``asyncio.wait_for``, which on Python < 3.12 can drop a
    cancellation that arrives as the reply does; ``asyncio.wait`` never drops it.
    """
    task: asyncio.Future[Any] = asyncio.ensure_future(coro)
    task.add_done_callback(_retrieve)
    try:
        await asyncio.wait((task,))
    except BaseException:
        task.cancel()
        raise
    return task.result()


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # seen: an abandoned task's error must not be reported as never retrieved
