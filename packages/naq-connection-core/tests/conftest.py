"""Shared fixtures of naq-connection-core's tests.

- every test starts and ends with no event listeners and a fresh global config, and runs with no
  ``NAQ_*`` variable from the caller's environment;
- ``events_log``: the connection events emitted during the test, in order;
- ``refused_url``: a 127.0.0.1 port nothing listens on (connections are refused at once);
- ``blackhole_url``: a 127.0.0.1 listener whose kernel accepts TCP connections that nobody ever
  answers (no NATS INFO): the "server that hangs" case. Nothing is accepted in this process, so the
  client side is the only thing that can hold file descriptors.

nats-server itself comes from naq-testing's fixtures (``nats_server``, ``nats_url``,
``nats_server_factory``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from naq.connection import events
from naq.connection.config import reset_config
from naq.connection.events import ConnectionEvent


@pytest.fixture(autouse=True)
def _isolated_core_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("NAQ_"):
            monkeypatch.delenv(name)
    events.clear_listeners()
    reset_config()
    yield
    events.clear_listeners()
    reset_config()


@pytest.fixture
def events_log() -> Iterator[list[ConnectionEvent]]:
    """Every ConnectionEvent emitted while the test runs."""
    log: list[ConnectionEvent] = []
    remove = events.add_listener(log.append)
    yield log
    remove()


@pytest.fixture
def refused_url() -> str:
    """``nats://127.0.0.1:<port>`` where nothing listens: connects are refused immediately."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"nats://127.0.0.1:{port}"


@pytest.fixture
def blackhole_url() -> Iterator[str]:
    """``nats://127.0.0.1:<port>`` of a listener that completes TCP handshakes and never sends INFO."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    try:
        yield f"nats://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
