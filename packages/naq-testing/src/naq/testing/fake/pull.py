"""``js.pull_subscribe`` subscriptions: ``fetch`` with nats-py's errors and message metadata."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

import nats.errors
from nats.aio.msg import Msg
from nats.js import api

from ._unsupported import UnsupportedAttributes

if TYPE_CHECKING:
    from .consumers import FakeConsumer
    from .jetstream import FakeJetStreamContext

_POLL = 0.01


class FakePullSubscription(UnsupportedAttributes):
    """Bound to one pull consumer; ``fetch`` hands out messages whose ack goes back to the fake."""

    _fake_kind = "PullSubscription"

    def __init__(self, js: FakeJetStreamContext, stream: str, consumer: str) -> None:
        self._js = js
        self._stream = stream
        self._consumer = consumer
        self._delivered = 0
        self._active = True

    @property
    def pending_msgs(self) -> int:
        return 0

    @property
    def pending_bytes(self) -> int:
        return 0

    @property
    def delivered(self) -> int:
        """Messages fetched through this subscription so far."""
        return self._delivered

    async def unsubscribe(self) -> None:
        """Stop using this subscription (the durable consumer itself stays on the stream)."""
        if self._js._client.is_closed:
            raise nats.errors.ConnectionClosedError
        if not self._active:
            raise nats.errors.BadSubscriptionError
        self._active = False

    async def consumer_info(self) -> api.ConsumerInfo:
        return await self._js.consumer_info(self._stream, self._consumer)

    def _find_consumer(self) -> FakeConsumer | None:
        stream = self._js._server.streams.get(self._stream)
        return stream.consumers.get(self._consumer) if stream is not None else None

    async def fetch(
        self, batch: int = 1, timeout: float | None = 5, heartbeat: float | None = None
    ) -> list[Msg]:
        """Up to ``batch`` messages; waits up to ``timeout`` for the first, else ``TimeoutError``."""
        if not self._active:
            raise nats.errors.BadSubscriptionError
        if batch < 1:
            raise ValueError("nats: invalid batch size")
        if timeout is not None and timeout <= 0:
            raise ValueError("nats: invalid fetch timeout")
        client = self._js._client
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            client._check_can_publish()
            consumer = self._find_consumer()
            deliveries = consumer.take(batch) if consumer is not None else []
            if deliveries:
                self._delivered += len(deliveries)
                return [
                    Msg(
                        _client=cast(Any, client),
                        subject=d.msg.subject,
                        reply=d.reply_subject(self._stream, self._consumer),
                        data=d.msg.data,
                        headers=dict(d.msg.headers) if d.msg.headers else None,
                    )
                    for d in deliveries
                ]
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise nats.errors.TimeoutError
            await asyncio.sleep(_POLL if remaining is None else min(_POLL, remaining))
