"""Deadlines for connects and closes, with one timer per event loop instead of one per operation.

Every ``open_connection`` has a hard deadline and every ``close_connection`` a bound. A
``loop.call_later`` per operation costs more than it looks: asyncio's timer heap compares
``TimerHandle`` objects in Python, and cancelled handles stay in the heap until they expire, so two
timers per connect/close cycle measured 5% of a local connect + close. Here each loop has one
:class:`Watchdog`: watching a deadline is a dict insert (plus re-arming the single timer only when
the new deadline is the earliest), and finishing in time is a dict delete. When the timer fires it
runs the callbacks whose deadlines have passed and re-arms itself for the next pending one, if any.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import weakref
from collections.abc import Callable

logger = logging.getLogger("naq.connection")

_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog] = weakref.WeakKeyDictionary()


class Watchdog:
    """Runs callbacks at their deadlines on one event loop, with a single timer."""

    __slots__ = ("_entries", "_loop_ref", "_timer", "_timer_at", "_tokens")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: the registry maps loop -> watchdog, so a strong reference back would keep every
        # loop (and its watchdog) alive for ever.
        self._loop_ref = weakref.ref(loop)
        self._entries: dict[int, tuple[float, Callable[[], object]]] = {}
        self._tokens = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def watch(self, delay: float, callback: Callable[[], object]) -> int:
        """Call ``callback()`` in ``delay`` seconds unless :meth:`unwatch` is called with the token."""
        loop = self._loop_ref()
        assert loop is not None, "watch() runs on its own (running) loop"
        when = loop.time() + delay
        token = next(self._tokens)
        self._entries[token] = (when, callback)
        if when < self._timer_at:
            self._arm(when)
        return token

    def unwatch(self, token: int) -> None:
        """Forget a deadline (the operation finished in time); unknown tokens are ignored."""
        self._entries.pop(token, None)

    def pending(self) -> int:
        """How many deadlines are being watched (for tests)."""
        return len(self._entries)

    def _arm(self, when: float) -> None:
        loop = self._loop_ref()
        if loop is None:  # pragma: no cover -- a collected loop runs no callbacks
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        loop = self._loop_ref()
        if loop is None:  # pragma: no cover -- a collected loop runs no callbacks
            return
        now = loop.time()
        due = [token for token, (when, _) in self._entries.items() if when <= now]
        for token in due:
            _, callback = self._entries.pop(token)
            try:
                callback()
            except Exception as exc:  # a deadline callback must never break the loop
                logger.warning("naq.connection: deadline callback failed: %s: %s", type(exc).__name__, exc)
        if self._entries:
            self._arm(min(when for when, _ in self._entries.values()))


_last: Watchdog | None = None
"""The watchdog returned last: nearly every call comes from the same loop, and checking it is much
cheaper than a ``WeakKeyDictionary`` lookup (which builds a weak reference per call)."""


def watchdog(loop: asyncio.AbstractEventLoop | None = None) -> Watchdog:
    """The watchdog of ``loop`` (default: the running loop), created on first use, dropped with the loop."""
    global _last
    if loop is None:
        loop = asyncio.get_running_loop()
    last = _last
    if last is not None and last._loop_ref() is loop:
        return last
    dog = _watchdogs.get(loop)
    if dog is None:
        dog = _watchdogs[loop] = Watchdog(loop)
    _last = dog
    return dog
