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

- **Lazy, single-flight connects.** A slot connects at its first borrow; concurrent borrowers of a
  slot share one connect (a cancelled borrower never cancels the others). A failed connect is not
  cached: the next borrow tries again. Connections are opened and closed by
  :mod:`naq.connection._connection`, like every connection core makes.
- **Replacement.** A connection that is closed for good (reconnect attempts exhausted, or closed by
  someone) is replaced at its next borrow. One that is merely reconnecting is lent as is: nats-py
  buffers publishes while it reconnects.
- **Caches.** JetStream contexts are cached per connection and options; KV and object-store handles
  per connection and bucket (bound by :mod:`naq.connection._buckets`). Replacing a connection drops
  its caches. A bucket handle is never checked against the server, so the pool drops a cached
  handle when an operation inside the borrow raises an error meaning the stream is gone; the next
  borrow looks the bucket up again. :meth:`ConnectionPool.invalidate` drops handles explicitly.
- **Loop binding.** asyncio connections belong to one event loop. A pool binds to the loop it is
  first used on and raises :class:`~naq.connection.errors.NaqConnectionError` when used from another.
- **Closing.** :meth:`ConnectionPool.close` first lets borrows in progress finish (at most
  ``flush_timeout`` seconds), then closes the connections; borrowing from a closed pool raises a
  ``NaqConnectionError`` that is not transient, so retry decorators stop instead of retrying into it.
  A pool still open when its event loop shuts down (``asyncio.run`` returning, a pytest-asyncio loop
  ending: both cancel the loop's remaining tasks) is closed then, cleanly.

Global state: default pools (:func:`get_default_pool`), one per (event loop, NatsConfig), kept with
their loop and closed with it; ``await close_default_pools()`` closes the running loop's now.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import warnings
import weakref
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from naq.connection import _connection
from naq.connection import events as _events
from naq.connection._buckets import KV, OBJECT_STORE, BucketKind, bind_bucket, check_bucket_args
from naq.connection._pool_slot import Slot, is_stale_bucket_error
from naq.connection.config import resolve_nats_config
from naq.connection.errors import NaqConfigError, NaqConnectionError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue
    from nats.js.object_store import ObjectStore

    from naq.connection.config import Config, NatsConfig

__all__ = ["ConnectionPool", "PoolStats", "close_default_pools", "get_default_pool"]

logger = logging.getLogger("naq.connection")

_T = TypeVar("_T")


@dataclass(frozen=True)
class PoolStats:
    """Counters of one pool since it was created."""

    size: int
    """Configured number of connections."""
    open_connections: int
    """Connections currently held and not closed for good."""
    lent: int
    """Borrows in progress (entered and not yet left)."""
    borrows: int
    """Successful borrows (connection, JetStream, KV, object store)."""
    connections_opened: int
    """Connections successfully opened (first connects plus replacements)."""
    connect_failures: int
    """Connect attempts that failed."""
    replacements: int
    """Connections that were closed for good and replaced by a new one."""
    bucket_lookups: int
    """Bucket lookups (and creations) that hit the server."""
    bucket_invalidations: int
    """Cached bucket handles dropped because their stream was gone (or :meth:`invalidate`)."""
    closed: bool


class _Borrow(Generic[_T]):
    """``async with pool.connection()`` and friends: lend on enter, give back on exit.

    Entering awaits only when there is work to do (a first connect, a replacement, a bucket lookup).
    """

    __slots__ = ("_pool",)

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def _take(self, slot: Slot, conn: Client) -> _T:
        raise NotImplementedError

    async def __aenter__(self) -> _T:
        pool = self._pool
        slot = pool._checkout()
        conn = slot.conn
        if conn is None or conn.is_closed:
            conn = await pool._connect(slot)
        value = self._take(slot, conn)
        pool._lend(slot)
        return value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool._give_back()


class _ConnectionBorrow(_Borrow["Client"]):
    """Stateless: a pool hands out one instance, entered by any number of borrowers at once."""

    def _take(self, slot: Slot, conn: Client) -> Client:
        return conn


class _JetStreamBorrow(_Borrow["JetStreamContext"]):
    __slots__ = ("_options",)

    def __init__(self, pool: ConnectionPool, options: dict[str, Any]) -> None:
        super().__init__(pool)
        self._options = options

    def _take(self, slot: Slot, conn: Client) -> JetStreamContext:
        return slot.jetstream(conn, self._options)


class _ConnectionAndJetStreamBorrow(_Borrow["tuple[Client, JetStreamContext]"]):
    """What ``nats_jetstream(pool=pool)`` yields: the pooled client and its cached JetStream context."""

    __slots__ = ("_options",)

    def __init__(self, pool: ConnectionPool, options: dict[str, Any]) -> None:
        super().__init__(pool)
        self._options = options

    def _take(self, slot: Slot, conn: Client) -> tuple[Client, JetStreamContext]:
        return conn, slot.jetstream(conn, self._options)


class _BucketBorrow(_Borrow[_T]):
    """A cached bucket handle; dropped from the cache when the body says its stream is gone."""

    __slots__ = ("_bucket", "_create", "_handle", "_kind", "_options", "_slot")

    def __init__(
        self, pool: ConnectionPool, kind: BucketKind, bucket: str, create: bool, options: dict[str, Any]
    ) -> None:
        super().__init__(pool)
        self._kind = kind
        self._bucket = bucket
        self._create = create
        self._options = options
        self._slot: Slot | None = None
        self._handle: Any = None

    async def __aenter__(self) -> _T:
        pool = self._pool
        slot, conn = await pool._ready()
        handle = slot.buckets(self._kind).get(self._bucket)
        if handle is None:
            handle = await pool._bind_bucket(
                slot, conn, self._kind, self._bucket, self._create, self._options
            )
        self._slot = slot
        self._handle = handle
        pool._lend(slot)
        return handle  # type: ignore[no-any-return]

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool._give_back()
        if exc is not None and self._slot is not None and is_stale_bucket_error(exc):
            self._pool._forget(self._slot, self._kind, self._bucket, self._handle)


class ConnectionPool:
    """A per-event-loop pool of ``size`` shared NATS connections (see the module docstring).

    ``config`` is a :class:`~naq.connection.config.Config`, a
    :class:`~naq.connection.config.NatsConfig`, a URL (or comma-separated URLs) or ``None``. An
    explicit config is resolved now (bad values fail here); ``None`` follows the global config
    (:func:`~naq.connection.config.get_config`) as it is at the pool's first use.
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
        self._config: NatsConfig | None = resolve_nats_config(config) if config is not None else None
        self._slots = [Slot() for _ in range(size)]
        self._next = 0
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        self._idle: asyncio.Future[None] | None = None
        self._lent = 0
        self._borrows = 0
        self._opened = 0
        self._connect_failures = 0
        self._replacements = 0
        self._lookups = 0
        self._invalidations = 0
        self._connection_borrow = _ConnectionBorrow(self)

    # ------------------------------------------------------------------ public API

    @property
    def config(self) -> NatsConfig:
        """The resolved connection settings (resolving the global config now if still unresolved)."""
        if self._config is None:
            self._config = resolve_nats_config(None)
        return self._config

    @property
    def size(self) -> int:
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def connection(self) -> _Borrow[Client]:
        """Borrow a connected nats client: ``async with pool.connection() as nc``. Never closes it."""
        return self._connection_borrow

    def jetstream(self, **jetstream_options: Any) -> _Borrow[JetStreamContext]:
        """Borrow a JetStream context (``nc.jetstream(**jetstream_options)``, cached per connection)."""
        return _JetStreamBorrow(self, jetstream_options)

    def _connection_and_jetstream(self, **jetstream_options: Any) -> _Borrow[tuple[Client, JetStreamContext]]:
        """For core's ``nats_jetstream(pool=pool)``: the pooled client and its cached context."""
        return _ConnectionAndJetStreamBorrow(self, jetstream_options)

    def kv_store(self, bucket: str, *, create: bool = False, **kv_config: Any) -> _Borrow[KeyValue]:
        """Borrow the KV bucket ``bucket`` (handle cached per connection).

        A missing bucket raises :class:`~naq.connection.errors.NaqBucketNotFoundError` unless
        ``create`` is true, in which case it is created with ``kv_config``
        (``js.create_key_value(bucket=bucket, **kv_config)``); an existing bucket is used as it is.
        Bad arguments raise here, before any connect (a name that is not a ``str`` is a
        ``TypeError``; an invalid name, or ``kv_config`` without ``create=True``, a
        :class:`~naq.connection.errors.NaqConfigError`).
        """
        name = check_bucket_args(KV, bucket, create, kv_config)
        return _BucketBorrow(self, KV, name, create, kv_config)

    def object_store(self, bucket: str, *, create: bool = False, **os_config: Any) -> _Borrow[ObjectStore]:
        """Borrow the object-store bucket ``bucket``; ``create`` and checks as for :meth:`kv_store`."""
        name = check_bucket_args(OBJECT_STORE, bucket, create, os_config)
        return _BucketBorrow(self, OBJECT_STORE, name, create, os_config)

    async def open(self) -> None:
        """Connect every slot now rather than at first borrow (fail fast at startup)."""
        self._checkout()
        for slot in self._slots:
            if not slot.is_open:
                await self._connect(slot)

    def invalidate(self, bucket: str | None = None) -> None:
        """Drop cached bucket handles (of ``bucket``, or all): the next borrow looks them up again."""
        for slot in self._slots:
            self._invalidations += slot.forget_buckets(bucket)

    def stats(self) -> PoolStats:
        """A snapshot of the pool's counters (cheap; safe to call from any thread)."""
        return PoolStats(
            size=self._size,
            open_connections=self._open_count(),
            lent=self._lent,
            borrows=self._borrows,
            connections_opened=self._opened,
            connect_failures=self._connect_failures,
            replacements=self._replacements,
            bucket_lookups=self._lookups,
            bucket_invalidations=self._invalidations,
            closed=self._closed,
        )

    async def close(self) -> None:
        """Let borrows in progress finish (at most ``flush_timeout`` s), then close every connection.

        Idempotent; never raises for connection problems. Borrowing afterwards raises
        :class:`NaqConnectionError` (not transient). Must run on the pool's event loop; if that loop
        is already closed the connections cannot be closed gracefully and are dropped with a warning.
        """
        if self._closed:
            if self._closing is not None and not self._closing.done():
                await asyncio.shield(self._closing)
            return
        loop = asyncio.get_running_loop()
        bound = self._loop() if self._loop is not None else loop
        if bound is not loop:
            if bound is not None and not bound.is_closed():
                raise NaqConnectionError(self._wrong_loop_message(bound, loop))
            self._abandon("its event loop was closed before the pool")
            return
        self._closed = True
        closing = self._closing = loop.create_future()
        try:
            if self._lent:
                self._idle = loop.create_future()
                await asyncio.wait((self._idle,), timeout=self.config.flush_timeout)
            pending = [task for slot in self._slots for task in slot.pending_tasks()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
            conns = [conn for slot in self._slots if (conn := slot.reset(None)) is not None]
            if conns:
                await asyncio.gather(*(_connection.close_connection(c) for c in conns))
        finally:
            _forget_pool(self)
            closing.set_result(None)
            self._closing = self._idle = None  # a closed pool keeps nothing of its loop

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
        servers: object = self._config.redacted_servers() if self._config is not None else "<global config>"
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

    # ------------------------------------------------------------------ deprecated borrow forms

    async def acquire(self) -> Client:
        """Deprecated: use ``async with pool.connection() as nc``."""
        _deprecated("pool.acquire()", "async with pool.connection() as nc")
        _, conn = await self._ready()
        self._borrows += 1
        return conn

    def acquire_nowait(self) -> Client | None:
        """Deprecated: use ``async with pool.connection() as nc``."""
        _deprecated("pool.acquire_nowait()", "async with pool.connection() as nc")
        slot = self._slots[0]
        if self._closed or self._size != 1 or not self._on_own_loop() or not slot.is_open:
            return None
        self._borrows += 1
        return slot.conn

    async def acquire_jetstream(self) -> JetStreamContext:
        """Deprecated: use ``async with pool.jetstream() as js``."""
        _deprecated("pool.acquire_jetstream()", "async with pool.jetstream() as js")
        slot, conn = await self._ready()
        self._borrows += 1
        return slot.jetstream(conn, {})

    def jetstream_nowait(self) -> JetStreamContext | None:
        """Deprecated: use ``async with pool.jetstream() as js``."""
        _deprecated("pool.jetstream_nowait()", "async with pool.jetstream() as js")
        slot = self._slots[0]
        if (
            self._closed
            or self._size != 1
            or not self._on_own_loop()
            or slot.conn is None
            or not slot.is_open
        ):
            return None
        self._borrows += 1
        return slot.jetstream(slot.conn, {})

    # ------------------------------------------------------------------ internals

    def _on_own_loop(self) -> bool:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return self._loop is not None and self._loop() is loop

    def _checkout(self) -> Slot:
        """The slot to lend next (round-robin), after checking the closed state and the event loop."""
        if self._closed:
            raise NaqConnectionError(
                f"{self!r} is closed: create a new ConnectionPool (or use get_default_pool())"
            )
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._bind_loop(loop)
        elif self._loop() is not loop:
            raise NaqConnectionError(self._wrong_loop_message(self._loop(), loop))
        if self._size == 1:
            return self._slots[0]
        i = self._next
        self._next = (i + 1) % self._size
        return self._slots[i]

    def _bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._config is None:
            self._config = resolve_nats_config(None)
        self._loop = weakref.ref(loop)
        _pools_of(loop).bound.add(self)

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
        """The slot to lend next and its live connection, connecting (or replacing) it if needed."""
        slot = self._checkout()
        conn = slot.conn
        if conn is None or conn.is_closed:
            conn = await self._connect(slot)
        return slot, conn

    def _lend(self, slot: Slot) -> None:
        """Count a borrow (and tell listeners, if any)."""
        self._borrows += 1
        self._lent += 1
        if _events.has_listeners():
            self._emit_borrowed(slot)

    def _emit_borrowed(self, slot: Slot) -> None:
        _events.emit(
            _events.ConnectionEvent(
                kind=_events.ConnectionEventKind.BORROWED,
                connection_id=slot.connection_id,
                client_name=self.config.client_name,
                server=_server_of(slot.conn),
                pooled=True,
            )
        )

    def _give_back(self) -> None:
        """A borrow ended; the last one out wakes a :meth:`close` waiting for borrows in progress."""
        self._lent -= 1
        idle = self._idle
        if idle is not None and self._lent == 0 and not idle.done():
            idle.set_result(None)

    async def _connect(self, slot: Slot) -> Client:
        """Connect (or replace) ``slot``'s connection; concurrent callers share one attempt."""
        task = slot.connecting
        if task is None:
            task = slot.connecting = asyncio.get_running_loop().create_task(self._open_slot(slot))
            task.add_done_callback(_retrieve_exception)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and self._closed:
                raise NaqConnectionError(f"{self!r} was closed while connecting") from None
            raise

    async def _open_slot(self, slot: Slot) -> Client:
        try:
            old = slot.reset(None)
            if old is not None:
                slot.replacing = True  # stays set until a new connection is in, whatever fails first
                await _connection.close_connection(old)  # closed for good already: cleanup, CLOSED once
            try:
                conn = await _connection.open_connection(self.config, pooled=True)
            except Exception:
                self._connect_failures += 1
                raise
            if self._closed:
                await _connection.close_connection(conn)
                raise NaqConnectionError(f"{self!r} was closed while connecting")
            slot.reset(conn, _connection.connection_id(conn))
            self._opened += 1
            if slot.replacing:
                slot.replacing = False
                self._replacements += 1
            _live_pools.add(self)
            return conn
        finally:
            slot.connecting = None

    async def _bind_bucket(
        self, slot: Slot, conn: Client, kind: BucketKind, bucket: str, create: bool, options: dict[str, Any]
    ) -> Any:
        """Bind ``bucket`` once per slot however many borrowers ask at once, and cache the handle."""
        key = (kind, bucket, create)
        task = slot.lookups.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._bind_and_cache(slot, conn, kind, bucket, create, options)
            )
            task.add_done_callback(_retrieve_exception)
            slot.lookups[key] = task
            task.add_done_callback(
                lambda done: slot.lookups.pop(key, None) if slot.lookups.get(key) is done else None
            )
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and self._closed:
                raise NaqConnectionError(f"{self!r} was closed while binding bucket {bucket!r}") from None
            raise

    async def _bind_and_cache(
        self, slot: Slot, conn: Client, kind: BucketKind, bucket: str, create: bool, options: dict[str, Any]
    ) -> Any:
        self._lookups += 1
        handle = await bind_bucket(
            slot.jetstream(conn, {}),
            kind,
            bucket,
            create=create,
            options=options,
            servers=self.config.redacted_servers(),
        )
        if slot.conn is conn:  # not replaced meanwhile
            handle = slot.buckets(kind).setdefault(bucket, handle)
        return handle

    def _forget(self, slot: Slot, kind: BucketKind, bucket: str, handle: object) -> None:
        """Drop ``handle`` from the cache when it is still the cached one (its stream is gone)."""
        cache = slot.buckets(kind)
        if cache.get(bucket) is handle:
            del cache[bucket]
            self._invalidations += 1

    def _open_count(self) -> int:
        return sum(1 for slot in self._slots if slot.is_open)

    def _abandon(self, why: str) -> None:
        """Mark closed without closing connections we can no longer reach (their loop is gone)."""
        count = self._open_count()
        self._closed = True
        for slot in self._slots:
            slot.reset(None)
            slot.connecting = None
        _forget_pool(self)
        if count:
            logger.warning(
                "naq.connection: dropped %d pooled connection(s) without closing them: %s; "
                "call `await pool.close()` (or `await close_default_pools()`) before the loop ends",
                count,
                why,
            )


# ---------------------------------------------------------------------- helpers


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release: use `{new}`",
        DeprecationWarning,
        stacklevel=3,
    )


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


