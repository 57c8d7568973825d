"""Async context managers for NATS connections, JetStream contexts and KV / object-store buckets.

::

    async with nats_connection("nats://127.0.0.1:4222") as nc:
        await nc.publish("subject", b"data")

    async with nats_kv_store("settings", create=True) as kv:
        await kv.put("key", b"value")

Every helper accepts a :class:`~naq.connection.config.Config`, a
:class:`~naq.connection.config.NatsConfig`, a URL string (one or comma-separated, applied over the
global config) or ``None`` (``get_config().nats``), and ``pool=`` to borrow from a
:class:`~naq.connection.pool.ConnectionPool` instead of connecting (with ``reuse_connections`` on,
the per-event-loop default pool is used without asking).

Patch points (module attributes looked up at call time): ``nats`` (``nats.connect`` / ``nats.NATS``),
``get_config``, ``logger`` (``logging.getLogger("naq.connection")``) and ``asyncio``.

Fail fast. nats-py walks its server pool with the reconnect settings (about two minutes with its
defaults) before raising, even with ``allow_reconnect=False``. :func:`open_connection` instead:

- bounds the whole initial connect by ``connection_timeout`` (a hard deadline at
  ``connection_timeout + 0.3 s``, a timer rather than an extra task, tears the half-built client
  down and so ends whatever nats-py's own timeouts do not cover);
- gives each attempt ``connection_timeout / len(servers)`` and, after a failed attempt, no more than
  what is left of the budget, so nats-py usually fails by itself with its real error;
- tries every server twice, 50 ms apart, then gives up -- a refusing server fails in milliseconds;
- stops at once on a decisive error (TLS failure, rejected credentials: ``error_cb`` raises a private
  ``AbortConnect`` out of nats-py's walk), which also avoids a nats-py hang after a failed TLS upgrade;
- as a last resort, 0.3 s after the hard deadline, cancels the connecting task and reports a timeout;
- then installs the configured ``max_reconnect_attempts`` / ``reconnect_time_wait`` /
  ``allow_reconnect`` / ``connect_timeout`` in ``nc.options``, which nats-py reads on reconnect.

When ``nats.connect`` is nats-py's own function, :func:`open_connection` does what it does
(``nc = nats.NATS(); await nc.connect(...)``) so that it holds the half-built client and can tear it
down when the connect times out or is cancelled (no socket or task leaks). When ``nats.connect`` was
patched, the patched function is called with the configured keywords and the hard deadline.

Failures raise :class:`~naq.connection.errors.NaqConnectionError` naming the servers (redacted), with
the error nats-py hit chained as ``__cause__`` (the last attempt's error rather than nats-py's generic
``NoServersError``, so ``is_transient`` can tell a refused connection from an authorization failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import ssl
from asyncio import CancelledError
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import nats
import nats.errors as nats_errors
import nats.js.errors as js_errors

from naq.connection import _connect, _watchdog, events
from naq.connection._buckets import KV_LABEL, OBJECT_STORE_LABEL, check_bucket_args, jetstream_unavailable
from naq.connection._lifecycle import ATTRIBUTE, AbortConnect, Lifecycle, lifecycle_of
from naq.connection.config import Config, NatsConfig, config_type_error, get_config
from naq.connection.errors import NaqBucketNotFoundError, NaqConfigError, NaqConnectionError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue
    from nats.js.object_store import ObjectStore

    from naq.connection.pool import ConnectionPool

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

logger = logging.getLogger("naq.connection")

_NATS_CONNECT = nats.connect
"""nats-py's own ``connect``, captured at import: when ``nats.connect`` is still this function,
:func:`open_connection` builds the client itself so it can clean it up (see the module docstring)."""

_DEFAULT_CLOSE_TIMEOUT = 10.0
"""Bound (s) on closing a connection that core did not open (no config to derive one from)."""

_KV = KV_LABEL
_OBJECT_STORE = OBJECT_STORE_LABEL
_BUCKET_EXISTS_ERR_CODE = 10058  # JetStream: stream name already in use with a different configuration

_H = TypeVar("_H")

# ---------------------------------------------------------------------------------------- config


_url_cache: dict[str, tuple[NatsConfig, NatsConfig]] = {}
_URL_CACHE_LIMIT = 64


def _resolve(config: Config | NatsConfig | str | None) -> NatsConfig:
    """The NatsConfig for a helper's ``config`` argument, using this module's ``get_config``."""
    if config is None:
        return get_config().nats
    if isinstance(config, NatsConfig):
        return config
    if isinstance(config, Config):
        return config.nats
    if isinstance(config, str):
        base: NatsConfig = get_config().nats
        hit = _url_cache.get(config)
        if hit is not None and hit[0] is base:
            return hit[1]
        resolved = base.replace(servers=config)
        if len(_url_cache) >= _URL_CACHE_LIMIT:
            _url_cache.clear()
        _url_cache[config] = (base, resolved)
        return resolved
    raise config_type_error(config)


def _check_pool_args(config: object, pool: object) -> None:
    if pool is not None and config is not None:
        raise NaqConfigError(
            "pass either config= or pool=, not both: a pool's connections use the pool's own config",
            field="pool",
            source="argument",
        )


def _default_pool(config: NatsConfig) -> ConnectionPool:
    from naq.connection.pool import get_default_pool

    return get_default_pool(config)


# ---------------------------------------------------------------------------------------- open / close


async def open_connection(config: NatsConfig, *, pooled: bool = False) -> Client:
    """Connect to NATS with ``config``: fail fast, quiet callbacks, lifecycle events.

    The one place that calls ``nats.connect`` (looked up at call time). Raises
    :class:`~naq.connection.errors.NaqConnectionError` within ``config.connection_timeout`` + 1 s when
    no server can be reached, naming the servers (redacted) with the error chained. Emits CONNECTING
    and then CONNECTED or CONNECT_FAILED, and later DISCONNECTED / RECONNECTED / ERROR / CLOSED
    (``pooled`` is copied into every event). Close the result with :func:`close_connection`.

    This runs once per unpooled ``nats_connection()``; the benchmark holds it to 5% of a raw
    ``nats.connect()`` + ``close()`` against a local server, so it avoids calls it does not need.
    """
    plan = _connect.plan(config)
    state = Lifecycle(config, plan, pooled=pooled, logger=logger)
    nats_module = nats
    if nats_module.connect is not _NATS_CONNECT:
        return await _open_patched(nats_module, config, state)
    state.own_walk = True
    loop = asyncio.get_running_loop()  # once: it costs ~0.2 us on 3.11
    state.task = asyncio.current_task(loop)
    if events.has_listeners():
        state.on_connecting()
    # What nats.connect() does, keeping hold of the client. The hard deadline goes to the loop's
    # watchdog, not asyncio.wait_for (an extra task: ~5% of a local connect on 3.11) nor a timer of
    # its own (~2.5% each; see _watchdog).
    conn = state.conn = nats_module.NATS()  # type: ignore[attr-defined]
    dog = state.dog = _watchdog.watchdog(loop)
    deadline = dog.watch(plan.hard_deadline, state.on_deadline)
    try:
        if _connect.LATE_CALLBACKS:  # the others are installed below (see LATE_CALLBACKS)
            await conn.connect(**plan.kwargs, error_cb=state.error_cb)
        else:  # a nats-py that keeps its callbacks elsewhere
            await conn.connect(
                **plan.kwargs,
                error_cb=state.error_cb,
                disconnected_cb=state.disconnected_cb,
                reconnected_cb=state.reconnected_cb,
                closed_cb=state.closed_cb,
            )
        if state.deadline_hit:  # the deadline fired as the handshake finished: too late
            raise asyncio.TimeoutError
    except BaseException as exc:
        _connect.abandon(conn)
        error: BaseException = exc
        if isinstance(exc, AbortConnect):  # error_cb stopped the walk on a decisive error
            error = exc.error
        elif state.cancel_sent and _absorb_last_resort_cancel(state):
            error = asyncio.TimeoutError()  # our own last-resort cancel: a timeout, not a cancellation
        elif not isinstance(exc, Exception):  # cancelled (or KeyboardInterrupt): propagate as is
            state.on_connect_failed(exc)
            raise
        elif state.deadline_hit:
            error = asyncio.TimeoutError()  # what nats-py raised while being torn down is not the story
        raise _connect_failed(state, error) from _cause(state, error)
    finally:
        dog.unwatch(deadline)
        if state.last_resort is not None:
            state.last_resort.cancel()
    # nats-py reads nc.options afresh on every reconnect: from now on, the configured values
    conn.options.update(plan.reconnect_options)
    if _connect.LATE_CALLBACKS:
        conn._disconnected_cb = state.disconnected_cb
        conn._reconnected_cb = state.reconnected_cb
        conn._closed_cb = state.closed_cb
    setattr(conn, ATTRIBUTE, state)
    state.on_connected(conn)
    return conn


async def _open_patched(nats_module: Any, config: NatsConfig, state: Lifecycle) -> Client:
    """``nats.connect`` was patched: call it with the configured keywords, bounded by a deadline.

    The patched function owns the client it builds, so a connect cut by the deadline or cancelled
    cannot be torn down here.
    """
    kwargs = dict(_connect.connect_kwargs(config))
    _add_callbacks(kwargs, state)
    state.on_connecting()
    try:
        conn = await asyncio.wait_for(
            nats_module.connect(**kwargs), config.connection_timeout + _connect.DEADLINE_GRACE
        )
    except CancelledError as exc:
        state.on_connect_failed(exc)
        raise
    except Exception as exc:
        raise _connect_failed(state, exc) from _cause(state, exc)
    setattr(conn, ATTRIBUTE, state)
    state.on_connected(conn)
    return conn  # type: ignore[no-any-return]


def _absorb_last_resort_cancel(state: Lifecycle) -> bool:
    """Undo the cancellation the last-resort timer requested; False when someone else cancelled too."""
    uncancel = getattr(state.task, "uncancel", None)  # Python 3.11+; 3.10 cannot tell them apart
    return uncancel is None or uncancel() == 0


def _add_callbacks(kwargs: dict[str, Any], state: Lifecycle) -> None:
    kwargs["error_cb"] = state.error_cb
    kwargs["disconnected_cb"] = state.disconnected_cb
    kwargs["reconnected_cb"] = state.reconnected_cb
    kwargs["closed_cb"] = state.closed_cb


def _cause(state: Lifecycle, exc: BaseException) -> BaseException:
    """The error to chain: what the last attempt hit, rather than nats-py's generic give-up errors."""
    if state.last_error is not None and isinstance(exc, (nats_errors.NoServersError, asyncio.TimeoutError)):
        return state.last_error
    return exc


