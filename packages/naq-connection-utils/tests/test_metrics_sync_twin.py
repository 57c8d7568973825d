"""The synchronous twin of record_connection_end does exactly what the async method does."""

from __future__ import annotations

import pytest

from naq.connection.utils import ConnectionMonitor

pytestmark = pytest.mark.unit


async def test_connection_ended_matches_record_connection_end() -> None:
    sync, via_async = ConnectionMonitor(), ConnectionMonitor()
    sync.connection_started()
    sync.connection_ended(1.5)
    await via_async.record_connection_start()
    await via_async.record_connection_end(1.5)
    a, b = sync.get_metrics(), via_async.get_metrics()
    assert (a.active_connections, a.successful_connections, a.average_connection_time) == (0, 1, 1.5)
    assert a == b
