"""The fake nats-py client: what ``nats.connect`` returns while ``patch_nats_connect`` is active."""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import ParseResult, urlparse

import nats.errors
from nats.aio.client import ServerVersion
from nats.aio.msg import Msg

from . import _subjects
from ._unsupported import UnsupportedAttributes, unsupported
from .subscription import FakeSubscription, MsgCallback

if TYPE_CHECKING:
    from .jetstream import FakeJetStreamContext
    from .server import FakeNats

_CALLBACK_OPTIONS = ("error_cb", "disconnected_cb", "closed_cb", "discovered_server_cb", "reconnected_cb")
_HEADER_KEY_CHARS = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NO_RESPONDERS = "503"

# nats-py's status codes (``nats.aio.client.Client.CONNECTED`` ...), so code that pokes ``_status``
# (naq core's ``abandon`` sets ``_status = 2``) sees the same meaning.
_CONNECTED, _CLOSED, _DRAINING_SUBS, _DRAINING_PUBS = 1, 2, 5, 6


def parse_server_url(url: str) -> ParseResult:
    """Parse a server URL the way nats-py does: ``nats://`` scheme and port 4222 by default."""
    if "://" not in url:
        url = f"nats://{url}"
    parsed = urlparse(url)
    if parsed.port is None:
        parsed = urlparse(f"{url.rstrip('/')}:4222")
    return parsed


def clean_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    """Validate and normalise headers as they would arrive after a trip through the server."""
    if headers is None:
        return None
    out: dict[str, str] = {}
    for key, value in headers.items():
        name = str(key).strip()
        if not name:
            continue
        if not set(name) <= _HEADER_KEY_CHARS:
            raise nats.errors.BadHeaderError(name)
        out[name] = str(value).strip().replace("\r", " ").replace("\n", " ")
    return out or None


class _ResponseMux:
    """The client's single ``_INBOX.<id>.*`` subscription that resolves request futures."""

    def __init__(self, client: FakeClient, prefix: str) -> None:
        self._client = client
        self.subject = f"{prefix}*"
        self.queue = ""
        self.prefix = prefix
        self.futures: dict[str, asyncio.Future[Msg]] = {}

    def _deliver(self, msg: Msg) -> None:
        future = self.futures.get(msg.subject[len(self.prefix) :])
        if future is not None and not future.done():
            future.set_result(msg)


