__path__ = __import__("pkgutil").extend_path(__path__, __name__)
# ruff: noqa: E402 -- the extend_path line must come first
"""naq.connection: NATS connections, JetStream contexts and KV / object stores for asyncio.

This ``__init__`` is shipped by naq-connection-core only. The ``extend_path`` line above lets
``naq.connection.utils`` and ``naq.connection.decorators`` (other distributions) be found under
this package in editable and wheel installs alike.

It re-exports core's public API (config, errors, events, context managers, pool). Patch names in
the module that uses them (e.g. ``naq.connection.context_managers.nats``), not here.
"""

from naq.connection.config import (
    DEFAULT_SERVER,
    Config,
    NatsConfig,
    TLSConfig,
    get_config,
    load_config,
    redact,
    redact_url,
    reset_config,
    resolve_nats_config,
    set_config,
)
from naq.connection.context_managers import (
    close_connection,
    connection_id,
    jetstream_context,
    nats_connection,
    nats_jetstream,
    nats_kv_store,
    nats_object_store,
    open_connection,
)
from naq.connection.errors import (
    NaqBucketNotFoundError,
    NaqConfigError,
    NaqConnectionError,
    is_transient,
)
from naq.connection.events import (
    ConnectionEvent,
    ConnectionEventKind,
    ConnectionEventListener,
    add_listener,
    clear_listeners,
    emit,
    has_listeners,
    remove_listener,
)
from naq.connection.pool import ConnectionPool, PoolStats, close_default_pools, get_default_pool

__all__ = [
    # config
    "DEFAULT_SERVER",
    "Config",
    "NatsConfig",
    "TLSConfig",
    "get_config",
    "load_config",
    "redact",
    "redact_url",
    "reset_config",
    "resolve_nats_config",
    "set_config",
    # context managers
    "nats_connection",
    "jetstream_context",
    "nats_jetstream",
    "nats_kv_store",
    "nats_object_store",
    "open_connection",
    "close_connection",
    "connection_id",
    # errors
    "NaqBucketNotFoundError",
    "NaqConfigError",
    "NaqConnectionError",
    "is_transient",
    # events
    "ConnectionEvent",
    "ConnectionEventKind",
    "ConnectionEventListener",
    "add_listener",
    "clear_listeners",
    "emit",
    "has_listeners",
    "remove_listener",
    # pool
    "ConnectionPool",
    "PoolStats",
    "close_default_pools",
    "get_default_pool",
]
