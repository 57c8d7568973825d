"""Pull consumers: delivery order, ack / nak / term / in-progress, ack-wait redelivery."""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from dataclasses import dataclass

from nats.js import api

from . import _subjects
from ._unsupported import unsupported
from .streams import FakeStream, StoredMsg

_DEFAULT_ACK_WAIT = 30.0


@dataclass
class _Pending:
    deliveries: int
    deadline: float


@dataclass(frozen=True)
class Delivery:
    """One message handed out by :meth:`FakeConsumer.take`, with its JetStream metadata."""

    msg: StoredMsg
    deliveries: int
    consumer_seq: int
    num_pending: int

    def reply_subject(self, stream: str, consumer: str) -> str:
        """The ``$JS.ACK...`` reply subject nats-py parses into ``msg.metadata``."""
        return (
            f"$JS.ACK.{stream}.{consumer}.{self.deliveries}.{self.msg.seq}."
            f"{self.consumer_seq}.{self.msg.time_ns}.{self.num_pending}"
        )


class FakeConsumer:
    """A pull consumer on a :class:`FakeStream` (state shared by every subscription bound to it)."""

    def __init__(self, stream: FakeStream, name: str, config: api.ConsumerConfig) -> None:
        if config.deliver_subject:
            unsupported("push consumers (deliver_subject)")
        self.stream = stream
        self.name = name
        self.config = config
        self.created = datetime.datetime.now(datetime.timezone.utc)
        self._cseq = 0
        self._pending: dict[int, _Pending] = {}
        self._redelivered = 0
        self._ack_floor = 0
        self._next_seq = self._start_seq()

    def _start_seq(self) -> int:
        policy = self.config.deliver_policy or "all"
        if policy == "all":
            return 0
        if policy == "new":
            return self.stream.last_seq + 1
        if policy == "last":
            last = self._last_matching()
            return last.seq if last else self.stream.last_seq + 1
        if policy != "by_start_sequence":
            unsupported(f"consumer deliver_policy={policy!s}")
        return self.config.opt_start_seq or 0

    def _last_matching(self) -> StoredMsg | None:
        matching = [m for m in self.stream.live() if self._wants(m)]
        return matching[-1] if matching else None

    @property
    def ack_wait(self) -> float:
        return self.config.ack_wait or _DEFAULT_ACK_WAIT

    @property
    def ack_none(self) -> bool:
        return self.config.ack_policy == "none"

    def _wants(self, msg: StoredMsg) -> bool:
        filters = list(self.config.filter_subjects or [])
        if self.config.filter_subject:
            filters.append(self.config.filter_subject)
        return not filters or any(_subjects.matches(f, msg.subject) for f in filters)

    def _unseen(self) -> list[StoredMsg]:
        return [m for m in self.stream.live() if m.seq >= self._next_seq and self._wants(m)]

    def num_pending(self) -> int:
        """Messages in the stream this consumer has not delivered yet."""
        return len(self._unseen())

    def take(self, batch: int) -> list[Delivery]:
        """Up to ``batch`` messages: due redeliveries first, then new ones, in sequence order."""
        now = time.monotonic()
        out: list[Delivery] = []
        max_deliver = self.config.max_deliver or -1
        for seq in sorted(self._pending):
            if len(out) >= batch:
                break
            pending = self._pending[seq]
            msg = self.stream.messages.get(seq)
            if msg is None:
                del self._pending[seq]
                continue
            if pending.deadline > now:
                continue
            if 0 < max_deliver <= pending.deliveries:
                del self._pending[seq]
                continue
            pending.deliveries += 1
            pending.deadline = now + self.ack_wait
            self._redelivered += 1
            out.append(self._delivery(msg, pending.deliveries))
        for msg in self._unseen():
            if len(out) >= batch:
                break
            self._next_seq = msg.seq + 1
            if not self.ack_none:
                self._pending[msg.seq] = _Pending(1, now + self.ack_wait)
            out.append(self._delivery(msg, 1))
        return out

    def _delivery(self, msg: StoredMsg, deliveries: int) -> Delivery:
        self._cseq += 1
        return Delivery(msg, deliveries, self._cseq, self.num_pending())

    def handle_ack(self, seq: int, payload: bytes) -> None:
        """Apply an ack reply: ``+ACK`` (or empty), ``-NAK [{"delay": ns}]``, ``+WPI``, ``+TERM``."""
        pending = self._pending.get(seq)
        if pending is None:
            return
        kind, _, rest = payload.partition(b" ")
        if kind == b"-NAK":
            delay = json.loads(rest).get("delay", 0) / 1e9 if rest else 0.0
            pending.deadline = time.monotonic() + delay
        elif kind == b"+WPI":
            pending.deadline = time.monotonic() + self.ack_wait
        elif kind in (b"", b"+ACK", b"+TERM", b"+NXT"):
            done = [s for s in self._pending if s <= seq] if self.config.ack_policy == "all" else [seq]
            for s in done:
                del self._pending[s]
            self._ack_floor = max(self._ack_floor, seq)

    def info(self) -> api.ConsumerInfo:
        """A ``ConsumerInfo`` with the counters nats-py exposes."""
        return api.ConsumerInfo(
            name=self.name,
            stream_name=self.stream.name,
            config=dataclasses.replace(self.config),
            created=self.created,
            delivered=api.SequenceInfo(consumer_seq=self._cseq, stream_seq=max(self._next_seq - 1, 0)),
            ack_floor=api.SequenceInfo(consumer_seq=0, stream_seq=self._ack_floor),
            num_ack_pending=len(self._pending),
            num_redelivered=self._redelivered,
            num_waiting=0,
            num_pending=self.num_pending(),
        )


def make_consumer(stream: FakeStream, config: api.ConsumerConfig, name: str) -> FakeConsumer:
    """Create (or update the config of) consumer ``name`` on ``stream``."""
    existing = stream.consumers.get(name)
    if existing is not None:
        existing.config = config
        return existing
    consumer = FakeConsumer(stream, name, config)
    stream.consumers[name] = consumer
    return consumer
