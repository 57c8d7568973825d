"""The per-loop watchdog: callbacks at their deadlines, one timer, nothing after unwatch."""

from __future__ import annotations

import asyncio
import logging

import pytest

from naq.connection._watchdog import watchdog

pytestmark = pytest.mark.unit


async def test_due_callbacks_run_in_deadline_order_and_unwatched_ones_never() -> None:
    dog = watchdog()
    assert watchdog() is dog  # one per loop
    fired: list[str] = []
    dog.watch(0.08, lambda: fired.append("late"))
    dog.watch(0.02, lambda: fired.append("early"))  # earlier than the armed timer: re-armed
    cancelled = dog.watch(0.01, lambda: fired.append("cancelled"))
    dog.unwatch(cancelled)
    dog.unwatch(12345)  # unknown tokens are ignored
    await asyncio.sleep(0.05)
    assert fired == ["early"]
    await asyncio.sleep(0.1)
    assert fired == ["early", "late"]
    assert dog.pending() == 0


async def test_a_failing_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dog = watchdog()
    fired: list[int] = []

    def boom() -> None:
        raise RuntimeError("broken")

    dog.watch(0.01, boom)
    dog.watch(0.01, lambda: fired.append(1))
    with caplog.at_level(logging.WARNING, logger="naq.connection"):
        await asyncio.sleep(0.05)
    assert fired == [1]
    assert "deadline callback failed: RuntimeError: broken" in caplog.text


def test_each_loop_has_its_own() -> None:
    async def get() -> object:
        return watchdog()

    assert asyncio.run(get()) is not asyncio.run(get())