def _connect_failed(state: Lifecycle, exc: BaseException) -> NaqConnectionError:
    cause = _cause(state, exc)
    state.on_connect_failed(cause)
    config = state.config
    servers = config.redacted_servers()
    deadline_hit = isinstance(exc, asyncio.TimeoutError) and not isinstance(exc, nats_errors.Error)
    what = f"timed out after {config.connection_timeout:g} s" if deadline_hit else "failed"
    last = state.describe(cause)
    return NaqConnectionError(
        f"connecting to NATS at {', '.join(servers)} {what} ({last}){_hint(cause)}",
        servers=servers,
    )


def _hint(exc: BaseException) -> str:
    """What the user can do about a connect failure, from its cause."""
    text = str(exc).lower()
    if isinstance(exc, nats_errors.AuthorizationError) or "authorization violation" in text:
        return (
            ": the server rejected the credentials; check user/password, token, creds_file or nkeys_seed_file"
        )
    if isinstance(exc, ssl.SSLError) or "ssl" in text or "certificate" in text:
        return (
            ": the TLS handshake failed; check tls.ca_file (the CA that signed the server certificate), "
            "the server host name and tls.handshake_first"
        )
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return ": nothing accepts connections there; is nats-server running on that host and port?"
    if isinstance(exc, asyncio.TimeoutError):
        return (
            ": no NATS handshake in time; check host and port (a non-NATS or unreachable address), "
            "firewalls and server load, or raise connection_timeout"
        )
    return ""


