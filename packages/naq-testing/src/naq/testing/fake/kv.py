"""Key-value buckets on top of fake streams, with nats-py's entries, revisions and errors."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import nats.js.errors
from nats.js import api
from nats.js.kv import KeyValue

from . import _subjects
from ._unsupported import UnsupportedAttributes
from .streams import StoredMsg

if TYPE_CHECKING:
    from .jetstream import FakeJetStreamContext

_VALID_BUCKET = re.compile(r"^[a-zA-Z0-9_-]+$")
_VALID_KEY = re.compile(r"^[-/_=\.a-zA-Z0-9]+$")
_KV_OP = "KV-Operation"
_DELETED = ("DEL", "PURGE")


def validate_bucket(bucket: str) -> None:
    """nats-py's bucket name rule: ``InvalidBucketNameError`` unless ``[a-zA-Z0-9_-]+``."""
    if not bucket or _VALID_BUCKET.match(bucket) is None:
        raise nats.js.errors.InvalidBucketNameError


def _key_valid(key: str) -> bool:
    return bool(key) and key[0] != "." and key[-1] != "." and _VALID_KEY.match(key) is not None


def kv_stream_config(config: api.KeyValueConfig) -> api.StreamConfig:
    """The stream nats-py's ``create_key_value`` asks the server for."""
    if config.history > 64:
        raise nats.js.errors.KeyHistoryTooLargeError
    duplicate_window = 120.0
    if config.ttl and config.ttl < duplicate_window:
        duplicate_window = config.ttl
    return api.StreamConfig(
        name=f"KV_{config.bucket}",
        description=config.description,
        subjects=[f"$KV.{config.bucket}.>"],
        allow_direct=config.direct,
        allow_rollup_hdrs=True,
        allow_msg_ttl=True,
        deny_delete=True,
        discard=api.DiscardPolicy.NEW,
        duplicate_window=duplicate_window,
        max_age=config.ttl,
        max_bytes=config.max_bytes,
        max_consumers=-1,
        max_msg_size=config.max_value_size,
        max_msgs=-1,
        max_msgs_per_subject=config.history,
        num_replicas=config.replicas,
        storage=config.storage,
        republish=config.republish,
    )


def _operation(msg: StoredMsg) -> str | None:
    op = (msg.headers or {}).get(_KV_OP)
    return op if op in _DELETED else None


