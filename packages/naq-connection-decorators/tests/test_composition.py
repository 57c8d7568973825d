"""Decorators stacked in different orders: who sees which attempt, and what callers see."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import nats.errors
import pytest

from naq.connection.decorators import (
    retry_on_connection_failure,
    with_connection_monitoring,
    with_jetstream_context,
    with_nats_connection,
)
from naq.connection.errors import NaqConnectionError
from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.unit


def connect_error() -> NaqConnectionError:
    error = NaqConnectionError("could not connect to nats://127.0.0.1:1")
    error.__cause__ = nats.errors.NoServersError()
    return error


def flaky_jetstream_cm(patched_cms: SimpleNamespace, failures: int) -> list[MagicMock]:
    """Make ``nats_jetstream`` fail to connect ``failures`` times, then yield ``(conn, js)``."""
    made: list[MagicMock] = []

    def factory(*args: Any, **kwargs: Any) -> MagicMock:
        cm = MagicMock(name="cm")
        if len(made) < failures:
            cm.__aenter__ = AsyncMock(side_effect=connect_error())
        else:
            cm.__aenter__ = AsyncMock(return_value=(patched_cms.conn, patched_cms.js))
        cm.__aexit__ = AsyncMock(return_value=None)
        made.append(cm)
        return cm

    patched_cms.nats_jetstream.side_effect = factory
    return made


async def test_retry_over_monitoring_over_jetstream(
    counts: Any, patched_cms: SimpleNamespace, sleep: AsyncMock
) -> None:
    monitor = ConnectionMonitor()
    made = flaky_jetstream_cm(patched_cms, failures=2)

    @retry_on_connection_failure(max_retries=3, retry_delay=0.1, jitter=False)
    @with_connection_monitoring(monitor=monitor)
    @with_jetstream_context
    async def publish(js: Any, subject: str, data: bytes) -> tuple[Any, str, bytes]:
        """Publish on JetStream."""
        return js, subject, data

    assert await publish("orders", b"1") == (patched_cms.js, "orders", b"1")
    assert len(made) == 3  # a fresh connection per attempt: the failed connect was retried
    assert [c.args[0] for c in sleep.call_args_list] == [0.1, 0.2]
    assert counts(monitor) == (3, 0, 1, 2)
    assert str(inspect.signature(publish)) == "(subject: 'str', data: 'bytes') -> 'tuple[Any, str, bytes]'"
    assert publish.__doc__ == "Publish on JetStream."
    assert publish.__name__ == "publish"


async def test_monitoring_over_retry_counts_one_operation(
    counts: Any, patched_cms: SimpleNamespace, sleep: AsyncMock
) -> None:
    monitor = ConnectionMonitor()
    flaky_jetstream_cm(patched_cms, failures=2)

    @with_connection_monitoring(monitor=monitor)
    @retry_on_connection_failure(max_retries=3, jitter=False)
    @with_jetstream_context()
    async def publish(js: Any) -> Any:
        return js

    assert await publish() is patched_cms.js
    assert counts(monitor) == (1, 0, 1, 0)


async def test_injection_outermost_retries_inside_one_connection(
    patched_cms: SimpleNamespace, sleep: AsyncMock
) -> None:
    body = AsyncMock(side_effect=[nats.errors.TimeoutError(), "ok"])

    @with_nats_connection
    @with_connection_monitoring
    @retry_on_connection_failure(jitter=False)
    async def request(conn: Any, subject: str) -> Any:
        return await body(conn, subject)

    assert await request("svc") == "ok"
    assert patched_cms.nats_connection.call_count == 1  # one connection, the body retried on it
    assert [c.args for c in body.call_args_list] == [(patched_cms.conn, "svc")] * 2
    assert list(inspect.signature(request).parameters) == ["subject"]


async def test_giving_up_through_the_stack_reraises_the_connect_error(
    counts: Any, patched_cms: SimpleNamespace, sleep: AsyncMock
) -> None:
    monitor = ConnectionMonitor()
    made = flaky_jetstream_cm(patched_cms, failures=10)

    @retry_on_connection_failure(max_retries=2, jitter=False)
    @with_connection_monitoring(monitor=monitor)
    @with_jetstream_context
    async def publish(js: Any) -> None:
        return None

    with pytest.raises(NaqConnectionError) as info:
        await publish()
    assert info.value is made[2].__aenter__.side_effect
    assert counts(monitor) == (3, 0, 0, 3)
