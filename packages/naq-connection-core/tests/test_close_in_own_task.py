"""close_connection on Python 3.10's path: close() in a task of its own (mocks; all versions)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from naq.connection import context_managers as cm

pytestmark = pytest.mark.unit


class FakeConn:
    """Just what close_connection touches on a connection it did not open."""

    def __init__(self, close: Any) -> None:
        self._close = close
        self.is_closed = False
        self.is_connected = True
        self.aborted = False

    async def close(self) -> None:
        await self._close()
        self.is_closed = True


@pytest.fixture(autouse=True)
def python_310_path(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setattr(cm, "_TASKS_COUNT_CANCELS", False)
    aborted: list[Any] = []
    monkeypatch.setattr(cm._connect, "abandon", aborted.append)
    return aborted


async def test_a_normal_close_completes(python_310_path: list[Any]) -> None:
    async def close() -> None:
        await asyncio.sleep(0)

    conn = FakeConn(close)
    await cm.close_connection(conn, timeout=5)  # type: ignore[arg-type]
    assert conn.is_closed
    assert python_310_path == []


async def test_nats_py_cancelling_its_own_close_is_a_failed_close_not_a_cancellation(
    python_310_path: list[Any],
) -> None:
    async def close() -> None:
        raise asyncio.CancelledError  # what nats-py 2.16 does when closed mid-reconnect

    conn = FakeConn(close)
    await cm.close_connection(conn, timeout=5)  # type: ignore[arg-type]  # returns normally
    assert python_310_path == [conn]  # torn down without waiting


async def test_a_real_cancellation_of_the_caller_propagates(python_310_path: list[Any]) -> None:
    started = asyncio.Event()

    async def close() -> None:
        started.set()
        await asyncio.sleep(30)

    conn = FakeConn(close)
    task = asyncio.ensure_future(cm.close_connection(conn, timeout=60))  # type: ignore[arg-type]
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert python_310_path == [conn]


async def test_other_close_errors_are_a_failed_close(python_310_path: list[Any]) -> None:
    async def close() -> None:
        raise OSError("socket gone")

    conn = FakeConn(close)
    await cm.close_connection(conn, timeout=5)  # type: ignore[arg-type]
    assert python_310_path == [conn]
