"""Shared fixtures for naq-connection-decorators' tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest

import naq.connection.decorators as deco
from naq.connection import utils
from naq.connection.pool import ConnectionPool
from naq.connection.utils import ConnectionMonitor

Counts = Callable[[ConnectionMonitor], tuple[int, int, int, int]]


def _counts(monitor: ConnectionMonitor) -> tuple[int, int, int, int]:
    m = monitor.get_metrics()
    return m.operations_started, m.active_operations, m.operations_succeeded, m.operations_failed


@pytest.fixture
def counts() -> Counts:
    """``counts(monitor) -> (started, active, succeeded, failed)`` of the monitor's operations."""
    return _counts


def async_cm(value: Any) -> MagicMock:
    """A MagicMock usable as ``async with cm as x`` yielding ``value`` (exit recorded, never swallows)."""
    cm = MagicMock(name="cm")
    cm.__aenter__ = AsyncMock(return_value=value)
    cm.__aexit__ = AsyncMock(return_value=None)
    return cm


@pytest.fixture
async def pool() -> AsyncIterator[ConnectionPool]:
    """A real ConnectionPool that is never used for a connection (its URL refuses): for patched surfaces."""
    pool = ConnectionPool("nats://127.0.0.1:1")
    yield pool
    await pool.close()


@pytest.fixture
def conn() -> SimpleNamespace:
    return SimpleNamespace(name="conn")


@pytest.fixture
def patched_cms(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Patch the three context managers on the patch surface, as users' tests do."""
    ns = SimpleNamespace(
        conn=SimpleNamespace(name="conn"),
        js=SimpleNamespace(name="js"),
        kv=SimpleNamespace(name="kv"),
    )
    ns.nats_connection = MagicMock(name="nats_connection", side_effect=lambda *a, **k: async_cm(ns.conn))
    ns.nats_jetstream = MagicMock(
        name="nats_jetstream", side_effect=lambda *a, **k: async_cm((ns.conn, ns.js))
    )
    ns.nats_kv_store = MagicMock(name="nats_kv_store", side_effect=lambda *a, **k: async_cm(ns.kv))
    monkeypatch.setattr(deco, "nats_connection", ns.nats_connection)
    monkeypatch.setattr(deco, "nats_jetstream", ns.nats_jetstream)
    monkeypatch.setattr(deco, "nats_kv_store", ns.nats_kv_store)
    return ns


@pytest.fixture
def sleep(monkeypatch: pytest.MonkeyPatch) -> AsyncMock:
    """Patch ``naq.connection.decorators.asyncio`` so retries record their waits instead of sleeping."""
    fake = AsyncMock(name="sleep", return_value=None)
    monkeypatch.setattr(deco, "asyncio", SimpleNamespace(sleep=fake))
    return fake


@pytest.fixture(autouse=True)
def _isolation() -> Iterator[None]:
    """Every test starts with retry testing mode off and a zeroed default monitor."""
    deco.set_retry_testing(False)
    utils.connection_monitor.reset_metrics()
    yield
    deco.set_retry_testing(False)
    utils.connection_monitor.reset_metrics()
