"""naq.connection.decorators: inject connections, monitor calls, retry transient failures.

This module is the patch surface. The decorators look these names up here on every call, so
tests can patch them (``mock.patch("naq.connection.decorators.nats_connection")``):

- ``nats_connection``, ``nats_jetstream``, ``nats_kv_store``: core's context managers.
- ``get_config``: core's cached global configuration (used for ``config_key`` profiles).
- ``connection_monitor``: utils' global ``ConnectionMonitor`` (used by ``with_connection_monitoring``).
- ``logger``: the ``naq.connection.decorators`` logger (retry warnings and errors).
- ``asyncio``: the module whose ``sleep`` the retry decorator waits with.
"""

from __future__ import annotations

import asyncio as asyncio
import logging

from naq.connection.config import get_config as get_config
from naq.connection.context_managers import nats_connection as nats_connection
from naq.connection.context_managers import nats_jetstream as nats_jetstream
from naq.connection.context_managers import nats_kv_store as nats_kv_store
from naq.connection.utils import connection_monitor as connection_monitor

__version__: str = __import__("importlib.metadata").metadata.version("naq-connection-decorators")
logger = logging.getLogger(__name__)

# The submodules read the names above from this module at call time, so they are imported last.
from naq.connection.decorators._inject import (  # noqa: E402
    with_jetstream_context,
    with_kv_store,
    with_nats_connection,
)
from naq.connection.decorators._monitoring import with_connection_monitoring  # noqa: E402
from naq.connection.decorators._retry import (  # noqa: E402
    is_retry_testing,
    retry_on_connection_failure,
    retry_testing,
    set_retry_testing,
)

__all__ = [
    "with_nats_connection",
    "with_jetstream_context",
    "with_kv_store",
    "with_connection_monitoring",
    "retry_on_connection_failure",
    "set_retry_testing",
    "is_retry_testing",
    "retry_testing",
]
