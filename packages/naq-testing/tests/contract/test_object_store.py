"""Object store contract: put (bytes / str / file), get, get_info, delete, list, status."""

from __future__ import annotations

import io
from typing import Any

import nats.js.errors
import pytest
from nats.js import api
from nats.js.object_store import ObjectStore

from .conftest import Backend


async def test_put_get_bytes(obj: Any) -> None:
    info = await obj.put("report.bin", b"\x00\x01binary")
    assert isinstance(info, api.ObjectInfo)
    assert (info.name, info.size, info.chunks, info.deleted) == ("report.bin", 8, 1, False)
    assert info.digest.startswith("SHA-256=")
    result = await obj.get("report.bin")
    assert isinstance(result, ObjectStore.ObjectResult)
    assert result.data == b"\x00\x01binary"
    assert result.info.digest == info.digest


async def test_put_str_and_file(obj: Any) -> None:
    await obj.put("text", "héllo")
    assert (await obj.get("text")).data == "héllo".encode()
    await obj.put("file", io.BytesIO(b"from a file"))
    assert (await obj.get("file")).data == b"from a file"


async def test_large_object_is_chunked(obj: Any) -> None:
    payload = bytes(range(256)) * 1200  # 300 KiB: three 128 KiB chunks
    info = await obj.put("big", payload)
    assert (info.size, info.chunks) == (len(payload), 3)
    assert (await obj.get("big")).data == payload


async def test_get_into_writer(obj: Any) -> None:
    await obj.put("w", b"stream me")
    sink = io.BytesIO()
    result = await obj.get("w", writeinto=sink)
    assert sink.getvalue() == b"stream me"
    assert result.data == b""


async def test_get_info_and_replace(obj: Any) -> None:
    await obj.put("doc", b"v1")
    await obj.put("doc", b"version 2")
    info = await obj.get_info("doc")
    assert (info.name, info.size) == ("doc", 9)
    assert (await obj.get("doc")).data == b"version 2"
    # The old chunks are purged and the meta message rolled up: one chunk + one meta remain.
    assert (await obj.status()).stream_info.state.messages == 2


async def test_empty_object(obj: Any) -> None:
    info = await obj.put("empty", b"")
    assert (info.size, info.chunks) == (0, 0)
    assert (await obj.get("empty")).data == b""


async def test_missing_object(obj: Any) -> None:
    with pytest.raises(nats.js.errors.ObjectNotFoundError):
        await obj.get("nope")
    with pytest.raises(nats.js.errors.ObjectNotFoundError):
        await obj.get_info("nope")


async def test_delete_object(obj: Any) -> None:
    await obj.put("tmp", b"data")
    assert await obj.delete("tmp") is None
    with pytest.raises(nats.js.errors.ObjectNotFoundError):
        await obj.get("tmp")
    info = await obj.get_info("tmp", show_deleted=True)
    assert info.deleted is True
    with pytest.raises(nats.js.errors.ObjectNotFoundError):
        await obj.delete("tmp")


async def test_list_objects(obj: Any) -> None:
    with pytest.raises(nats.js.errors.NotFoundError):
        await obj.list()
    await obj.put("a", b"1")
    await obj.put("b", b"2")
    await obj.delete("a")
    assert sorted(i.name for i in await obj.list()) == ["a", "b"]
    assert [i.name for i in await obj.list(ignore_deletes=True)] == ["b"]


async def test_status(obj: Any) -> None:
    await obj.put("a", b"1")
    status = await obj.status()
    assert isinstance(status, ObjectStore.ObjectStoreStatus)
    assert status.bucket.startswith("OB_")
    assert status.size > 0
    assert not status.sealed


async def test_object_store_missing_and_bind(backend: Backend, js: Any) -> None:
    bucket = backend.name("OB")
    with pytest.raises(nats.js.errors.BucketNotFoundError):
        await js.object_store(bucket)
    await js.create_object_store(bucket)
    bound = await js.object_store(bucket)
    await bound.put("x", b"y")
    assert (await bound.get("x")).data == b"y"
    assert await js.delete_object_store(bucket) is True
