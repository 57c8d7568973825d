__path__ = __import__("pkgutil").extend_path(__path__, __name__)
"""naq.connection: NATS connections, JetStream contexts and KV / object stores for asyncio.

This ``__init__`` is shipped by naq-connection-core only. The ``extend_path`` line above lets
``naq.connection.utils`` and ``naq.connection.decorators`` (other distributions) be found under
this package in editable and wheel installs alike.
"""

from naq.connection.errors import (
    NaqBucketNotFoundError,
    NaqConfigError,
    NaqConnectionError,
    is_transient,
)
from naq.connection.events import ConnectionEvent, ConnectionEventKind, add_listener, remove_listener

__all__ = [
    "ConnectionEvent",
    "ConnectionEventKind",
    "NaqBucketNotFoundError",
    "NaqConfigError",
    "NaqConnectionError",
    "add_listener",
    "is_transient",
    "remove_listener",
]
