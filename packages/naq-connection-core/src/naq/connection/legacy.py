"""naq's connection API (``get_nats_connection`` & co.) on top of the per-event-loop default pools.

naq calls five functions from ``naq.connection``; this module gives them naq's meaning without
naq's bugs, and ``naq.connection`` re-exports them lazily::

    nc = await get_nats_connection(url)        # the shared client for url on this event loop
    js = await get_jetstream_context(nc)       # nc.jetstream()
    await ensure_stream(js, "naq_jobs")        # create the work-queue stream if it is missing
    await close_nats_connection(url)           # this caller is done with it

**One shared client per (event loop, config).** The client comes from
:func:`~naq.connection.get_default_pool` for ``resolve_nats_config(url)``, so every loop -- each
thread's, each ``asyncio.run`` -- has its own, and a URL that cannot be reached fails within the
config's ``connection_timeout`` with :class:`~naq.connection.errors.NaqConnectionError`. The
``prefer_thread_local`` / ``thread_local`` flags are accepted and change nothing: per-loop clients
are already per thread.

**Closing a shared client: a count of users.** naq's components (queue, worker, results, scheduler)
each get the one client and each "close" it while the others may still publish on it. So every
:func:`get_nats_connection` (and :func:`get_jetstream_context` without ``nc``) counts one user of
that (loop, config), and :func:`close_nats_connection` lets one go: the client is really closed
(its default pool closed) only when the last user lets go. A close with no user left is a no-op,
so extra closes are harmless; a component that closes without ever having got the client takes
the place of one that did (counts cannot tell callers apart). :func:`close_all_connections`
forgets the counts and closes every default pool of the running loop, users or not. Clients whose
users never let go are closed with their event loop (or by ``close_default_pools()``).

The counts live in a ``WeakKeyDictionary`` keyed by event loop: a loop that ends takes its counts
with it; nothing here keeps a loop alive.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING

import nats.js.api
import nats.js.errors

from naq.connection.config import resolve_nats_config
from naq.connection.errors import NaqConnectionError
from naq.connection.pool import close_default_pools, get_default_pool

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from naq.connection.config import NatsConfig

__all__ = [
    "DEFAULT_NATS_URL",
    "close_all_connections",
    "close_nats_connection",
    "ensure_stream",
    "get_jetstream_context",
    "get_nats_connection",
]

DEFAULT_NATS_URL: str | None = None
"""The default ``url``: ``None`` means the global config's servers (``NAQ_NATS_URL``, the config
file, else ``nats://localhost:4222``), as naq's own default read ``NAQ_NATS_URL``."""

_STREAM_NAME_IN_USE = 10058
"""JetStream's err_code when a stream with this name exists (created concurrently, other config)."""

_users: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[NatsConfig, int]] = (
    weakref.WeakKeyDictionary()
)
"""Users of each shared client, per event loop and config (see the module docstring)."""


async def get_nats_connection(
    url: str | None = DEFAULT_NATS_URL, *, prefer_thread_local: bool = False
) -> Client:
    """The shared client for ``url`` on the running event loop; counts one user until closed.

    Raises :class:`NaqConnectionError` when the server cannot be reached within the config's
    ``connection_timeout``, :class:`~naq.connection.errors.NaqConfigError` for a bad URL.
    """
    del prefer_thread_local  # per-loop clients are already per thread
    config = resolve_nats_config(url)
    async with get_default_pool(config).connection() as nc:
        pass  # a pooled borrow never closes its client: the count of users below decides that
    counts = _users.setdefault(asyncio.get_running_loop(), {})
    counts[config] = counts.get(config, 0) + 1
    return nc


async def get_jetstream_context(
    nc: Client | None = None, *, prefer_thread_local: bool = False
) -> JetStreamContext:
    """``nc.jetstream()``; without ``nc``, that of the default URL's shared client (one more user)."""
    if nc is None:
        nc = await get_nats_connection(prefer_thread_local=prefer_thread_local)
    return nc.jetstream()


async def close_nats_connection(url: str | None = DEFAULT_NATS_URL, *, thread_local: bool = False) -> None:
    """Let one user of ``url``'s shared client go; the last one closes it. Never raises for the server."""
    del thread_local  # per-loop clients are already per thread
    config = resolve_nats_config(url)
    loop = asyncio.get_running_loop()
    counts = _users.get(loop)
    users = counts.get(config, 0) if counts is not None else 0
    if counts is None or users == 0:
        return
    if users > 1:
        counts[config] = users - 1
        return
    del counts[config]
    await get_default_pool(config).close()


async def close_all_connections() -> None:
    """Close every shared client of the running event loop (and every default pool), users or not."""
    _users.pop(asyncio.get_running_loop(), None)
    await close_default_pools()


async def ensure_stream(
    js: JetStreamContext, stream_name: str = "naq_jobs", subjects: list[str] | None = None
) -> None:
    """Make sure the stream ``stream_name`` exists; create it if missing.

    A new stream gets ``subjects`` (default ``["<stream_name>.*"]``), file storage and work-queue
    retention (naq's choice: a message is deleted once acknowledged). An existing stream is left as
    it is, whatever its settings; concurrent callers creating the same stream all succeed. Any
    other failure (no JetStream, timeout, bad name) is a :class:`NaqConnectionError` naming the
    stream, with nats-py's error chained.
    """
    try:
        await js.stream_info(stream_name)
        return
    except nats.js.errors.NotFoundError:
        pass
    except Exception as exc:
        raise NaqConnectionError(f"cannot look up JetStream stream {stream_name!r}: {exc!r}") from exc
    try:
        await js.add_stream(
            name=stream_name,
            subjects=subjects if subjects is not None else [f"{stream_name}.*"],
            storage=nats.js.api.StorageType.FILE,
            retention=nats.js.api.RetentionPolicy.WORK_QUEUE,
        )
    except Exception as exc:
        if isinstance(exc, nats.js.errors.BadRequestError) and exc.err_code == _STREAM_NAME_IN_USE:
            return  # a concurrent caller created it first
        raise NaqConnectionError(f"cannot create JetStream stream {stream_name!r}: {exc!r}") from exc