# ---------------------------------------------------------------------- pools of each event loop


class _LoopPools:
    """The pools bound to one event loop: the default ones by config, and every pool to close with it.

    ``closer`` is a task that waits for the loop's shutdown: ``asyncio.run`` (and pytest-asyncio)
    cancel every task left when the main coroutine ends, and the cancelled closer then closes the
    pools still open, while the loop still runs. It ends once the loop has no open pool left.
    """

    __slots__ = ("bound", "closer", "defaults", "shutting_down")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.shutting_down = False
        self.defaults: dict[NatsConfig, ConnectionPool] = {}
        self.bound: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()
        self.closer = loop.create_task(
            _close_at_loop_end(self), name="naq.connection: close pools at loop end"
        )


async def _close_at_loop_end(pools: _LoopPools) -> None:
    try:
        await asyncio.get_running_loop().create_future()  # never done: only cancelled
    finally:
        pools.shutting_down = True
        still_open = [pool for pool in list(pools.bound) if not pool.closed]
        if still_open:
            await asyncio.gather(*(pool.close() for pool in still_open), return_exceptions=True)


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPools] = weakref.WeakKeyDictionary()


def _pools_of(loop: asyncio.AbstractEventLoop) -> _LoopPools:
    pools = _loops.get(loop)
    if pools is None:
        _sweep_closed_loops()
        pools = _loops[loop] = _LoopPools(loop)
    return pools


