"""Shared fixtures of the end-to-end suite: real nats-servers, isolation of naq's global state.

Every test here runs against real nats-server processes started through naq-testing and checks at
teardown that the server reports no client connection left open (``/connz``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helper module lives next to this file; importlib mode does not put test dirs on sys.path.
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from naq.testing import NatsServer  # noqa: E402


def _reset_naq_state() -> None:
    """Forget the cached config, event listeners and monitor counts between tests."""
    from naq.connection import config as naq_config
    from naq.connection import events, utils

    naq_config.reset_config()
    utils.disable_connection_monitoring()  # every monitor; also forgets which ones were enabled
    events.clear_listeners()
    utils.connection_monitor.reset_metrics()


@pytest.fixture(autouse=True)
def _isolate_naq(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No NAQ_* variable from the caller's shell, fresh config / listeners / metrics per test."""
    import os

    for name in list(os.environ):
        if name.startswith("NAQ_"):
            monkeypatch.delenv(name)
    _reset_naq_state()
    yield
    _reset_naq_state()


@pytest.fixture(scope="module")
def js_server() -> Iterator[NatsServer]:
    """One JetStream-enabled nats-server per test module (tests use unique names on it)."""
    server = NatsServer(jetstream=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
