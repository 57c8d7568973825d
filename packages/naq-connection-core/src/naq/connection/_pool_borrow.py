"""The async context managers a :class:`~naq.connection.pool.ConnectionPool` lends through.

Borrowing is on every hot path (a decorated publish, a pooled KV put), so these are small
class-based context managers: when the connection and the handle are already there, entering is a
few attribute reads and a dict lookup with no suspension, and leaving does nothing unless the body
raised an error meaning a cached bucket handle is stale.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from naq.connection._pool_slot import Slot, is_stale_bucket_error

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue
    from nats.js.object_store import ObjectStore

    from naq.connection.pool import ConnectionPool

__all__ = ["BucketBorrow", "ConnectionBorrow", "JetStreamBorrow", "KV", "OBJECT_STORE"]

KV = "kv"
OBJECT_STORE = "object_store"

_H = TypeVar("_H")


class ConnectionBorrow:
    """``async with pool.connection() as nc``: lends a live client; never closes it.

    Stateless, so a pool hands out one shared instance (reentrant and safe for concurrent use).
    """

    __slots__ = ("_pool",)

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    async def __aenter__(self) -> Client:
        pool = self._pool
        slot, conn = await pool._ready()
        pool._lent(slot)
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class JetStreamBorrow:
    """``async with pool.jetstream(**options) as js``: a cached JetStream context of a pooled client."""

    __slots__ = ("_options", "_pool")

    def __init__(self, pool: ConnectionPool, options: dict[str, Any]) -> None:
        self._pool = pool
        self._options = options

    async def __aenter__(self) -> JetStreamContext:
        pool = self._pool
        slot, conn = await pool._ready()
        options = self._options
        js = slot.jetstream_with(conn, options) if options else slot.jetstream(conn)
        pool._lent(slot)
        return js

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class BucketBorrow(Generic[_H]):
    """``async with pool.kv_store(b)`` / ``pool.object_store(b)``: a cached bucket handle.

    When the body raises an error meaning the bucket's stream is gone (see
    :func:`~naq.connection._pool_slot.is_stale_bucket_error`), the cached handle is dropped so the
    next borrow looks the bucket up again. The error itself propagates unchanged.
    """

    __slots__ = ("_bucket", "_config", "_create", "_handle", "_kind", "_pool", "_slot")

    def __init__(
        self,
        pool: ConnectionPool,
        kind: str,
        bucket: str,
        create: bool,
        config: dict[str, Any],
    ) -> None:
        self._pool = pool
        self._kind = kind
        self._bucket = bucket
        self._create = create
        self._config = config
        self._slot: Slot | None = None
        self._handle: _H | None = None

    async def __aenter__(self) -> _H:
        pool = self._pool
        slot, conn = await pool._ready()
        cache: dict[str, Any] = slot.kv if self._kind is KV else slot.objects
        handle: _H | None = cache.get(self._bucket)
        if handle is None:
            handle = await pool._lookup_bucket(
                slot, conn, self._kind, self._bucket, self._create, self._config
            )
        self._slot = slot
        self._handle = handle
        pool._lent(slot)
        return handle

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self._slot is not None and is_stale_bucket_error(exc):
            self._pool._invalidate(self._slot, self._kind, self._bucket, self._handle)


if TYPE_CHECKING:
    KeyValueBorrow = BucketBorrow[KeyValue]
    ObjectStoreBorrow = BucketBorrow[ObjectStore]