class FakeKeyValue(UnsupportedAttributes):
    """A bucket: ``get / put / create / update / delete / purge / keys / history / status``."""

    _fake_kind = "KeyValue"

    def __init__(self, bucket: str, js: FakeJetStreamContext) -> None:
        self._name = bucket
        self._stream = f"KV_{bucket}"
        self._pre = f"$KV.{bucket}."
        self._js = js

    @property
    def bucket(self) -> str:
        return self._name

    async def get(self, key: str, revision: int | None = None, validate_keys: bool = True) -> KeyValue.Entry:
        """Latest (or ``revision``) value; ``KeyNotFoundError`` if missing or deleted (as nats-py)."""
        if validate_keys and not _key_valid(key):
            raise nats.js.errors.InvalidKeyError
        subject = f"{self._pre}{key}"
        try:
            if revision:
                raw = await self._js.get_msg(self._stream, seq=revision)
            else:
                raw = await self._js.get_msg(self._stream, subject=subject)
        except nats.js.errors.NotFoundError:
            raise nats.js.errors.KeyNotFoundError from None
        if raw.subject != subject:
            raise nats.js.errors.KeyNotFoundError(message=f"expected '{subject}', but got '{raw.subject}'")
        entry = KeyValue.Entry(
            bucket=self._name,
            key=key,
            value=raw.data,
            revision=raw.seq,
            delta=None,
            created=None,
            operation=None,
        )
        op = (raw.headers or {}).get(_KV_OP)
        if op in _DELETED:
            raise nats.js.errors.KeyNotFoundError(entry, op)
        return entry

    async def put(self, key: str, value: bytes, validate_keys: bool = True) -> int:
        """Store a new revision; returns its revision number."""
        if validate_keys and not _key_valid(key):
            raise nats.js.errors.InvalidKeyError(key)
        ack = await self._js.publish(f"{self._pre}{key}", value)
        return ack.seq

    async def create(
        self, key: str, value: bytes, validate_keys: bool = True, msg_ttl: float | None = None
    ) -> int:
        """Store only if the key does not exist (a deleted key counts as absent)."""
        try:
            return await self._update(key, value, last=0, validate_keys=validate_keys, msg_ttl=msg_ttl)
        except nats.js.errors.KeyWrongLastSequenceError:
            last = self._last(key)
            if last is None or _operation(last) is None:
                raise
            return await self._update(key, value, last=last.seq, validate_keys=validate_keys, msg_ttl=msg_ttl)

    def _last(self, key: str) -> StoredMsg | None:
        stream = self._js._server.streams.get(self._stream)
        return stream.last_for(f"{self._pre}{key}") if stream is not None else None

    async def update(
        self, key: str, value: bytes, last: int | None = None, validate_keys: bool = True
    ) -> int:
        """Store only if the latest revision is ``last``; else ``KeyWrongLastSequenceError``."""
        return await self._update(key, value, last=last, validate_keys=validate_keys)

    async def _update(
        self, key: str, value: bytes, last: int | None, validate_keys: bool, msg_ttl: float | None = None
    ) -> int:
        if validate_keys and not _key_valid(key):
            raise nats.js.errors.InvalidKeyError(key)
        headers = {"Nats-Expected-Last-Subject-Sequence": str(last or 0)}
        try:
            ack = await self._js.publish(f"{self._pre}{key}", value, headers=headers, msg_ttl=msg_ttl)
        except nats.js.errors.APIError as err:
            if err.err_code in (10071, 10164):
                raise nats.js.errors.KeyWrongLastSequenceError(description=err.description) from None
            raise
        return ack.seq

    async def delete(
        self, key: str, last: int | None = None, validate_keys: bool = True, msg_ttl: float | None = None
    ) -> bool:
        """Place a delete marker (history is kept)."""
        if validate_keys and not _key_valid(key):
            raise nats.js.errors.InvalidKeyError(key)
        headers = {_KV_OP: "DEL"}
        if last and last > 0:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(last)
        await self._js.publish(f"{self._pre}{key}", headers=headers)
        return True

    async def purge(self, key: str, msg_ttl: float | None = None) -> bool:
        """Place a purge marker and drop every earlier revision of the key."""
        headers = {_KV_OP: "PURGE", "Nats-Rollup": "sub"}
        await self._js.publish(f"{self._pre}{key}", headers=headers, msg_ttl=msg_ttl)
        return True

    async def status(self) -> KeyValue.BucketStatus:
        return KeyValue.BucketStatus(stream_info=await self._js.stream_info(self._stream), bucket=self._name)

    def _entries(self, pattern: str, history: bool) -> list[KeyValue.Entry]:
        stream = self._js._stream(self._stream)
        msgs = [m for m in stream.live() if _subjects.matches(f"{self._pre}{pattern}", m.subject)]
        if not history:
            latest: dict[str, StoredMsg] = {m.subject: m for m in msgs}
            msgs = sorted(latest.values(), key=lambda m: m.seq)
        return [
            KeyValue.Entry(
                bucket=self._name,
                key=m.subject[len(self._pre) :],
                value=m.data,
                revision=m.seq,
                delta=len(msgs) - index - 1,
                created=m.time,  # type: ignore[arg-type]  # nats-py puts a datetime here too
                operation=_operation(m),
            )
            for index, m in enumerate(msgs)
        ]

    async def keys(self, filters: list[str] | None = None, **kwargs: object) -> list[str]:
        """Keys whose latest revision is not a delete/purge marker; ``NoKeysError`` if none."""
        self._js._api()
        keys = [e.key for e in self._entries(">", history=False) if e.operation is None]
        if filters:
            keys = [k for k in keys if any(f in k for f in filters)]
        if not keys:
            raise nats.js.errors.NoKeysError
        return keys

    async def history(self, key: str) -> list[KeyValue.Entry]:
        """Every stored revision of ``key`` (markers included), oldest first; ``NoKeysError`` if none."""
        self._js._api()
        entries = self._entries(key, history=True)
        if not entries:
            raise nats.js.errors.NoKeysError
        return entries
