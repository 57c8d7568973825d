"""naq.testing: pytest toolkit for code that uses NATS.

Real nats-server fixtures with fault injection (``NatsServer``, ``NatsCluster``), client
factories, leak checks and per-test names. The pytest plugin (``naq.testing.plugin``) is
registered through the ``pytest11`` entry point ``naq_testing``; the in-memory fake lives in
``naq.testing.fake``.

Names are imported on first use (PEP 562), so loading the pytest plugin does not import nats-py
and the server machinery in projects that never use them. ``__version__`` is read from the
installed distribution's metadata (``importlib.metadata``), so it is always the released version.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from naq.testing._binary import find_nats_server
    from naq.testing.clients import DEFAULT_CONNECT_OPTIONS, NatsClientFactory
    from naq.testing.cluster import NatsCluster
    from naq.testing.errors import NaqTestingError, NatsLeakError, NatsServerError, NatsServerNotFoundError
    from naq.testing.leaks import LeakCheck, LeakedConnection
    from naq.testing.names import NatsNames
    from naq.testing.reconnect import wait_reconnected
    from naq.testing.server import NatsServer, TLSOptions, live_servers

    __version__: str

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
    "wait_reconnected": "naq.testing.reconnect",
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
    "wait_reconnected",
    "NaqTestingError",
    "NatsServerError",
    "NatsServerNotFoundError",
    "NatsLeakError",
]


DISTRIBUTION = "naq-testing"


def _version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'naq.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