def connection_id(conn: object) -> int:
    """The id core's events carry for ``conn`` (opened by :func:`open_connection`), else ``id(conn)``."""
    state = lifecycle_of(conn)
    return state.connection_id if state is not None else id(conn)


async def close_connection(conn: Client, *, drain: bool = False, timeout: float | None = None) -> None:
    """Close ``conn``; never raises (except ``CancelledError``, which is re-raised after cleanup).

    Plain ``close()`` by default: it flushes what was published and closes the socket in well under a
    millisecond, while ``drain=True`` also lets subscriptions finish handling their pending messages
    (bounded by ``drain_timeout``) -- only worth it for connections with subscriptions. Either way the
    wait is bounded (``timeout``, default ``flush_timeout + reconnect_time_wait`` of the connection's
    config, or ``drain_timeout + flush_timeout`` when draining); past it, or on cancellation, the client
    is torn down without waiting (tasks cancelled, socket aborted). Already-closed connections are
    fine. Emits CLOSED exactly once for connections opened by :func:`open_connection`.
    """
    state = getattr(conn, ATTRIBUTE, None)  # lifecycle_of(), inlined: this runs on every close
    if not isinstance(state, Lifecycle):
        state = None
    closed_already = conn.is_closed is True  # by nats-py (gave up) or by the caller
    if not closed_already:
        if state is not None:
            state.closing = True
            if _connect.LATE_CALLBACKS:
                # our own close: the CLOSED event comes from state.on_closed() below, and the
                # callbacks ignore a close they asked for (see _connect.LATE_CALLBACKS)
                conn._disconnected_cb = conn._closed_cb = None
            if timeout is None:
                timeout = state.plan.drain_close_timeout if drain else state.plan.close_timeout
        elif timeout is None:
            timeout = _DEFAULT_CLOSE_TIMEOUT
        try:
            if drain and conn.is_connected is True:
                await asyncio.wait_for(conn.drain(), timeout)
            else:
                # The loop's watchdog instead of asyncio.wait_for or a timer (see _watchdog): past
                # the timeout the socket is aborted, which ends every wait inside nats-py's close().
                dog = state.dog if state is not None and state.dog is not None else _watchdog.watchdog()
                bound = dog.watch(timeout, lambda: _close_overdue(conn, timeout))
                try:
                    if _TASKS_COUNT_CANCELS:
                        await conn.close()
                    else:
                        await _close_in_own_task(conn)
                finally:
                    dog.unwatch(bound)
        except CancelledError as exc:
            _connect.abandon(conn)
            if _cancel_requested():
                if state is not None:
                    state.on_closed()
                raise
            _closed_without_waiting(conn, state, exc)  # nats-py's own CancelledError: see below
        except Exception as exc:
            _connect.abandon(conn)
            _closed_without_waiting(conn, state, exc)
    if state is not None:
        state.on_closed()


