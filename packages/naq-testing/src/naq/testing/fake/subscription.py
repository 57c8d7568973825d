"""A core NATS subscription: callback, ``next_msg`` and ``async for`` styles like nats-py's."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import nats.errors
from nats.aio.msg import Msg

from ._unsupported import UnsupportedAttributes

if TYPE_CHECKING:
    from .client import FakeClient

MsgCallback = Callable[[Msg], Awaitable[None]]


class FakeSubscription(UnsupportedAttributes):
    """Interest in a subject held by one fake client; messages arrive through the shared FakeNats."""

    _fake_kind = "Subscription"

    def __init__(
        self,
        client: FakeClient,
        sid: int,
        subject: str,
        queue: str = "",
        cb: MsgCallback | None = None,
        max_msgs: int = 0,
    ) -> None:
        if cb is not None and not inspect.iscoroutinefunction(cb):
            raise nats.errors.Error("nats: must use coroutine for subscriptions")
        self._client = client
        self._sid = sid
        self._subject = subject
        self._queue = queue
        self._cb = cb
        self._max_msgs = max_msgs
        self._received = 0
        self._closed = False
        self._queue_msgs: asyncio.Queue[Msg | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        if cb is not None:
            self._task = asyncio.get_running_loop().create_task(self._run_callbacks(cb))

    @property
    def subject(self) -> str:
        """The subject (maybe with wildcards) this subscription listens on."""
        return self._subject

    @property
    def queue(self) -> str:
        """The queue group name, or ``""``."""
        return self._queue

    @property
    def delivered(self) -> int:
        """Messages delivered to this subscription so far."""
        return self._received

    @property
    def pending_msgs(self) -> int:
        """Messages waiting in this subscription's queue."""
        return self._queue_msgs.qsize()

    @property
    def is_active(self) -> bool:
        """False once unsubscribed, drained or the client closed."""
        return not self._closed

    def _deliver(self, msg: Msg) -> None:
        """Called by FakeNats: queue ``msg`` and apply the auto-unsubscribe limit."""
        if self._closed:
            return
        self._received += 1
        self._queue_msgs.put_nowait(msg)
        if self._max_msgs and self._received >= self._max_msgs:
            self._client._forget_subscription(self)
            self._closed = True
            self._queue_msgs.put_nowait(None)

    async def _run_callbacks(self, cb: MsgCallback) -> None:
        while True:
            msg = await self._queue_msgs.get()
            try:
                if msg is None:
                    return
                try:
                    await cb(msg)
                except Exception as exc:  # errors in handlers go to error_cb, as in nats-py
                    await self._client._report_error(exc)
            finally:
                self._queue_msgs.task_done()

    async def next_msg(self, timeout: float | None = 1.0) -> Msg:
        """Next message, or ``nats.errors.TimeoutError`` after ``timeout`` seconds."""
        if self._client.is_closed:
            raise nats.errors.ConnectionClosedError
        if self._cb is not None:
            raise nats.errors.Error("nats: next_msg cannot be used in async subscriptions")
        if self._closed and self._queue_msgs.empty():
            raise nats.errors.TimeoutError
        try:
            msg = await asyncio.wait_for(self._queue_msgs.get(), timeout)
        except asyncio.TimeoutError:
            if self._client.is_closed:
                raise nats.errors.ConnectionClosedError from None
            raise nats.errors.TimeoutError from None
        self._queue_msgs.task_done()
        if msg is None:
            if self._client.is_closed:
                raise nats.errors.ConnectionClosedError
            raise nats.errors.TimeoutError
        return msg

    @property
    def messages(self) -> AsyncIterator[Msg]:
        """Async iterator over messages; ends when the subscription is removed."""
        if self._cb is not None:
            raise nats.errors.Error("cannot iterate over messages with a non iteration subscription type")
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Msg]:
        while True:
            msg = await self._queue_msgs.get()
            self._queue_msgs.task_done()
            if msg is None:
                return
            yield msg

    async def unsubscribe(self, limit: int = 0) -> None:
        """Remove interest now, or after ``limit`` messages in total."""
        self._check_usable()
        if limit and self._received < limit:
            self._max_msgs = limit
            return
        self._stop()

    async def drain(self) -> None:
        """Stop receiving, let queued messages be processed, then remove the subscription."""
        self._check_usable()
        await self._drain()

    async def _drain(self) -> None:
        self._client._forget_subscription(self)
        self._closed = True
        if self._task is not None:
            await self._queue_msgs.join()
        self._stop()

    def _check_usable(self) -> None:
        if self._client.is_closed:
            raise nats.errors.ConnectionClosedError
        if self._client.is_draining:
            raise nats.errors.ConnectionDrainingError
        if self._closed:
            raise nats.errors.BadSubscriptionError

    def _stop(self) -> None:
        self._client._forget_subscription(self)
        self._closed = True
        self._queue_msgs.put_nowait(None)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _close(self) -> None:
        """Called when the client closes: stop the callback task and wait for it to finish."""
        self._stop()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
