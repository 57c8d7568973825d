"""ConnectionPool: long-lived, shared NATS connections with cached JetStream and bucket handles.

NATS connections are multiplexed and meant to live long; opening one per operation costs a TCP
connect and a handshake (~1 ms) and, for KV, a bucket lookup (~0.5 ms). A pool opens ``size``
connections lazily, lends them round-robin to any number of concurrent borrowers and never closes
them on return::

    async with ConnectionPool("nats://127.0.0.1:4222") as pool:
        async with pool.connection() as nc:
            await nc.publish("subject", b"data")
        async with pool.kv_store("bucket", create=True) as kv:
            await kv.put("key", b"value")

Design:

- **Lazy, single-flight connects.** A slot connects at its first borrow; concurrent borrowers of
  a slot share one connect task (no thundering herd). A failed connect is not cached: the next
  borrow tries again. Connections are opened with
  ``naq.connection.context_managers.open_connection(config, pooled=True)`` and closed with
  ``close_connection``, both looked up at call time (patches of ``context_managers.nats`` apply),
  so the connect/close events count one pooled connection as one connection.
- **Replacement.** A connection that is closed for good (``is_closed``: reconnect attempts
  exhausted, or closed by someone) is replaced at its next borrow. One that is merely
  reconnecting is lent as is: nats-py buffers publishes while it reconnects.
- **Caches.** JetStream contexts are cached per connection and options; KV and object-store
  handles per connection and bucket. Replacing a connection drops its caches. A nats-py bucket
  handle is a thin wrapper over the stream's name and subjects and is never checked against the
  server, so instead of paying a round trip per borrow the pool drops a cached handle when an
  operation inside the borrow raises an error meaning the stream is gone (stream not found, no
  stream response, no responders); the next borrow looks the bucket up again and raises
  :class:`~naq.connection.errors.NaqBucketNotFoundError` if it is still missing.
  :meth:`ConnectionPool.invalidate` drops handles explicitly (e.g. after recreating a bucket with
  a different configuration while no error was seen).
- **Loop binding.** asyncio connections belong to one event loop. A pool binds to the loop it is
  first used on and raises :class:`~naq.connection.errors.NaqConnectionError` when used from
  another one (instead of hanging on futures of the wrong loop).

Global state: default pools (:func:`get_default_pool`) live in a module-level
``WeakKeyDictionary`` keyed by event loop, one pool per (loop, NatsConfig). Reset it with
``await close_default_pools()`` from each loop that used it; pools of loops that were closed
without it are dropped (with a warning) the next time a default pool is created. A pool holding
open connections at interpreter exit logs one warning (and a ``ResourceWarning`` when collected);
it never raises.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from threading import get_ident
from types import TracebackType
from typing import TYPE_CHECKING, Any

import nats.js.errors

from naq.connection import events as _events
from naq.connection._buckets import (
    KV_LABEL,
    OBJECT_STORE_LABEL,
    check_bucket_args,
    jetstream_unavailable,
)
from naq.connection._buckets import checked_names as _valid_bucket_names
from naq.connection._pool_borrow import KV, OBJECT_STORE, BucketBorrow, ConnectionBorrow, JetStreamBorrow
from naq.connection._pool_slot import STREAM_EXISTS_ERR_CODE, Slot
from naq.connection.errors import NaqBucketNotFoundError, NaqConfigError, NaqConnectionError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue
    from nats.js.object_store import ObjectStore

    from naq.connection.config import Config, NatsConfig

__all__ = ["ConnectionPool", "PoolStats", "close_default_pools", "get_default_pool"]

logger = logging.getLogger("naq.connection")


@dataclass(frozen=True)
class PoolStats:
    """Counters of one pool since it was created."""

    size: int
    """Configured number of connections."""
    open_connections: int
    """Connections currently held and not closed for good."""
    borrows: int
    """Successful borrows (connection, JetStream, KV, object store)."""
    connections_opened: int
    """Connections successfully opened (first connects plus replacements)."""
    connect_failures: int
    """Connect attempts that failed."""
    replacements: int
    """Connections that were closed for good and replaced by a new one (counted once per new
    connection, however many connect attempts the replacement took)."""
    bucket_lookups: int
    """Bucket lookups (and creations) that hit the server."""
    bucket_invalidations: int
    """Cached bucket handles dropped because their stream was gone (or :meth:`invalidate`)."""
    closed: bool


class ConnectionPool:
    """A per-event-loop pool of ``size`` shared NATS connections (see the module docstring).

    ``config`` is a :class:`~naq.connection.config.Config`, a
    :class:`~naq.connection.config.NatsConfig`, a URL (or comma-separated URLs) or ``None``. An
    explicit config is resolved now (bad values fail here); ``None`` follows the global config
    (:func:`~naq.connection.config.get_config`) as it is at the pool's first use, so a module-level
    pool picks up ``set_config`` / ``load_config`` done at startup.
    """

    def __init__(self, config: Config | NatsConfig | str | None = None, *, size: int = 1) -> None:
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"ConnectionPool size must be an int >= 1, got {type(size).__name__}")
        if size < 1:
            raise NaqConfigError(
                f"ConnectionPool size must be an integer >= 1, got {size!r}: "
                "pass size=1 to share one connection, more to spread load over several",
                field="size",
                source="ConnectionPool argument",
                value=repr(size),
            )
        self._size = size
        self._config: NatsConfig | None = _resolve(config) if config is not None else None
        self._slots = [Slot(i) for i in range(size)]
        self._slot0 = self._slots[0]
        self._next = 0
        self._loop_ref: Callable[[], asyncio.AbstractEventLoop | None] = _unbound
        self._fast_slot: Slot | None = None
        """slot0 while the pool is open, has one slot and is bound to an asyncio BaseEventLoop: the
        borrow fast path then checks the loop with ``loop._thread_id == get_ident()`` (a loop is
        running in this thread, and only one can) instead of the slower ``get_running_loop()``."""
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        self._borrows = 0
        self._opened = 0
        self._connect_failures = 0
        self._replacements = 0
        self._lookups = 0
        self._invalidations = 0
        self._connection_borrow = ConnectionBorrow(self)
        self._jetstream_borrow = JetStreamBorrow(self, {})

    # ------------------------------------------------------------------ public API

    @property
    def config(self) -> NatsConfig:
        """The resolved connection settings (resolving the global config now if still unresolved)."""
        if self._config is None:
            self._config = _resolve(None)
        return self._config

    @property
    def size(self) -> int:
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def connection(self) -> ConnectionBorrow:
        """Borrow a connected nats client: ``async with pool.connection() as nc``. Never closes it."""
        return self._connection_borrow

    def jetstream(self, **jetstream_options: Any) -> JetStreamBorrow:
        """Borrow a JetStream context (``conn.jetstream(**jetstream_options)``, cached)."""
        if not jetstream_options:
            return self._jetstream_borrow
        return JetStreamBorrow(self, jetstream_options)

    def kv_store(self, bucket: str, *, create: bool = False, **kv_config: Any) -> BucketBorrow[KeyValue]:
        """Borrow the KV bucket ``bucket`` (handle cached per connection).

        A missing bucket raises :class:`~naq.connection.errors.NaqBucketNotFoundError` unless
        ``create`` is true, in which case it is created with ``kv_config``
        (``js.create_key_value(bucket=bucket, **kv_config)``). An existing bucket is used as it is:
        ``kv_config`` only applies when the pool creates the bucket, so passing it without
        ``create=True`` is a :class:`~naq.connection.errors.NaqConfigError`, like an invalid name
        (both raised here, before any connect; a name that is not a ``str`` is a ``TypeError``).
        On a server without JetStream entering raises :class:`NaqConnectionError` naming the servers.
        """
        if bucket.__class__ is not str or bucket not in _valid_bucket_names or (kv_config and not create):
            check_bucket_args(KV_LABEL, bucket, create, kv_config)
        return BucketBorrow(self, KV, bucket, create, kv_config)

    def object_store(
        self, bucket: str, *, create: bool = False, **os_config: Any
    ) -> BucketBorrow[ObjectStore]:
        """Borrow the object-store bucket ``bucket``; ``create`` and checks as for :meth:`kv_store`."""
        if bucket.__class__ is not str or bucket not in _valid_bucket_names or (os_config and not create):
            check_bucket_args(OBJECT_STORE_LABEL, bucket, create, os_config)
        return BucketBorrow(self, OBJECT_STORE, bucket, create, os_config)

    async def acquire(self) -> Client:
        """Borrow a connected client without a context manager (the fast path for wrappers).

        Pooled connections are shared, so there is nothing to give back: do not close it.
        """
        slot, conn = await self._ready()
        self._lent(slot)
        return conn

    def acquire_nowait(self) -> Client | None:
        """The live connection to lend next, without awaiting; ``None`` when :meth:`acquire` must run.

        The synchronous twin of :meth:`acquire` for wrappers on hot paths: it saves a coroutine per
        borrow. It returns ``None`` (and borrows nothing) whenever the slow path has work to do --
        the pool is not yet bound or connected, a connection must be replaced, the pool is closed,
        or the caller is not on the pool's event loop -- so ``pool.acquire_nowait() or await
        pool.acquire()`` behaves exactly like ``await pool.acquire()``.
        """
        # _lendable_slot() and _lent(slot), inlined: this is the hottest path (a pooled decorated
        # core publish, held to 1.3x a raw publish; each call saved is ~60 ns of a ~1.5 us call)
        slot = self._fast_slot
        if slot is None:
            return None
        loop: Any = self._loop_ref()
        if loop is None or loop._thread_id != get_ident():
            return None
        conn = slot.conn
        if conn is None or conn.is_closed:
            return None
        self._borrows += 1
        if _events._listeners:
            self._emit_borrowed(slot)
        return conn

    async def acquire_jetstream(self) -> JetStreamContext:
        """Borrow the cached default JetStream context of a pooled client, without a context manager.

        What ``async with pool.jetstream() as js`` gives, for wrappers on hot paths; nothing to give back.
        """
        slot, conn = await self._ready()
        js = slot.jetstream(conn)
        self._lent(slot)
        return js

    def jetstream_nowait(self) -> JetStreamContext | None:
        """The synchronous twin of :meth:`acquire_jetstream`: ``None`` (borrowing nothing) whenever
        the slow path has work to do, exactly as for :meth:`acquire_nowait`."""
        slot = self._lendable_slot()
        if slot is None:
            return None
        js = slot.jetstream(slot.conn)  # type: ignore[arg-type]  # _lendable_slot checked it
        self._lent(slot)
        return js

    def _lendable_slot(self) -> Slot | None:
        """The slot to lend next when that needs no await: one slot, bound to this thread's running
        loop, connection live (see :meth:`_ready`); else ``None``."""
        slot = self._fast_slot
        if slot is None:
            return None
        loop: Any = self._loop_ref()
        if loop is None or loop._thread_id != get_ident():
            return None
        conn = slot.conn
        if conn is None or conn.is_closed:
            return None
        return slot

    async def open(self) -> None:
        """Connect every slot now rather than at first borrow (fail fast at startup)."""
        self._checkout()
        for slot in self._slots:
            if not slot.is_open:
                await self._connect(slot)

    def invalidate(self, bucket: str | None = None) -> None:
        """Drop cached bucket handles (of ``bucket``, or all): the next borrow looks them up again."""
        for slot in self._slots:
            for cache in (slot.kv, slot.objects):
                if bucket is None:
                    self._invalidations += len(cache)
                    cache.clear()
                elif cache.pop(bucket, None) is not None:
                    self._invalidations += 1

    def stats(self) -> PoolStats:
        """A snapshot of the pool's counters (cheap; safe to call from any thread)."""
        return PoolStats(
            size=self._size,
            open_connections=self._open_count(),
            borrows=self._borrows,
            connections_opened=self._opened,
            connect_failures=self._connect_failures,
            replacements=self._replacements,
            bucket_lookups=self._lookups,
            bucket_invalidations=self._invalidations,
            closed=self._closed,
        )

    async def close(self) -> None:
        """Close every connection (flushed, bounded by the config's timeouts). Idempotent; never raises
        for connection problems. Borrowing afterwards raises :class:`NaqConnectionError`.

        Must run on the pool's event loop; if that loop is already closed the connections cannot
        be closed gracefully and are dropped with a warning.
        """
        if self._closed:
            if self._closing is not None and not self._closing.done():
                await asyncio.shield(self._closing)
            return
        loop = asyncio.get_running_loop()
        bound = self._loop_ref()
        if self._loop_ref is not _unbound and bound is not loop:
            if bound is not None and not bound.is_closed():
                raise NaqConnectionError(self._wrong_loop_message(bound, loop))
            self._abandon("its event loop was closed before the pool")
            return
        self._closed = True
        self._fast_slot = None
        self._closing = loop.create_future()
        try:
            pending = [task for slot in self._slots for task in slot.pending_tasks()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            conns = [slot.conn for slot in self._slots if slot.conn is not None]
            for slot in self._slots:
                slot.reset(None)
            if conns:
                from naq.connection import context_managers as cm

                await asyncio.gather(*(cm.close_connection(c) for c in conns), return_exceptions=True)
        finally:
            _live_pools.discard(self)
            self._closing.set_result(None)

    async def __aenter__(self) -> ConnectionPool:
        self._checkout()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        if self._config is not None:
            servers: object = self._config.redacted_servers()
        else:
            servers = "<global config>"
        state = "closed" if self._closed else "open"
        return (
            f"<ConnectionPool servers={servers} size={self._size} "
            f"open_connections={self._open_count()} borrows={self._borrows} {state}>"
        )

    def __del__(self) -> None:
        try:
            if not self._closed and self._open_count():
                warnings.warn(
                    f"unclosed {self!r}: call `await pool.close()` (or `async with pool`)",
                    ResourceWarning,
                    source=self,
                    stacklevel=1,
                )
        except Exception:  # noqa: S110 -- nothing may escape __del__, least of all at shutdown
            pass

    # ------------------------------------------------------------------ internals (borrow paths)

    def _checkout(self) -> Slot:
        """The slot to lend next (round-robin); checks closed state and the event loop. Sync, cheap."""
        if self._closed:
            raise NaqConnectionError(
                f"{self!r} is closed: create a new ConnectionPool (or use get_default_pool())"
            )
        if self._loop_ref() is not asyncio.get_running_loop():
            self._bind_loop()
        if self._size == 1:
            return self._slot0
        i = self._next
        self._next = i + 1 if i + 1 < self._size else 0
        return self._slots[i]

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop_ref is _unbound:
            self._bind(loop)
            return
        bound = self._loop_ref()
        if bound is not loop:
            raise NaqConnectionError(self._wrong_loop_message(bound, loop))

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._config is None:
            self._config = _resolve(None)
        self._loop_ref = weakref.ref(loop)
        if self._size == 1 and isinstance(loop, asyncio.BaseEventLoop) and hasattr(loop, "_thread_id"):
            self._fast_slot = self._slot0

    def _wrong_loop_message(
        self, bound: asyncio.AbstractEventLoop | None, loop: asyncio.AbstractEventLoop
    ) -> str:
        why = "that loop is closed" if bound is None or bound.is_closed() else "that loop is still open"
        return (
            f"{self!r} is bound to the event loop it was first used on ({why}) and cannot be used "
            f"from another event loop ({type(loop).__name__} at {id(loop):#x}): create one "
            "ConnectionPool per event loop, or use get_default_pool() which keeps one per loop"
        )

    async def _ready(self) -> tuple[Slot, Client]:
        """The slot to lend next and its live connection, connecting (or replacing) it if needed.

        The fast path -- one slot, bound to this thread's running loop, connection live -- is a few
        attribute reads with no suspension: ``loop._thread_id == get_ident()`` means a loop runs
        in this thread and only one can (see ``_fast_slot``). Anything else goes to ``_checkout``.
        """
        loop: Any = self._loop_ref()
        slot = self._fast_slot
        if slot is None or loop is None or loop._thread_id != get_ident():
            slot = self._checkout()
        conn = slot.conn
        if conn is None or conn.is_closed:
            conn = await self._connect(slot)
        return slot, conn

    def _lent(self, slot: Slot) -> None:
        """Count a borrow of ``slot`` (and tell listeners, if any)."""
        self._borrows += 1
        if _events._listeners:
            self._emit_borrowed(slot)

    async def _connect(self, slot: Slot) -> Client:
        """Connect (or replace) ``slot``'s connection; concurrent callers share one attempt."""
        task = slot.connecting
        if task is None:
            task = asyncio.get_running_loop().create_task(self._open_slot(slot))
            task.add_done_callback(_retrieve_exception)
            slot.connecting = task
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and self._closed:
                raise NaqConnectionError(f"{self!r} was closed while connecting") from None
            raise

    async def _open_slot(self, slot: Slot) -> Client:
        from naq.connection import context_managers as cm

        try:
            old = slot.conn
            if old is not None:
                slot.replacing = True  # stays set until a new connection is in, whatever fails first
                slot.reset(None)
                await cm.close_connection(old)  # already closed for good: cleanup + CLOSED event once
            try:
                conn = await cm.open_connection(self.config, pooled=True)
            except Exception:
                self._connect_failures += 1
                raise
            if self._closed:
                await cm.close_connection(conn)
                raise NaqConnectionError(f"{self!r} was closed while connecting")
            slot.reset(conn, _connection_id(conn))
            self._opened += 1
            if slot.replacing:
                slot.replacing = False
                self._replacements += 1
            _live_pools.add(self)
            return conn
        finally:
            slot.connecting = None

    async def _lookup_bucket(
        self, slot: Slot, conn: Client, kind: str, bucket: str, create: bool, config: dict[str, Any]
    ) -> Any:
        """Look ``bucket`` up (single-flight per slot) and cache it; create it if asked to.

        The name and options were checked when the borrow was made (:meth:`kv_store`). A JetStream
        503 (not enabled, no leader) becomes the same ``NaqConnectionError`` the context managers
        raise, naming the pool's servers, with nats-py's error chained.
        """
        key = (kind, bucket)
        task = slot.lookups.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch_bucket(slot, conn, kind, bucket))
            task.add_done_callback(_retrieve_exception)
            slot.lookups[key] = task
        try:
            return await asyncio.shield(task)
        except nats.js.errors.BucketNotFoundError as exc:
            if not create:
                label = KV_LABEL if kind == KV else OBJECT_STORE_LABEL
                raise NaqBucketNotFoundError(
                    f"JetStream {label} bucket {bucket!r} does not exist: create it first, "
                    "or borrow it with create=True",
                    bucket=bucket,
                ) from exc
        except nats.js.errors.ServiceUnavailableError as exc:
            raise jetstream_unavailable(self.config.redacted_servers()) from exc
        except asyncio.CancelledError:
            if task.cancelled() and self._closed:
                raise NaqConnectionError(f"{self!r} was closed while looking up {bucket!r}") from None
            raise
        try:
            return await self._create_bucket(slot, conn, kind, bucket, config)
        except nats.js.errors.ServiceUnavailableError as exc:
            raise jetstream_unavailable(self.config.redacted_servers()) from exc

    async def _fetch_bucket(self, slot: Slot, conn: Client, kind: str, bucket: str) -> Any:
        try:
            js = slot.jetstream(conn)
            self._lookups += 1
            handle: Any = await (js.key_value(bucket) if kind == KV else js.object_store(bucket))
            if slot.conn is conn:
                (slot.kv if kind == KV else slot.objects)[bucket] = handle
            return handle
        finally:
            key = (kind, bucket)
            if slot.lookups.get(key) is asyncio.current_task():
                del slot.lookups[key]

    async def _create_bucket(
        self, slot: Slot, conn: Client, kind: str, bucket: str, config: dict[str, Any]
    ) -> Any:
        js = slot.jetstream(conn)
        self._lookups += 1
        handle: Any
        try:
            if kind == KV:
                handle = await js.create_key_value(bucket=bucket, **config)
            else:
                handle = await js.create_object_store(bucket=bucket, **config)
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != STREAM_EXISTS_ERR_CODE:
                raise
            # created concurrently with another configuration: use the bucket that exists
            handle = await (js.key_value(bucket) if kind == KV else js.object_store(bucket))
        cache = slot.kv if kind == KV else slot.objects
        if slot.conn is conn:
            handle = cache.setdefault(bucket, handle)
        return handle

    def _invalidate(self, slot: Slot, kind: str, bucket: str, handle: object) -> None:
        cache: dict[str, Any] = slot.kv if kind == KV else slot.objects
        if cache.get(bucket) is handle:
            del cache[bucket]
            self._invalidations += 1

    def _emit_borrowed(self, slot: Slot) -> None:
        conn = slot.conn
        _events.emit(
            _events.ConnectionEvent(
                kind=_events.ConnectionEventKind.BORROWED,
                connection_id=slot.connection_id,
                client_name=self.config.client_name,
                server=_server_of(conn),
                pooled=True,
            )
        )

    def _open_count(self) -> int:
        return sum(1 for slot in self._slots if slot.is_open)

    def _abandon(self, why: str) -> None:
        """Mark closed without closing connections we can no longer reach (their loop is gone)."""
        count = self._open_count()
        self._closed = True
        self._fast_slot = None
        for slot in self._slots:
            slot.reset(None)
            slot.connecting = None
            slot.lookups.clear()
        _live_pools.discard(self)
        if count:
            logger.warning(
                "naq.connection: dropped %d pooled connection(s) without closing them: %s; "
                "call `await pool.close()` (or `await close_default_pools()`) before the loop ends",
                count,
                why,
            )