_TASKS_COUNT_CANCELS = hasattr(asyncio.Task, "cancelling")  # Python 3.11+


class _CloseCancelledInside(Exception):
    """nats-py's ``close()`` raised a ``CancelledError`` that nobody asked for (see below)."""


async def _close_in_own_task(conn: Client) -> None:
    """Python 3.10: run ``conn.close()`` in a task of its own, to tell its CancelledErrors apart.

    On 3.10 a task cannot say whether it was asked to cancel (no ``Task.cancelling()``), and nats-py
    2.16's ``close()`` raises a ``CancelledError`` of its own when the client is closed while its
    reconnect task awaits a socket that is closing (the server just went away): ``close()`` cancels
    that task, which cancels the socket's shared close-waiter, then awaits that same future. In a
    task of its own, such an error shows as a cancelled task while ``asyncio.wait`` returns
    normally; a real cancellation of the caller interrupts ``asyncio.wait`` instead.
    """
    closer = asyncio.ensure_future(conn.close())
    try:
        await asyncio.wait({closer})
    except CancelledError:
        closer.cancel()
        raise
    if closer.cancelled():
        raise _CloseCancelledInside("nats-py cancelled its own close()")
    closer.result()


def _cancel_requested() -> bool:
    """Whether the running task was asked to cancel (``Task.cancelling()``, Python 3.11+).

    nats-py's ``close()`` can raise a ``CancelledError`` nobody asked for: on ``ws://`` / ``wss://``
    it cancels its flusher task while that waits on aiohttp's drain future, which aiohttp shares
    between writers, so the ``close()`` waiting on the same future gets the cancellation. Such an
    error is a failed close, not a cancellation of the caller. Python 3.10 cannot tell them apart:
    there every ``CancelledError`` is treated as a cancellation (re-raised after the teardown).
    """
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    return cancelling is None or cancelling() > 0


def _closed_without_waiting(conn: Any, state: Lifecycle | None, exc: BaseException) -> None:
    logger.debug(
        "naq.connection: closing connection %d gave %s; closed without waiting",
        connection_id(conn),
        state.describe(exc) if state is not None else type(exc).__name__,
    )


def _close_overdue(conn: Any, timeout: float) -> None:
    """Timer callback: ``close()`` took longer than ``timeout``; tear the client down (never raises)."""
    with contextlib.suppress(Exception):  # a timer callback must not raise into the loop
        logger.debug(
            "naq.connection: closing connection %d took over %g s; aborting its socket",
            connection_id(conn),
            timeout,
        )
    _connect.abandon(conn)


