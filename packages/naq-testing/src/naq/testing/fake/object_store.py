"""Object store buckets on top of fake streams: chunked put, digest-checked get, info, delete, list."""

from __future__ import annotations

import base64
import datetime
import io
import json
import secrets
from hashlib import sha256
from typing import TYPE_CHECKING, Any

import nats.js.errors
from nats.js import api
from nats.js.object_store import ObjectStore

from ._unsupported import UnsupportedAttributes

if TYPE_CHECKING:
    from .jetstream import FakeJetStreamContext

_CHUNK = 128 * 1024


def object_stream_config(config: api.ObjectStoreConfig) -> api.StreamConfig:
    """The stream nats-py's ``create_object_store`` asks the server for."""
    max_bytes = config.max_bytes
    if max_bytes == 0:
        max_bytes = -1
    return api.StreamConfig(
        name=f"OBJ_{config.bucket}",
        description=config.description,
        subjects=[f"$O.{config.bucket}.C.>", f"$O.{config.bucket}.M.>"],
        max_age=config.ttl,
        max_bytes=max_bytes,
        max_consumers=0,
        storage=config.storage,
        num_replicas=config.replicas,
        placement=config.placement,
        discard=api.DiscardPolicy.NEW,
        allow_rollup_hdrs=True,
        allow_direct=True,
    )


def _read_all(data: str | bytes | Any) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if hasattr(data, "buffer"):
        data = data.buffer
    if hasattr(data, "read"):
        content = data.read()
        return content.encode() if isinstance(content, str) else bytes(content)
    raise TypeError("nats: invalid type for object store")


class FakeObjectStore(UnsupportedAttributes):
    """A bucket of named objects: ``put / get / get_info / delete / list / status``."""

    _fake_kind = "ObjectStore"

    def __init__(self, bucket: str, js: FakeJetStreamContext) -> None:
        self._name = bucket
        self._stream = f"OBJ_{bucket}"
        self._js = js

    def _meta_subject(self, name: str) -> str:
        return f"$O.{self._name}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"

    async def get_info(self, name: str, show_deleted: bool | None = False) -> api.ObjectInfo:
        """Metadata of ``name``; ``ObjectNotFoundError`` if absent (or deleted, unless ``show_deleted``)."""
        try:
            raw = await self._js.get_last_msg(self._stream, self._meta_subject(name))
        except nats.js.errors.NotFoundError:
            raise nats.js.errors.ObjectNotFoundError from None
        info: api.ObjectInfo = api.ObjectInfo.from_response(json.loads(raw.data or b"{}"))
        if not show_deleted and info.deleted:
            raise nats.js.errors.ObjectNotFoundError
        return info

    async def put(
        self, name: str, data: str | bytes | io.BufferedIOBase, meta: api.ObjectMeta | None = None
    ) -> api.ObjectInfo:
        """Store ``data`` (bytes, str or a readable file) in chunks; replaces an existing object."""
        if meta is None:
            meta = api.ObjectMeta(name=name)
        elif name:
            meta.name = name
        if meta.options is None:
            meta.options = api.ObjectMetaOptions(max_chunk_size=_CHUNK)
        assert meta.name is not None
        content = _read_all(data)
        try:
            previous: api.ObjectInfo | None = await self.get_info(meta.name)
        except nats.js.errors.NotFoundError:
            previous = None
        nuid = secrets.token_hex(11)
        chunk_subject = f"$O.{self._name}.C.{nuid}"
        size = meta.options.max_chunk_size or _CHUNK
        chunks = [content[i : i + size] for i in range(0, len(content), size)]
        for chunk in chunks:
            await self._js.publish(chunk_subject, chunk)
        info = api.ObjectInfo(
            name=meta.name,
            description=meta.description,
            headers=meta.headers,
            options=meta.options,
            bucket=self._name,
            nuid=nuid,
            size=len(content),
            chunks=len(chunks),
            mtime=datetime.datetime.now(datetime.timezone.utc).isoformat(),
            digest="SHA-256=" + base64.urlsafe_b64encode(sha256(content).digest()).decode(),
        )
        await self._js.publish(
            self._meta_subject(meta.name), json.dumps(info.as_dict()).encode(), headers={"Nats-Rollup": "sub"}
        )
        if previous is not None:
            await self._js.purge_stream(self._stream, subject=f"$O.{self._name}.C.{previous.nuid}")
        return info

    async def get(
        self, name: str, writeinto: io.BufferedIOBase | None = None, show_deleted: bool | None = False
    ) -> ObjectStore.ObjectResult:
        """The object's info and bytes (or the bytes written into ``writeinto``)."""
        info = await self.get_info(name, show_deleted)
        result = ObjectStore.ObjectResult(info=info)
        if not info.size:
            return result
        stream = self._js._stream(self._stream)
        subject = f"$O.{self._name}.C.{info.nuid}"
        content = b"".join(m.data for m in stream.live() if m.subject == subject)
        if info.digest != "SHA-256=" + base64.urlsafe_b64encode(sha256(content).digest()).decode():
            raise nats.js.errors.DigestMismatchError
        if writeinto is not None:
            writeinto.write(content)
        else:
            result.data = content
        return result

    async def delete(self, name: str) -> None:
        """Mark ``name`` deleted and drop its chunks (returns ``None``, like nats-py)."""
        info = await self.get_info(name)
        chunk_subject = f"$O.{self._name}.C.{info.nuid}"
        info.deleted = True
        info.size = 0
        info.chunks = 0
        info.digest = ""
        info.mtime = ""
        try:
            await self._js.publish(
                self._meta_subject(name), json.dumps(info.as_dict()).encode(), headers={"Nats-Rollup": "sub"}
            )
        finally:
            await self._js.purge_stream(self._stream, subject=chunk_subject)

    async def list(self, ignore_deletes: bool = False) -> list[api.ObjectInfo]:
        """Every object's info (deleted ones too unless ``ignore_deletes``); ``NotFoundError`` if none."""
        stream = self._js._stream(self._stream)
        prefix = f"$O.{self._name}.M."
        infos = [
            api.ObjectInfo.from_response(json.loads(m.data))
            for m in stream.live()
            if m.subject.startswith(prefix)
        ]
        if ignore_deletes:
            infos = [i for i in infos if not i.deleted]
        if not infos:
            raise nats.js.errors.NotFoundError
        return infos

    async def status(self) -> ObjectStore.ObjectStoreStatus:
        info = await self._js.stream_info(self._stream)
        return ObjectStore.ObjectStoreStatus(stream_info=info, bucket=self._name)
