"""One connection slot of a :class:`~naq.connection.pool.ConnectionPool` and its caches.

A slot owns at most one live nats client plus everything derived from it (JetStream contexts, KV
and object-store handles), so replacing the connection drops exactly its derived state. This
module also says which errors mean a cached bucket handle is stale.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors

from naq.connection._buckets import KV, BucketKind

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

__all__ = ["STREAM_NOT_FOUND_ERR_CODE", "Slot", "is_stale_bucket_error"]

STREAM_NOT_FOUND_ERR_CODE = 10059
"""JetStream API error code for "stream not found"."""

_STALE_TYPES: tuple[type[BaseException], ...] = (
    nats.js.errors.NoStreamResponseError,  # publish (kv.put, obj.put): no stream listens any more
    nats.errors.NoRespondersError,  # direct get against a deleted stream
    nats.js.errors.BucketNotFoundError,
)
_NOT_STALE_TYPES: tuple[type[BaseException], ...] = (
    nats.js.errors.KeyNotFoundError,  # a missing key, not a missing bucket
    nats.js.errors.KeyDeletedError,
    nats.js.errors.ObjectNotFoundError,
    nats.js.errors.ObjectDeletedError,
)


def is_stale_bucket_error(exc: BaseException) -> bool:
    """True when ``exc``, raised while using a cached bucket handle, means its stream is gone.

    A nats-py KV / object-store handle is a thin wrapper over the bucket's stream name and subjects,
    never checked against the server; the pool drops a cached handle when an operation through it
    reports that the stream no longer exists. Missing keys/objects are normal results.
    """
    if isinstance(exc, _NOT_STALE_TYPES):
        return False
    if isinstance(exc, _STALE_TYPES):
        return True
    return isinstance(exc, nats.js.errors.NotFoundError) and exc.err_code == STREAM_NOT_FOUND_ERR_CODE


class Slot:
    """A pool position: the connection, the task opening it and the handles derived from it."""

    __slots__ = ("conn", "connecting", "connection_id", "js", "kv", "lookups", "objects", "replacing")

    def __init__(self) -> None:
        self.conn: Client | None = None
        self.connection_id = 0
        self.connecting: asyncio.Task[Client] | None = None
        self.js: dict[Any, JetStreamContext] = {}
        self.kv: dict[str, Any] = {}
        self.objects: dict[str, Any] = {}
        self.lookups: dict[tuple[str, str, bool], asyncio.Task[Any]] = {}
        self.replacing = False
        """The slot dropped a connection closed for good and has not got a new one yet (so the
        replacement is counted when a later attempt succeeds, not only the first)."""

    @property
    def is_open(self) -> bool:
        """A connection is held and not closed for good (it may be reconnecting)."""
        return self.conn is not None and not self.conn.is_closed

    def jetstream(self, conn: Client, options: dict[str, Any]) -> JetStreamContext:
        """A JetStream context of ``conn`` for ``options``, cached when they are hashable."""
        if not options:
            js = self.js.get(None)
            if js is None:
                js = self.js[None] = conn.jetstream()
            return js
        try:
            key = frozenset(options.items())
            js = self.js.get(key)
        except TypeError:  # unhashable option values: not cached
            return conn.jetstream(**options)
        if js is None:
            js = self.js[key] = conn.jetstream(**options)
        return js

    def buckets(self, kind: BucketKind) -> dict[str, Any]:
        """The cached handles of one bucket kind."""
        return self.kv if kind == KV else self.objects

    def forget_buckets(self, bucket: str | None) -> int:
        """Drop cached handles (of ``bucket``, or all); how many were dropped."""
        dropped = 0
        for cache in (self.kv, self.objects):
            if bucket is None:
                dropped += len(cache)
                cache.clear()
            elif cache.pop(bucket, None) is not None:
                dropped += 1
        return dropped

    def reset(self, conn: Client | None, connection_id: int = 0) -> Client | None:
        """Install ``conn`` (or nothing), drop everything derived from the previous one; return that one."""
        old = self.conn
        self.conn = conn
        self.connection_id = connection_id
        self.js.clear()
        self.kv.clear()
        self.objects.clear()
        self.lookups.clear()  # lookups in flight belong to the old connection
        return old

    def pending_tasks(self) -> list[asyncio.Task[Any]]:
        """Connect and lookup tasks still running (cancelled when the pool closes)."""
        tasks: list[asyncio.Task[Any]] = [t for t in self.lookups.values() if not t.done()]
        if self.connecting is not None and not self.connecting.done():
            tasks.append(self.connecting)
        return tasks
