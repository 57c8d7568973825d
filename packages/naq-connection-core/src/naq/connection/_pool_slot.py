"""One connection slot of a :class:`~naq.connection.pool.ConnectionPool` and its caches.

A slot owns at most one live nats client plus everything derived from it (JetStream contexts,
KV and object-store handles) so that replacing the connection drops exactly its derived state.
It also classifies the errors that mean a cached bucket handle is stale.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue
    from nats.js.object_store import ObjectStore

__all__ = ["STREAM_EXISTS_ERR_CODE", "STREAM_NOT_FOUND_ERR_CODE", "Slot", "is_stale_bucket_error"]

STREAM_NOT_FOUND_ERR_CODE = 10059
"""JetStream API error code for "stream not found"."""
STREAM_EXISTS_ERR_CODE = 10058
"""JetStream API error code for "stream name already in use with a different configuration"."""

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
    so it is never *checked* against the server; the pool instead drops a cached handle when an
    operation through it reports that the stream no longer exists. Missing keys/objects are normal
    results and keep the handle.
    """
    if isinstance(exc, _NOT_STALE_TYPES):
        return False
    if isinstance(exc, _STALE_TYPES):
        return True
    return isinstance(exc, nats.js.errors.NotFoundError) and exc.err_code == STREAM_NOT_FOUND_ERR_CODE


class Slot:
    """A pool position: the connection, the task opening it and the handles derived from it."""

    __slots__ = (
        "conn",
        "connecting",
        "connection_id",
        "index",
        "js",
        "js_by_options",
        "kv",
        "lookups",
        "objects",
        "replacing",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.conn: Client | None = None
        self.connection_id = 0
        self.connecting: asyncio.Task[Client] | None = None
        self.js: JetStreamContext | None = None
        self.js_by_options: dict[Any, JetStreamContext] = {}
        self.kv: dict[str, KeyValue] = {}
        self.objects: dict[str, ObjectStore] = {}
        self.lookups: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self.replacing = False
        """The slot dropped a connection closed for good and has not got a new one yet (so the
        replacement is counted when a later attempt succeeds, not only the first)."""

    @property
    def is_open(self) -> bool:
        """A connection is held and not closed for good (it may be reconnecting)."""
        return self.conn is not None and not self.conn.is_closed

    def jetstream(self, conn: Client) -> JetStreamContext:
        """The cached default JetStream context of ``conn``."""
        js = self.js
        if js is None:
            js = self.js = conn.jetstream()
        return js

    def jetstream_with(self, conn: Client, options: dict[str, Any]) -> JetStreamContext:
        """A JetStream context for ``options``, cached when they are hashable."""
        try:
            key = frozenset(options.items())
            hash(key)
        except TypeError:
            return conn.jetstream(**options)
        js = self.js_by_options.get(key)
        if js is None:
            js = self.js_by_options[key] = conn.jetstream(**options)
        return js

    def reset(self, conn: Client | None, connection_id: int = 0) -> None:
        """Install ``conn`` (or nothing) and drop every handle derived from the previous one."""
        self.conn = conn
        self.connection_id = connection_id
        self.js = None
        self.js_by_options.clear()
        self.kv.clear()
        self.objects.clear()
        self.lookups.clear()  # lookups in flight belong to the old connection

    def pending_tasks(self) -> list[asyncio.Task[Any]]:
        """Connect and lookup tasks still running (cancelled when the pool closes)."""
        tasks: list[asyncio.Task[Any]] = [t for t in self.lookups.values() if not t.done()]
        if self.connecting is not None and not self.connecting.done():
            tasks.append(self.connecting)
        return tasks