class FakeClient(UnsupportedAttributes):
    """In-memory stand-in for ``nats.aio.client.Client``, connected to one :class:`FakeNats`."""

    _fake_kind = "Client"

    def __init__(self, server: FakeNats, servers: list[str], options: dict[str, Any], client_id: int) -> None:
        for name in _CALLBACK_OPTIONS:
            cb = options.get(name)
            if cb is not None and not inspect.iscoroutinefunction(cb):
                raise nats.errors.InvalidCallbackTypeError
        self._server = server
        self._servers = [parse_server_url(url) for url in servers]
        self.options = options
        self._client_id = client_id
        self._status = _CONNECTED
        self._sid = 0
        self._subs: dict[int, FakeSubscription] = {}
        self._mux: _ResponseMux | None = None
        self.stats = {"in_msgs": 0, "out_msgs": 0, "in_bytes": 0, "out_bytes": 0, "reconnects": 0}

    def __repr__(self) -> str:
        return f"<naq.testing fake nats client #{self._client_id}>"

    # -- state ------------------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._status in (_CONNECTED, _DRAINING_SUBS, _DRAINING_PUBS)

    @property
    def is_closed(self) -> bool:
        return self._status == _CLOSED

    @property
    def is_reconnecting(self) -> bool:
        return False

    @property
    def is_connecting(self) -> bool:
        return False

    @property
    def is_draining(self) -> bool:
        return self._status in (_DRAINING_SUBS, _DRAINING_PUBS)

    @property
    def is_draining_pubs(self) -> bool:
        return self._status == _DRAINING_PUBS

    @property
    def connected_url(self) -> ParseResult | None:
        return self._servers[0] if self.is_connected else None

    @property
    def servers(self) -> list[ParseResult]:
        return list(self._servers)

    @property
    def discovered_servers(self) -> list[ParseResult]:
        return []

    @property
    def max_payload(self) -> int:
        return self._server.max_payload

    @property
    def client_id(self) -> int | None:
        return None if self.is_closed else self._client_id

    @property
    def connected_server_version(self) -> ServerVersion:
        """The version the fake claims to be (``FakeNats.server_version``)."""
        return ServerVersion(self._server.server_version)

    @property
    def _server_info(self) -> dict[str, Any]:
        """The INFO a server would have sent (read by tools such as ``get_nats_server_info``)."""
        return self._server.server_info(self)

    @property
    def last_error(self) -> Exception | None:
        return None

    @property
    def pending_data_size(self) -> int:
        return 0

    @property
    def no_echo(self) -> bool:
        return bool(self.options.get("no_echo", False))

    # -- core pub/sub -----------------------------------------------------------------------------
    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Publish like nats-py: validation, closed/draining checks, max payload, then route."""
        _subjects.validate_publish_subject(subject)
        if reply:
            _subjects.validate_publish_subject(reply)
        self._check_can_publish()
        if len(payload) > self._server.max_payload:
            raise nats.errors.MaxPayloadError
        clean = clean_headers(headers)
        self.stats["out_msgs"] += 1
        self.stats["out_bytes"] += len(payload)
        self._server._route(self, subject, bytes(payload), reply, clean)
        await asyncio.sleep(0)

    async def subscribe(
        self,
        subject: str,
        queue: str = "",
        cb: MsgCallback | None = None,
        future: asyncio.Future[Msg] | None = None,
        max_msgs: int = 0,
        pending_msgs_limit: int = 512 * 1024,
        pending_bytes_limit: int = 128 * 1024 * 1024,
    ) -> FakeSubscription:
        """Register interest in ``subject`` (wildcards allowed), optionally in a queue group."""
        _subjects.validate_subscribe_subject(subject)
        _subjects.validate_queue(queue)
        if self.is_closed:
            raise nats.errors.ConnectionClosedError
        if self.is_draining:
            raise nats.errors.ConnectionDrainingError
        if future is not None:
            unsupported("subscribe(future=...)")
        self._sid += 1
        sub = FakeSubscription(self, self._sid, subject, queue=queue, cb=cb, max_msgs=max_msgs)
        self._subs[self._sid] = sub
        self._server._add_subscription(sub)
        return sub

    def new_inbox(self) -> str:
        """A unique ``_INBOX.`` subject, like nats-py's."""
        return f"_INBOX.{secrets.token_hex(11)}"

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float = 0.5,
        old_style: bool = False,
        headers: dict[str, Any] | None = None,
    ) -> Msg:
        """Request/reply: ``NoRespondersError`` with no interest, ``TimeoutError`` with no answer."""
        _subjects.validate_publish_subject(subject)
        self._check_can_publish()
        if self._mux is None:
            self._mux = _ResponseMux(self, f"{self.new_inbox()}.")
            self._server._add_subscription(self._mux)
        token = secrets.token_hex(8)
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._mux.futures[token] = future
        try:
            await self.publish(subject, payload, reply=f"{self._mux.prefix}{token}", headers=headers)
            try:
                msg = await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise nats.errors.TimeoutError from None
        finally:
            self._mux.futures.pop(token, None)
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            raise nats.errors.NoRespondersError
        return msg

    async def flush(self, timeout: int = 10) -> None:
        """Everything is delivered synchronously in memory; this only checks state and yields."""
        if timeout <= 0:
            raise nats.errors.BadTimeoutError
        if self.is_closed:
            raise nats.errors.ConnectionClosedError
        await asyncio.sleep(0)

    async def rtt(self, timeout: int = 10) -> float:
        """A round trip to the in-memory server: measured, and tiny."""
        if timeout <= 0:
            raise nats.errors.BadTimeoutError
        if self.is_closed:
            raise nats.errors.ConnectionClosedError
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(0)
        return loop.time() - start

    # -- lifecycle --------------------------------------------------------------------------------
    async def drain(self) -> None:
        """Drain subscriptions (queued messages are processed), then close."""
        if self.is_draining:
            return
        if self.is_closed:
            raise nats.errors.ConnectionClosedError
        self._status = _DRAINING_SUBS
        await asyncio.gather(*(sub._drain() for sub in list(self._subs.values())))
        self._status = _DRAINING_PUBS
        await self._close()

    async def close(self) -> None:
        """Close: stop subscriptions, leave the server, run ``disconnected_cb`` then ``closed_cb``."""
        await self._close()

    async def _close(self) -> None:
        if self.is_closed:
            return
        self._status = _CLOSED
        subs = list(self._subs.values())
        self._subs.clear()
        for sub in subs:
            await sub._close()
        if self._mux is not None:
            self._server._remove_subscription(self._mux)
            for future in self._mux.futures.values():
                future.cancel()
        self._server._remove_client(self)
        for name in ("disconnected_cb", "closed_cb"):
            cb: Callable[[], Awaitable[None]] | None = self.options.get(name)
            if cb is not None:
                await cb()

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close()

    # -- JetStream --------------------------------------------------------------------------------
    def jetstream(self, **opts: Any) -> FakeJetStreamContext:
        """A JetStream context over the fake server's streams."""
        from .jetstream import FakeJetStreamContext

        return FakeJetStreamContext(self, **opts)

    def jsm(self, **opts: Any) -> FakeJetStreamContext:
        """JetStream management: the same fake context (it covers the management calls naq uses)."""
        return self.jetstream(**opts)

    # -- helpers for the server and subscriptions -------------------------------------------------
    def _check_can_publish(self) -> None:
        if self.is_closed:
            raise nats.errors.ConnectionClosedError
        if self.is_draining_pubs:
            raise nats.errors.ConnectionDrainingError

    def _forget_subscription(self, sub: FakeSubscription) -> None:
        self._subs.pop(sub._sid, None)
        self._server._remove_subscription(sub)

    async def _report_error(self, exc: Exception) -> None:
        cb: Callable[[Exception], Awaitable[None]] | None = self.options.get("error_cb")
        if cb is not None:
            await cb(exc)
