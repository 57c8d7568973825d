"""naq.testing: pytest toolkit for code that uses NATS.

Real nats-server fixtures with fault injection (``NatsServer``, ``NatsCluster``), client
factories, leak checks and per-test names. The pytest plugin (``naq.testing.plugin``) is
registered through the ``pytest11`` entry point ``naq_testing``; the in-memory fake lives in
``naq.testing.fake``.

Names are imported on first use (PEP 562), so loading the pytest plugin does not import nats-py
and the server machinery in projects that never use them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from naq.testing._binary import find_nats_server
    from naq.testing.clients import DEFAULT_CONNECT_OPTIONS, NatsClientFactory
    from naq.testing.cluster import NatsCluster
    from naq.testing.errors import NaqTestingError, NatsLeakError, NatsServerError, NatsServerNotFoundError
    from naq.testing.leaks import LeakCheck, LeakedConnection
    from naq.testing.names import NatsNames
    from naq.testing.server import NatsServer, TLSOptions, live_servers

_EXPORTS = {
    "NatsServer": "naq.testing.server",
    "TLSOptions": "naq.testing.server",
    "live_servers": "naq.testing.server",
    "NatsCluster": "naq.testing.cluster",
    "NatsClientFactory": "naq.testing.clients",
    "DEFAULT_CONNECT_OPTIONS": "naq.testing.clients",
    "NatsNames": "naq.testing.names",
    "LeakCheck": "naq.testing.leaks",
    "LeakedConnection": "naq.testing.leaks",
    "find_nats_server": "naq.testing._binary",
    "NaqTestingError": "naq.testing.errors",
    "NatsServerError": "naq.testing.errors",
    "NatsServerNotFoundError": "naq.testing.errors",
    "NatsLeakError": "naq.testing.errors",
}

__all__ = [
    "NatsServer",
    "TLSOptions",
    "NatsCluster",
    "NatsClientFactory",
    "DEFAULT_CONNECT_OPTIONS",
    "NatsNames",
    "LeakCheck",
    "LeakedConnection",
    "live_servers",
    "find_nats_server",
    "NaqTestingError",
    "NatsServerError",
    "NatsServerNotFoundError",
    "NatsLeakError",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'naq.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
