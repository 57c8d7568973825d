"""naq.testing: pytest toolkit for code that uses NATS.

Real nats-server fixtures with fault injection (``NatsServer``, ``NatsCluster``), client
factories, leak checks and per-test names. The pytest plugin (``naq.testing.plugin``) is
registered through the ``pytest11`` entry point ``naq_testing``.
"""

from __future__ import annotations

from naq.testing._binary import find_nats_server
from naq.testing.clients import DEFAULT_CONNECT_OPTIONS, NatsClientFactory
from naq.testing.errors import NaqTestingError, NatsLeakError, NatsServerError, NatsServerNotFoundError
from naq.testing.server import NatsServer, TLSOptions

__all__ = [
    "NatsServer",
    "TLSOptions",
    "NatsClientFactory",
    "DEFAULT_CONNECT_OPTIONS",
    "find_nats_server",
    "NaqTestingError",
    "NatsServerError",
    "NatsServerNotFoundError",
    "NatsLeakError",
]
