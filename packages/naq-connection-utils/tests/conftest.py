"""Shared fixtures for naq-connection-utils' tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest

from naq.connection import events, utils


@pytest.fixture(autouse=True)
def _isolated_monitoring() -> Iterator[None]:
    """Every test starts and ends with no automatic monitoring and a zeroed default monitor."""
    utils.disable_connection_monitoring()
    utils.connection_monitor.reset_metrics()
    yield
    utils.disable_connection_monitoring()
    utils.connection_monitor.reset_metrics()
    events.clear_listeners()


def free_port() -> int:
    """A loopback port nothing listens on right now (the kernel picks it, we release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fake_connection(**attrs: Any) -> MagicMock:
    """A stand-in for a connected nats-py client: flush and rtt succeed."""
    conn = MagicMock(name="conn")
    conn.flush = AsyncMock(return_value=None)
    conn.rtt = AsyncMock(return_value=0.0005)
    for name, value in attrs.items():
        setattr(conn, name, value)
    return conn


def fake_context_manager(value: Any = None, *, enter_error: BaseException | None = None) -> MagicMock:
    """An async context manager like ``nats_connection(...)``: yields ``value`` or raises on enter."""
    cm = MagicMock(name="cm")
    cm.__aenter__ = AsyncMock(return_value=value, side_effect=enter_error)
    cm.__aexit__ = AsyncMock(return_value=False)
    return cm


@pytest.fixture
def conn() -> MagicMock:
    return fake_connection()


@pytest.fixture
def patched_connection(monkeypatch: pytest.MonkeyPatch, conn: MagicMock) -> MagicMock:
    """``naq.connection.utils.nats_connection`` replaced by a mock yielding ``conn``."""
    factory = MagicMock(name="nats_connection", return_value=fake_context_manager(conn))
    monkeypatch.setattr(utils, "nats_connection", factory)
    return factory
