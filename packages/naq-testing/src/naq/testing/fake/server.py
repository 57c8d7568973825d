"""``FakeNats``: the in-memory "server" every fake client connects to while the patch is active."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import nats.aio.client
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import api

from . import _subjects
from ._unsupported import unsupported
from .client import FakeClient
from .streams import FakeStream, JetStreamError
from .subscription import FakeSubscription

_CONNECT_OPTIONS = frozenset(inspect.signature(nats.aio.client.Client.connect).parameters) - {
    "self",
    "servers",
}


class _Receiver(Protocol):
    @property
    def subject(self) -> str: ...

    @property
    def queue(self) -> str: ...

    @property
    def _client(self) -> FakeClient: ...

    def _deliver(self, msg: Msg) -> None: ...


@dataclass(frozen=True)
class PublishedMessage:
    """One message as a client published it (core or JetStream), for assertions in tests."""

    subject: str
    data: bytes
    reply: str = ""
    headers: dict[str, str] | None = None
    client_name: str | None = None
    jetstream: bool = False


@dataclass(eq=False)
class FakeNats:
    """Shared in-memory state: clients, subscriptions, published messages, streams and buckets.

    ``await fake.connect(...)`` (or ``nats.connect`` under :func:`patch_nats_connect`) returns a
    :class:`FakeClient` connected to this instance. Set ``connect_error`` to make connects fail with
    that exception, and ``jetstream_enabled = False`` to act like a server started without ``-js``.
    """

    max_payload: int = 1024 * 1024
    server_version: str = "2.11.0"
    jetstream_enabled: bool = True
    connect_error: BaseException | None = None
    published: list[PublishedMessage] = field(default_factory=list)
    streams: dict[str, FakeStream] = field(default_factory=dict)
    _clients: list[FakeClient] = field(default_factory=list)
    _receivers: list[_Receiver] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _round_robin: dict[tuple[str, str], int] = field(default_factory=dict)
    connect_count: int = 0

    # -- connecting -------------------------------------------------------------------------------
    async def connect(self, servers: str | list[str] = "nats://localhost:4222", **options: Any) -> FakeClient:
        """The stand-in for ``nats.connect``: same keywords (unknown ones raise ``TypeError``)."""
        unknown = sorted(set(options) - _CONNECT_OPTIONS)
        if unknown:
            raise TypeError(f"connect() got an unexpected keyword argument {unknown[0]!r}")
        if self.connect_error is not None:
            raise self.connect_error
        urls = [servers] if isinstance(servers, str) else list(servers)
        client = FakeClient(self, urls or ["nats://localhost:4222"], options, next(self._ids))
        self._clients.append(client)
        self.connect_count += 1
        await asyncio.sleep(0)
        return client

    def server_info(self, client: FakeClient) -> dict[str, Any]:
        """The INFO block a client of this fake would have received."""
        return {
            "server_id": "NAQTESTINGFAKE",
            "server_name": "naq-testing-fake",
            "version": self.server_version,
            "proto": 1,
            "headers": True,
            "max_payload": self.max_payload,
            "jetstream": self.jetstream_enabled,
            "client_id": client.client_id,
        }

    # -- inspection helpers -----------------------------------------------------------------------
    @property
    def clients(self) -> list[FakeClient]:
        """Clients currently connected (closed ones are removed)."""
        return list(self._clients)

    def client_count(self) -> int:
        """Number of open fake connections: the fake's answer to ``/connz`` for leak checks."""
        return len(self._clients)

    def subscription_count(self, subject: str | None = None) -> int:
        """Active user subscriptions, optionally only those whose subject equals ``subject``."""
        subs = [r for r in self._receivers if isinstance(r, FakeSubscription)]
        return len([s for s in subs if subject is None or s.subject == subject])

    def messages(self, subject: str = ">") -> list[PublishedMessage]:
        """Messages published so far whose subject matches ``subject`` (wildcards allowed)."""
        return [m for m in self.published if _subjects.matches(subject, m.subject)]

    def payloads(self, subject: str = ">") -> list[bytes]:
        """Just the payloads of :meth:`messages`."""
        return [m.data for m in self.messages(subject)]

    @property
    def stream_names(self) -> list[str]:
        """Names of the JetStream streams that exist now."""
        return sorted(self.streams)

    @property
    def kv_buckets(self) -> list[str]:
        """Names of the key-value buckets that exist now."""
        return sorted(name[3:] for name in self.streams if name.startswith("KV_"))

    @property
    def object_stores(self) -> list[str]:
        """Names of the object store buckets that exist now."""
        return sorted(name[4:] for name in self.streams if name.startswith("OBJ_"))

    def stream(self, name: str) -> FakeStream:
        """The stream called ``name`` (``KeyError`` naming the known streams if absent)."""
        try:
            return self.streams[name]
        except KeyError:
            raise KeyError(f"no stream {name!r}; streams: {self.stream_names}") from None

    def reset(self) -> None:
        """Forget published messages and delete every stream and bucket (clients stay connected)."""
        self.published.clear()
        self.streams.clear()

    async def close_all(self) -> None:
        """Close every client still connected (for fixture teardown)."""
        for client in list(self._clients):
            await client.close()

    # -- routing (called by clients) --------------------------------------------------------------
    def _add_subscription(self, receiver: _Receiver) -> None:
        self._receivers.append(receiver)

    def _remove_subscription(self, receiver: _Receiver) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    def _remove_client(self, client: FakeClient) -> None:
        if client in self._clients:
            self._clients.remove(client)
        self._receivers = [r for r in self._receivers if r._client is not client]

    def _route(
        self, sender: FakeClient, subject: str, data: bytes, reply: str, headers: dict[str, str] | None
    ) -> None:
        """Deliver one core publish: JetStream acks, stream capture, then subscribers."""
        self.published.append(PublishedMessage(subject, data, reply, headers, sender.options.get("name")))
        if subject.startswith("$JS.ACK."):
            self._handle_ack(subject, data)
            if reply:
                self._deliver(reply, b"", "", None, None)
            return
        if subject.startswith("$JS."):
            unsupported(f"raw JetStream API request {subject!r} over core NATS")
        stored = False
        stream = self._stream_for(subject)
        if stream is not None:
            stored = True
            try:
                ack = stream.store(subject, data, headers)
                response = json.dumps(ack.as_dict()).encode()
            except JetStreamError as err:
                response = json.dumps({"error": err.as_dict()}).encode()
            if reply:
                self._deliver(reply, response, "", None, None)
        delivered = self._deliver(subject, data, reply, headers, sender)
        if reply and not delivered and not stored:
            self._deliver(reply, b"", "", {"Status": "503"}, None)

    def _jetstream_publish(
        self, sender: FakeClient, subject: str, data: bytes, headers: dict[str, str] | None
    ) -> api.PubAck:
        """``js.publish``: store in the matching stream (raising nats-py's errors), then fan out."""
        stream = self._stream_for(subject)
        if stream is None:
            raise nats.js.errors.NoStreamResponseError
        expected = (headers or {}).get("Nats-Expected-Stream")
        if expected is not None and expected != stream.name:
            raise JetStreamError(400, 10060, "expected stream does not match").to_exception()
        self.published.append(
            PublishedMessage(subject, data, "", headers, sender.options.get("name"), jetstream=True)
        )
        try:
            ack = stream.store(subject, data, headers)
        except JetStreamError as err:
            raise err.to_exception() from None
        self._deliver(subject, data, sender.new_inbox(), headers, sender)
        return ack

    def _stream_for(self, subject: str) -> FakeStream | None:
        if not self.jetstream_enabled:
            return None
        for stream in self.streams.values():
            if stream.captures(subject):
                return stream
        return None

    def _handle_ack(self, subject: str, data: bytes) -> None:
        tokens = subject.split(".")
        stream = self.streams.get(tokens[2]) if len(tokens) >= 9 else None
        consumer = stream.consumers.get(tokens[3]) if stream is not None else None
        if consumer is not None:
            consumer.handle_ack(int(tokens[5]), data)

    def _deliver(
        self,
        subject: str,
        data: bytes,
        reply: str,
        headers: dict[str, str] | None,
        sender: FakeClient | None,
    ) -> int:
        """Hand a message to every matching subscriber, one member per queue group."""
        plain: list[_Receiver] = []
        groups: dict[str, list[_Receiver]] = {}
        for receiver in self._receivers:
            if not _subjects.matches(receiver.subject, subject):
                continue
            if sender is not None and sender.no_echo and receiver._client is sender:
                continue
            if receiver.queue:
                groups.setdefault(receiver.queue, []).append(receiver)
            else:
                plain.append(receiver)
        chosen = list(plain)
        for queue, members in groups.items():
            key = (queue, subject)
            index = self._round_robin.get(key, 0)
            self._round_robin[key] = index + 1
            chosen.append(members[index % len(members)])
        for receiver in chosen:
            client = receiver._client
            client.stats["in_msgs"] += 1
            client.stats["in_bytes"] += len(data)
            msg = Msg(
                _client=cast(Any, client),
                subject=subject,
                reply=reply,
                data=data,
                headers=dict(headers) if headers else None,
                _sid=getattr(receiver, "_sid", 0),
            )
            receiver._deliver(msg)
        return len(chosen)
