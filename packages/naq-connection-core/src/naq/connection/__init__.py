__path__ = __import__("pkgutil").extend_path(__path__, __name__)
# ruff: noqa: E402 -- the extend_path line must come first
"""naq.connection: NATS connections, JetStream contexts and KV / object stores for asyncio.

This ``__init__`` is shipped by naq-connection-core only. The ``extend_path`` line above lets
``naq.connection.utils`` and ``naq.connection.decorators`` (other distributions) be found under
this package in editable and wheel installs alike.

It re-exports core's public API (config, errors, events, context managers, pool) and, lazily (on
first access), naq's legacy connection API from :mod:`naq.connection.legacy`
(``get_nats_connection``, ``get_jetstream_context``, ``close_nats_connection``,
``close_all_connections``, ``ensure_stream``), so ``from naq.connection import get_nats_connection``
works in naq unchanged. Patch names in the module that uses them (e.g.
``naq.connection.context_managers.nats_connection``), not here.
"""

import warnings as _warnings
from importlib.metadata import version as _version
from typing import Any

from naq.connection import events as _events
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
    NaqError,
    is_transient,
)
from naq.connection.events import (
    ConnectionEvent,
    ConnectionEventKind,
    ConnectionEventListener,
    add_listener,
    remove_listener,
)
from naq.connection.pool import ConnectionPool, PoolStats, close_default_pools, get_default_pool

__version__: str = _version("naq-connection-core")

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
    "NaqError",
    "NaqBucketNotFoundError",
    "NaqConfigError",
    "NaqConnectionError",
    "is_transient",
    # events
    "ConnectionEvent",
    "ConnectionEventKind",
    "ConnectionEventListener",
    "add_listener",
    "remove_listener",
    # pool
    "ConnectionPool",
    "PoolStats",
    "close_default_pools",
    "get_default_pool",
    # naq's legacy connection API (imported on first use)
    "get_nats_connection",
    "get_jetstream_context",
    "close_nats_connection",
    "close_all_connections",
    "ensure_stream",
]

_LEGACY = frozenset(
    {
        "DEFAULT_NATS_URL",
        "get_nats_connection",
        "get_jetstream_context",
        "close_nats_connection",
        "close_all_connections",
        "ensure_stream",
    }
)
_MOVED_TO_EVENTS = frozenset({"clear_listeners", "emit", "has_listeners"})


def __getattr__(name: str) -> Any:
    """naq's legacy names, imported on first use; names that moved, with a DeprecationWarning."""
    if name in _LEGACY:
        from naq.connection import legacy

        value = getattr(legacy, name)
        globals()[name] = value
        return value
    if name in _MOVED_TO_EVENTS:
        _warnings.warn(
            f"naq.connection.{name} is deprecated and will be removed in the next release: "
            f"use naq.connection.events.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_events, name)
    raise AttributeError(f"module 'naq.connection' has no attribute {name!r}")
