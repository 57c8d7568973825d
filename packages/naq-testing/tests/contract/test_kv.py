"""Key-value contract: buckets, revisions, create/update conflicts, delete/purge, keys, history."""

from __future__ import annotations

import datetime
from typing import Any

import nats.js.errors
import pytest
from nats.js.kv import KeyValue

from .conftest import Backend


async def test_put_get_entry_fields(kv: Any) -> None:
    rev = await kv.put("user.1", b"alice")
    entry = await kv.get("user.1")
    assert isinstance(entry, KeyValue.Entry)
    assert (entry.key, entry.value, entry.revision) == ("user.1", b"alice", rev)
    assert entry.bucket.startswith("KV_")
    assert (entry.delta, entry.created, entry.operation) == (None, None, None)


async def test_put_returns_increasing_revisions(kv: Any) -> None:
    first = await kv.put("a", b"1")
    second = await kv.put("b", b"2")
    third = await kv.put("a", b"3")
    assert first < second < third
    assert (await kv.get("a")).value == b"3"
    assert (await kv.get("a", revision=first)).value == b"1"


async def test_get_revision_of_other_key_is_not_found(kv: Any) -> None:
    rev = await kv.put("a", b"1")
    await kv.put("b", b"2")
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await kv.get("b", revision=rev)


async def test_empty_value_reads_back_as_none(kv: Any) -> None:
    await kv.put("empty", b"")
    assert (await kv.get("empty")).value is None


async def test_get_missing_key(kv: Any) -> None:
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await kv.get("missing")


async def test_get_deleted_key_is_key_not_found_with_op(kv: Any) -> None:
    await kv.put("gone", b"v")
    assert await kv.delete("gone") is True
    with pytest.raises(nats.js.errors.KeyNotFoundError) as info:
        await kv.get("gone")
    assert info.value.op == "DEL"
    assert not isinstance(info.value, nats.js.errors.KeyDeletedError)


async def test_invalid_key(kv: Any) -> None:
    with pytest.raises(nats.js.errors.InvalidKeyError):
        await kv.put("bad key", b"v")
    with pytest.raises(nats.js.errors.InvalidKeyError):
        await kv.get(".leading")


async def test_create_only_when_absent(kv: Any) -> None:
    rev = await kv.create("k", b"1")
    assert rev >= 1
    with pytest.raises(nats.js.errors.KeyWrongLastSequenceError):
        await kv.create("k", b"2")
    assert (await kv.get("k")).value == b"1"


async def test_create_after_delete_succeeds(kv: Any) -> None:
    await kv.create("k", b"1")
    await kv.delete("k")
    await kv.create("k", b"again")
    assert (await kv.get("k")).value == b"again"


async def test_update_with_revision(kv: Any) -> None:
    rev = await kv.put("k", b"1")
    new_rev = await kv.update("k", b"2", last=rev)
    assert new_rev > rev
    with pytest.raises(nats.js.errors.KeyWrongLastSequenceError) as info:
        await kv.update("k", b"3", last=rev)
    assert isinstance(info.value, nats.js.errors.BadRequestError)
    assert (await kv.get("k")).value == b"2"


async def test_delete_with_wrong_last_revision(kv: Any) -> None:
    rev = await kv.put("k", b"1")
    await kv.put("k", b"2")
    with pytest.raises(nats.js.errors.BadRequestError) as info:
        await kv.delete("k", last=rev)
    assert info.value.err_code == 10071


async def test_purge_removes_history(kv: Any) -> None:
    await kv.put("k", b"1")
    await kv.put("k", b"2")
    assert await kv.purge("k") is True
    with pytest.raises(nats.js.errors.KeyNotFoundError) as info:
        await kv.get("k")
    assert info.value.op == "PURGE"
    history = await kv.history("k")
    assert [e.operation for e in history] == ["PURGE"]


async def test_keys_skip_deleted_and_filter(kv: Any) -> None:
    await kv.put("orders.1", b"a")
    await kv.put("orders.2", b"b")
    await kv.put("users.1", b"c")
    await kv.delete("orders.2")
    assert sorted(await kv.keys()) == ["orders.1", "users.1"]
    assert await kv.keys(filters=["users"]) == ["users.1"]


async def test_keys_empty_bucket(kv: Any) -> None:
    with pytest.raises(nats.js.errors.NoKeysError):
        await kv.keys()


async def test_history_entries(kv: Any) -> None:
    await kv.put("k", b"1")
    await kv.put("other", b"x")
    await kv.put("k", b"2")
    await kv.delete("k")
    history = await kv.history("k")
    assert [e.value for e in history] == [b"1", b"2", b""]
    assert [e.operation for e in history] == [None, None, "DEL"]
    assert [e.delta for e in history] == [2, 1, 0]
    assert [e.revision for e in history] == [1, 3, 4]
    assert all(isinstance(e.created, datetime.datetime) for e in history)
    with pytest.raises(nats.js.errors.NoKeysError):
        await kv.history("never")


async def test_history_is_limited_by_bucket_history(kv: Any) -> None:
    for i in range(7):
        await kv.put("k", str(i).encode())
    assert [e.value for e in await kv.history("k")] == [b"2", b"3", b"4", b"5", b"6"]


async def test_status(kv: Any) -> None:
    await kv.put("a", b"1")
    await kv.put("a", b"2")
    status = await kv.status()
    assert isinstance(status, KeyValue.BucketStatus)
    assert (status.values, status.history) == (2, 5)
    assert status.bucket.startswith("KV_")


async def test_key_value_missing_bucket(backend: Backend, js: Any) -> None:
    with pytest.raises(nats.js.errors.BucketNotFoundError):
        await js.key_value(backend.name("KV"))


async def test_invalid_bucket_name(js: Any) -> None:
    with pytest.raises(nats.js.errors.InvalidBucketNameError):
        await js.create_key_value(bucket="bad.name")


async def test_create_key_value_idempotent_and_conflicting(backend: Backend, js: Any) -> None:
    bucket = backend.name("KV")
    kv = await js.create_key_value(bucket=bucket)
    await kv.put("k", b"v")
    again = await js.create_key_value(bucket=bucket)
    assert (await again.get("k")).value == b"v"
    with pytest.raises(nats.js.errors.BadRequestError) as info:
        await js.create_key_value(bucket=bucket, history=10)
    assert info.value.err_code == 10058


async def test_history_too_large(backend: Backend, js: Any) -> None:
    with pytest.raises(nats.js.errors.KeyHistoryTooLargeError):
        await js.create_key_value(bucket=backend.name("KV"), history=65)


async def test_bind_existing_bucket_and_delete_bucket(backend: Backend, js: Any) -> None:
    bucket = backend.name("KV")
    await js.create_key_value(bucket=bucket)
    bound = await js.key_value(bucket)
    await bound.put("k", b"v")
    assert (await bound.get("k")).value == b"v"
    assert await js.delete_key_value(bucket) is True
    with pytest.raises(nats.js.errors.BucketNotFoundError):
        await js.key_value(bucket)


async def test_keys_after_purge_and_delete_of_everything(kv: Any) -> None:
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.delete("a")
    await kv.purge("b")
    with pytest.raises(nats.js.errors.NoKeysError):
        await kv.keys()
    status = await kv.status()
    assert status.values == 3  # "a" and its delete marker; the purge marker replaced "b"


async def test_delete_missing_key_places_marker(kv: Any) -> None:
    assert await kv.delete("never") is True
    history = await kv.history("never")
    assert [e.operation for e in history] == ["DEL"]