def _forget_pool(pool: ConnectionPool) -> None:
    """A pool closed: forget it; a loop left without open pools stops its closer."""
    _live_pools.discard(pool)
    loop = pool._loop() if pool._loop is not None else None
    if loop is None:
        return
    pools = _loops.get(loop)
    if pools is None:
        return
    pools.bound.discard(pool)
    for config, default in list(pools.defaults.items()):
        if default is pool:
            del pools.defaults[config]
    if not pools.bound:
        del _loops[loop]
        if not pools.shutting_down and not loop.is_closed():
            pools.closer.cancel()


def _sweep_closed_loops() -> None:
    """Forget the pools of event loops that were closed without shutting their tasks down."""
    for loop, pools in list(_loops.items()):
        if loop.is_closed():
            del _loops[loop]
            for pool in list(pools.bound):
                pool._abandon("their event loop was closed without `await pool.close()`")


def get_default_pool(config: NatsConfig) -> ConnectionPool:
    """The shared pool of the running event loop for ``config`` (created on first use, size 1).

    Used by the context managers and decorators when ``NatsConfig.reuse_connections`` is on. It is
    closed with its event loop; ``await close_default_pools()`` closes it earlier.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise NaqConnectionError(
            "get_default_pool() needs a running event loop: call it from async code"
        ) from None
    pools = _pools_of(loop)
    pool = pools.defaults.get(config)
    if pool is None or pool.closed:
        pool = pools.defaults[config] = ConnectionPool(config)
        pool._bind_loop(loop)
    return pool


async def close_default_pools() -> None:
    """Close the default pools of the running event loop and forget them (idempotent)."""
    pools = _loops.get(asyncio.get_running_loop())
    if pools is not None:
        await asyncio.gather(
            *(pool.close() for pool in list(pools.defaults.values())), return_exceptions=True
        )


_live_pools: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()
"""Pools that opened a connection and were not closed (for the interpreter-exit warning)."""


def _warn_unclosed_pools() -> None:
    """atexit: one warning per pool still holding connections; never raises."""
    try:
        for pool in list(_live_pools):
            count = pool._open_count()
            if count and not pool.closed:
                logger.warning(
                    "naq.connection: %r still had %d open connection(s) at interpreter exit; "
                    "call `await pool.close()` (or `await close_default_pools()`) before the loop ends",
                    pool,
                    count,
                )
    except Exception:  # noqa: S110 -- never a traceback at exit
        pass


atexit.register(_warn_unclosed_pools)