# ---------------------------------------------------------------------------------------- connection


class _OwnedOrBorrowed:
    """Exit half of the context managers: give a pool borrow back, or close the connection we opened.

    Subclasses set ``_conn`` (a connection they opened) or ``_borrow`` (a pool borrow they entered).
    """

    __slots__ = ("_borrow", "_conn")

    def __init__(self) -> None:
        self._conn: Client | None = None
        self._borrow: Any = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        borrow = self._borrow
        if borrow is not None:
            self._borrow = None
            await borrow.__aexit__(exc_type, exc, tb)
            return
        conn = self._conn
        if conn is not None:
            self._conn = None
            await close_connection(conn)


class _Connection(_OwnedOrBorrowed):
    """``async with nats_connection(...) as nc``: open on enter, always close on exit."""

    __slots__ = ("_config", "_pool")

    def __init__(self, config: Config | NatsConfig | str | None, pool: ConnectionPool | None) -> None:
        self._conn = None  # _OwnedOrBorrowed's fields, set here: one call less per connection
        self._borrow = None
        self._config = config
        self._pool = pool

    async def __aenter__(self) -> Client:
        pool = self._pool
        if pool is None:
            config = _resolve(self._config)
            if not config.reuse_connections:
                conn = self._conn = await open_connection(config)
                return conn
            pool = _default_pool(config)
        borrow = pool.connection()
        conn = await borrow.__aenter__()
        self._borrow = borrow
        return conn


def nats_connection(
    config: Config | NatsConfig | str | None = None, *, pool: ConnectionPool | None = None
) -> _Connection:
    """``async with nats_connection(config) as nc``: a connected nats-py client, closed on exit.

    ``config``: a Config, a NatsConfig, a server URL (or comma-separated URLs, applied over the
    global config) or None (``get_config().nats``, looked up on enter). The connection is closed
    however the block ends (normally, by an exception -- re-raised unchanged -- or by cancellation).
    With ``pool=`` (or ``reuse_connections`` on) a pooled connection is borrowed and not closed.
    A connect failure raises :class:`~naq.connection.errors.NaqConnectionError` within
    ``connection_timeout`` + 1 s.
    """
    if pool is not None:
        _check_pool_args(config, pool)
    return _Connection(config, pool)


# ---------------------------------------------------------------------------------------- JetStream


class _JetStreamContext:
    """``async with jetstream_context(nc) as js``."""

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


class _JetStream(_OwnedOrBorrowed):
    """``async with nats_jetstream(...) as (nc, js)``."""

    __slots__ = ("_config", "_options", "_pool")

    def __init__(
        self,
        config: Config | NatsConfig | str | None,
        pool: ConnectionPool | None,
        options: dict[str, Any],
    ) -> None:
        super().__init__()
        self._config = config
        self._pool = pool
        self._options = options

    async def __aenter__(self) -> tuple[Client, JetStreamContext]:
        pool = self._pool
        if pool is None:
            config = _resolve(self._config)
            if not config.reuse_connections:
                conn = await open_connection(config)
                try:
                    js = conn.jetstream(**self._options)
                except BaseException:
                    await close_connection(conn)
                    raise
                self._conn = conn
                return conn, js
            pool = _default_pool(config)
        borrow = pool.jetstream(**self._options)
        js = await borrow.__aenter__()
        self._borrow = borrow
        return js._nc, js  # the pool's cached context; nats-py keeps its client in ``_nc``


def nats_jetstream(
    config: Config | NatsConfig | str | None = None,
    *,
    pool: ConnectionPool | None = None,
    **jetstream_options: Any,
) -> _JetStream:
    """``async with nats_jetstream(config) as (nc, js)``: a connection and its JetStream context.

    ``config`` and ``pool`` as for :func:`nats_connection`; ``jetstream_options`` go to
    ``nc.jetstream()`` (``domain``, ``prefix``, ``timeout``). The connection is closed on exit.
    """
    _check_pool_args(config, pool)
    return _JetStream(config, pool, jetstream_options)


# ---------------------------------------------------------------------------------------- buckets