# ---------------------------------------------------------------------- helpers


def _unbound() -> None:
    """``_loop_ref`` of a pool not bound to a loop yet."""


def _resolve(config: Config | NatsConfig | str | None) -> NatsConfig:
    from naq.connection.config import resolve_nats_config

    return resolve_nats_config(config)


def _connection_id(conn: Client) -> int:
    """The id open_connection gave ``conn`` in its events (so BORROWED matches CONNECTED/CLOSED)."""
    from naq.connection import context_managers as cm

    return cm.connection_id(conn)


def _server_of(conn: Client | None) -> str | None:
    """``scheme://host:port`` of the connected server: built from parts, so never credentials."""
    url = conn.connected_url if conn is not None else None
    if url is None:
        return None
    return f"{url.scheme}://{url.hostname}:{url.port}"


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    """Mark a shared task's exception retrieved (every waiter may have been cancelled)."""
    if not task.cancelled():
        task.exception()


# ---------------------------------------------------------------------- default pools & exit warning

_live_pools: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()
"""Pools that opened a connection and were not closed (for the interpreter-exit warning)."""


class _LoopPools:
    """The default pools of one event loop: by config, plus an identity cache for the hot path."""

    __slots__ = ("by_config", "by_id")

    def __init__(self) -> None:
        self.by_config: dict[NatsConfig, ConnectionPool] = {}
        self.by_id: dict[int, tuple[NatsConfig, ConnectionPool]] = {}

    def pools(self) -> Iterator[ConnectionPool]:
        return iter(list(self.by_config.values()))


