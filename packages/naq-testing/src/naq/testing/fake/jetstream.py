"""The fake JetStream context (``nc.jetstream()``): streams, consumers, publish, pull, KV, objects."""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
from nats.js import api

from . import _subjects
from ._unsupported import UnsupportedAttributes, unsupported
from .client import clean_headers
from .consumers import make_consumer
from .kv import FakeKeyValue, kv_stream_config, validate_bucket
from .object_store import FakeObjectStore, object_stream_config
from .pull import FakePullSubscription
from .streams import FakeStream, JetStreamError, stream_not_found, validate_name

if TYPE_CHECKING:
    from .client import FakeClient
    from .server import FakeNats


class FakeJetStreamContext(UnsupportedAttributes):
    """What ``nc.jetstream()`` returns on a fake client; same method names and errors as nats-py."""

    _fake_kind = "JetStreamContext"

    def __init__(
        self,
        client: FakeClient,
        prefix: str = "$JS.API",
        domain: str | None = None,
        timeout: float = 5,
        publish_async_max_pending: int = 4000,
    ) -> None:
        if domain is not None or prefix != "$JS.API":
            unsupported("JetStream domains and API prefixes")
        self._client = client
        self._timeout = timeout

    @property
    def _nc(self) -> FakeClient:
        """The client, under the attribute name nats-py's context uses (naq reads ``js._nc``)."""
        return self._client

    @property
    def _server(self) -> FakeNats:
        return self._client._server

    def _api(self) -> None:
        """Checks every JetStream API call makes: an open connection and JetStream enabled."""
        self._client._check_can_publish()
        if not self._server.jetstream_enabled:
            raise nats.js.errors.ServiceUnavailableError(code=503, description="JetStream not enabled")

    def _stream(self, name: str) -> FakeStream:
        validate_name(name)
        self._api()
        stream = self._server.streams.get(name)
        if stream is None:
            raise stream_not_found().to_exception()
        return stream

    @staticmethod
    def _raise(err: JetStreamError) -> None:
        raise err.to_exception() from None

    # -- account and streams ----------------------------------------------------------------------
    async def account_info(self) -> api.AccountInfo:
        self._api()
        streams = self._server.streams.values()
        limits = api.AccountLimits(
            max_memory=-1,
            max_storage=-1,
            max_streams=-1,
            max_consumers=-1,
            max_ack_pending=-1,
            memory_max_stream_bytes=-1,
            storage_max_stream_bytes=-1,
            max_bytes_required=False,
        )
        return api.AccountInfo(
            memory=0,
            storage=sum(s.info().state.bytes for s in streams),
            streams=len(streams),
            consumers=sum(len(s.consumers) for s in streams),
            limits=limits,
            api=api.APIStats(total=0, errors=0),
        )

    async def find_stream_name_by_subject(self, subject: str) -> str:
        self._api()
        for stream in self._server.streams.values():
            if any(_subjects.overlaps(subject, s) for s in stream.config.subjects or ()):
                return stream.name
        raise nats.js.errors.NotFoundError

    async def add_stream(self, config: api.StreamConfig | None = None, **params: Any) -> api.StreamInfo:
        config = (config or api.StreamConfig()).evolve(**params)
        name = validate_name(config.name)
        self._api()
        new = FakeStream(config)
        existing = self._server.streams.get(name)
        if existing is not None:
            if existing.config != new.config:
                self._raise(
                    JetStreamError(400, 10058, "stream name already in use with a different configuration")
                )
            return existing.info()
        self._check_overlap(new, ignore=name)
        self._server.streams[name] = new
        info = new.info()
        info.did_create = True
        return info

    def _check_overlap(self, stream: FakeStream, ignore: str) -> None:
        for other in self._server.streams.values():
            if other.name == ignore:
                continue
            for mine in stream.config.subjects or ():
                if any(_subjects.overlaps(mine, theirs) for theirs in other.config.subjects or ()):
                    self._raise(JetStreamError(400, 10065, "subjects overlap with an existing stream"))

    async def update_stream(self, config: api.StreamConfig | None = None, **params: Any) -> api.StreamInfo:
        config = (config or api.StreamConfig()).evolve(**params)
        stream = self._stream(validate_name(config.name))
        updated = FakeStream(config)
        self._check_overlap(updated, ignore=stream.name)
        stream.config = updated.config
        return stream.info()

    async def stream_info(self, name: str, subjects_filter: str | None = None) -> api.StreamInfo:
        return self._stream(name).info(subjects_filter)

    async def streams_info(self, offset: int = 0) -> list[api.StreamInfo]:
        self._api()
        return [self._server.streams[n].info() for n in self._server.stream_names][offset:]

    async def delete_stream(self, name: str) -> bool:
        self._stream(name)
        del self._server.streams[name]
        return True

    async def purge_stream(
        self, name: str, seq: int | None = None, subject: str | None = None, keep: int | None = None
    ) -> bool:
        try:
            self._stream(name).purge(seq=seq, subject=subject, keep=keep)
        except JetStreamError as err:
            self._raise(err)
        return True

    # -- messages ---------------------------------------------------------------------------------
    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
        msg_ttl: float | None = None,
    ) -> api.PubAck:
        """Store in the stream capturing ``subject``; ``NoStreamResponseError`` when none does."""
        _subjects.validate_publish_subject(subject)
        self._client._check_can_publish()
        if len(payload) > self._server.max_payload:
            raise nats.errors.MaxPayloadError
        hdrs = dict(headers or {})
        if stream is not None:
            hdrs["Nats-Expected-Stream"] = stream
        if msg_ttl is not None:
            hdrs["Nats-TTL"] = str(int(msg_ttl))
        await asyncio.sleep(0)
        return self._server._jetstream_publish(self._client, subject, bytes(payload), clean_headers(hdrs))

    async def publish_async(
        self,
        subject: str,
        payload: bytes = b"",
        wait_stall: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
        msg_ttl: float | None = None,
    ) -> asyncio.Future[api.PubAck]:
        """Like nats-py: a future for the ack (already resolved: the fake stores synchronously)."""
        future: asyncio.Future[api.PubAck] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(
                await self.publish(subject, payload, stream=stream, headers=headers, msg_ttl=msg_ttl)
            )
        except nats.errors.Error as exc:
            future.set_exception(exc)
        return future

    async def get_msg(
        self,
        stream_name: str,
        seq: int | None = None,
        subject: str | None = None,
        direct: bool | None = False,
        next: bool | None = False,
    ) -> api.RawStreamMsg:
        stream = self._stream(stream_name)
        try:
            msg = stream.get(seq=seq, subject=subject, next_=bool(next))
        except JetStreamError as err:
            self._raise(err)
        return api.RawStreamMsg(
            subject=msg.subject, seq=msg.seq, data=msg.data or None, headers=msg.headers, time=msg.time
        )

    async def get_last_msg(
        self, stream_name: str, subject: str, direct: bool | None = False
    ) -> api.RawStreamMsg:
        return await self.get_msg(stream_name, subject=subject, direct=direct)

    async def delete_msg(self, stream_name: str, seq: int) -> bool:
        try:
            self._stream(stream_name).delete_msg(seq)
        except JetStreamError as err:
            self._raise(err)
        return True

    # -- consumers --------------------------------------------------------------------------------
    async def add_consumer(
        self,
        stream: str,
        config: api.ConsumerConfig | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> api.ConsumerInfo:
        config = (config or api.ConsumerConfig()).evolve(**params)
        fake_stream = self._stream(stream)
        name = config.name or config.durable_name or secrets.token_hex(11)
        validate_name(name, "consumer")
        config = config.evolve(name=name)
        return make_consumer(fake_stream, config, name).info()

    async def consumer_info(
        self, stream: str, consumer: str, timeout: float | None = None
    ) -> api.ConsumerInfo:
        validate_name(consumer, "consumer")
        found = self._stream(stream).consumers.get(consumer)
        if found is None:
            self._raise(JetStreamError(404, 10014, "consumer not found"))
        assert found is not None
        return found.info()

    async def consumers_info(self, stream: str, offset: int | None = None) -> list[api.ConsumerInfo]:
        consumers = self._stream(stream).consumers
        return [consumers[name].info() for name in sorted(consumers)][offset or 0 :]

    async def delete_consumer(self, stream: str, consumer: str) -> bool:
        await self.consumer_info(stream, consumer)
        del self._server.streams[stream].consumers[consumer]
        return True

    async def pull_subscribe(
        self,
        subject: str,
        durable: str | None = None,
        stream: str | None = None,
        config: api.ConsumerConfig | None = None,
        pending_msgs_limit: int = 512 * 1024,
        pending_bytes_limit: int = 256 * 1024 * 1024,
        inbox_prefix: bytes | None = None,
    ) -> FakePullSubscription:
        """Find the stream, create the consumer if needed (as nats-py does), and bind to it."""
        if stream is None:
            stream = await self.find_stream_name_by_subject(subject)
        fake_stream = self._stream(stream)
        name = durable
        if durable is None or durable not in fake_stream.consumers:
            config = config or api.ConsumerConfig()
            if not config.filter_subjects:
                config.filter_subject = subject
            if durable:
                config.name = durable
                config.durable_name = durable
            else:
                name = secrets.token_hex(11)
                config.name = name
            await self.add_consumer(stream, config=config)
        assert name is not None
        return FakePullSubscription(self, stream, name)

    async def pull_subscribe_bind(
        self,
        consumer: str | None = None,
        stream: str | None = None,
        inbox_prefix: bytes | None = None,
        pending_msgs_limit: int = 512 * 1024,
        pending_bytes_limit: int = 256 * 1024 * 1024,
        name: str | None = None,
        durable: str | None = None,
    ) -> FakePullSubscription:
        if not stream:
            raise ValueError("nats: stream name is required")
        consumer_name = durable or name or consumer
        if not consumer_name:
            raise ValueError("nats: consumer name is required")
        return FakePullSubscription(self, stream, consumer_name)

    # -- key-value --------------------------------------------------------------------------------
    async def key_value(self, bucket: str) -> FakeKeyValue:
        validate_bucket(bucket)
        try:
            info = await self.stream_info(f"KV_{bucket}")
        except nats.js.errors.NotFoundError:
            raise nats.js.errors.BucketNotFoundError from None
        if info.config.max_msgs_per_subject < 1:
            raise nats.js.errors.BadBucketError
        return FakeKeyValue(bucket, self)

    async def create_key_value(self, config: api.KeyValueConfig | None = None, **params: Any) -> FakeKeyValue:
        if config is None:
            config = api.KeyValueConfig(bucket=params["bucket"])
        config = config.evolve(**params)
        validate_bucket(config.bucket)
        if config.limit_marker_ttl:
            unsupported("key-value limit_marker_ttl")
        await self.add_stream(kv_stream_config(config))
        return FakeKeyValue(config.bucket, self)

    async def delete_key_value(self, bucket: str) -> bool:
        validate_bucket(bucket)
        return await self.delete_stream(f"KV_{bucket}")

    # -- object store -----------------------------------------------------------------------------
    async def object_store(self, bucket: str) -> FakeObjectStore:
        validate_bucket(bucket)
        try:
            await self.stream_info(f"OBJ_{bucket}")
        except nats.js.errors.NotFoundError:
            raise nats.js.errors.BucketNotFoundError from None
        return FakeObjectStore(bucket, self)

    async def create_object_store(
        self, bucket: str | None = None, config: api.ObjectStoreConfig | None = None, **params: Any
    ) -> FakeObjectStore:
        if config is None:
            config = api.ObjectStoreConfig(bucket=bucket)
        else:
            config.bucket = bucket
        config = config.evolve(**params)
        assert config.bucket is not None
        validate_bucket(config.bucket)
        await self.add_stream(object_stream_config(config))
        return FakeObjectStore(config.bucket, self)

    async def delete_object_store(self, bucket: str) -> bool:
        validate_bucket(bucket)
        return await self.delete_stream(f"OBJ_{bucket}")