async def _bind_bucket(
    js: JetStreamContext,
    kind: str,
    bucket: str,
    create: bool,
    options: dict[str, Any],
) -> Any:
    """Look ``bucket`` up; create it when missing and ``create`` is true."""
    try:
        if kind is _KV:
            return await js.key_value(bucket)
        return await js.object_store(bucket)
    except js_errors.BucketNotFoundError as exc:
        if not create:
            raise NaqBucketNotFoundError(
                f"JetStream {kind} bucket {bucket!r} does not exist: create it first, or pass "
                "create=True to create it",
                bucket=bucket,
            ) from exc
    try:
        if kind is _KV:
            return await js.create_key_value(bucket=bucket, **options)
        return await js.create_object_store(bucket=bucket, **options)
    except js_errors.BadRequestError as exc:
        if exc.err_code != _BUCKET_EXISTS_ERR_CODE:
            raise
        # created concurrently with another configuration: use the bucket that exists
        if kind is _KV:
            return await js.key_value(bucket)
        return await js.object_store(bucket)


class _Bucket(_OwnedOrBorrowed, Generic[_H]):
    """``async with nats_kv_store(b) as kv`` / ``nats_object_store(b) as store``."""

    __slots__ = ("_bucket", "_config", "_create", "_kind", "_options", "_pool")

    def __init__(
        self,
        kind: str,
        bucket: str,
        config: Config | NatsConfig | str | None,
        create: bool,
        pool: ConnectionPool | None,
        options: dict[str, Any],
    ) -> None:
        super().__init__()
        self._kind = kind
        self._bucket = bucket
        self._config = config
        self._create = create
        self._pool = pool
        self._options = options

    async def __aenter__(self) -> _H:
        pool = self._pool
        config: NatsConfig | None = None
        if pool is None:
            config = _resolve(self._config)
            if config.reuse_connections:
                pool = _default_pool(config)
        try:
            if pool is not None:
                borrow: Any = (
                    pool.kv_store(self._bucket, create=self._create, **self._options)
                    if self._kind is _KV
                    else pool.object_store(self._bucket, create=self._create, **self._options)
                )
                handle: _H = await borrow.__aenter__()
                self._borrow = borrow
                return handle
            assert config is not None
            conn = await open_connection(config)
            try:
                js = conn.jetstream()
                handle = await _bind_bucket(js, self._kind, self._bucket, self._create, self._options)
            except BaseException:
                await close_connection(conn)
                raise
            self._conn = conn
            return handle
        except js_errors.ServiceUnavailableError as exc:
            # A ConnectionPool translates this itself; kept for pool-like objects that do not.
            used = config
            if used is None:
                assert pool is not None
                used = pool.config
            raise jetstream_unavailable(used.redacted_servers()) from exc


def _bucket_args(
    label: str, bucket: object, config: object, create: bool, pool: object, options: dict[str, Any]
) -> str:
    _check_pool_args(config, pool)
    return check_bucket_args(label, bucket, create, options)


def nats_kv_store(
    bucket: str,
    config: Config | NatsConfig | str | None = None,
    *,
    create: bool = False,
    pool: ConnectionPool | None = None,
    **kv_options: Any,
) -> _Bucket[KeyValue]:
    """``async with nats_kv_store("bucket") as kv``: a JetStream KV bucket on its own connection.

    Looks the bucket up with ``js.key_value(bucket)``. A missing bucket raises
    :class:`~naq.connection.errors.NaqBucketNotFoundError` unless ``create=True``, which creates it
    with ``js.create_key_value(bucket=bucket, **kv_options)`` (``history``, ``ttl``, ``max_bytes``,
    ...; they only apply on creation, an existing bucket is used as it is). Invalid bucket names raise
    :class:`~naq.connection.errors.NaqConfigError` before connecting; a server without JetStream
    raises :class:`~naq.connection.errors.NaqConnectionError`. The connection is closed on exit.
    """
    name = _bucket_args(_KV, bucket, config, create, pool, kv_options)
    return _Bucket(_KV, name, config, create, pool, kv_options)


def nats_object_store(
    bucket: str,
    config: Config | NatsConfig | str | None = None,
    *,
    create: bool = False,
    pool: ConnectionPool | None = None,
    **os_options: Any,
) -> _Bucket[ObjectStore]:
    """``async with nats_object_store("bucket") as store``: like :func:`nats_kv_store` for object stores
    (``js.object_store(bucket)`` / ``js.create_object_store(bucket=bucket, **os_options)``)."""
    name = _bucket_args(_OBJECT_STORE, bucket, config, create, pool, os_options)
    return _Bucket(_OBJECT_STORE, name, config, create, pool, os_options)