_default_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPools] = weakref.WeakKeyDictionary()
_BY_ID_LIMIT = 64


def get_default_pool(config: NatsConfig) -> ConnectionPool:
    """The shared pool of the running event loop for ``config`` (created on first use, size 1).

    Used by the context managers and decorators when ``NatsConfig.reuse_connections`` is on.
    Close them with ``await close_default_pools()`` before the loop ends.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise NaqConnectionError(
            "get_default_pool() needs a running event loop: call it from async code"
        ) from None
    pools = _default_pools.get(loop)
    if pools is not None:
        hit = pools.by_id.get(id(config))
        if hit is not None and hit[0] is config and not hit[1]._closed:
            return hit[1]
    return _default_pool_slow(loop, config)


def _default_pool_slow(loop: asyncio.AbstractEventLoop, config: NatsConfig) -> ConnectionPool:
    pools = _default_pools.get(loop)
    if pools is None:
        _sweep_closed_loops()
        pools = _default_pools[loop] = _LoopPools()
    pool = pools.by_config.get(config)
    if pool is None or pool._closed:
        pool = pools.by_config[config] = ConnectionPool(config)
        pool._bind(loop)
    if len(pools.by_id) >= _BY_ID_LIMIT:
        pools.by_id.clear()
    pools.by_id[id(config)] = (config, pool)
    return pool


def _sweep_closed_loops() -> None:
    """Forget default pools of event loops that were closed without ``close_default_pools()``."""
    for loop, pools in list(_default_pools.items()):
        if loop.is_closed():
            del _default_pools[loop]
            for pool in pools.pools():
                pool._abandon("their event loop was closed without `await close_default_pools()`")


async def close_default_pools() -> None:
    """Close the default pools of the running event loop and forget them (idempotent)."""
    pools = _default_pools.pop(asyncio.get_running_loop(), None)
    if pools is not None:
        await asyncio.gather(*(pool.close() for pool in pools.pools()), return_exceptions=True)


def _warn_unclosed_pools() -> None:
    """atexit: one warning per pool still holding connections; never raises."""
    try:
        for pool in list(_live_pools):
            count = pool._open_count()
            if count and not pool._closed:
                logger.warning(
                    "naq.connection: %r still had %d open connection(s) at interpreter exit; "
                    "call `await pool.close()` (or `await close_default_pools()`) before the loop ends",
                    pool,
                    count,
                )
    except Exception:  # noqa: S110 -- never a traceback at exit
        pass


atexit.register(_warn_unclosed_pools)
