"""JetStream contract: streams, publish acks, de-duplication, expectations, pull consumers."""

from __future__ import annotations

from typing import Any

import nats.errors
import nats.js.errors
import pytest
from nats.js import api

from .conftest import Backend


async def test_add_stream_info_and_defaults(backend: Backend, js: Any) -> None:
    name = backend.name()
    subject = backend.subject()
    info = await js.add_stream(name=name, subjects=[f"{subject}.*"])
    assert info.config.name == name
    assert info.config.subjects == [f"{subject}.*"]
    assert info.config.retention == api.RetentionPolicy.LIMITS
    assert info.config.storage == api.StorageType.FILE
    assert info.config.max_msgs == -1
    assert info.config.num_replicas == 1
    assert info.config.duplicate_window == 120.0
    assert (info.state.messages, info.state.last_seq, info.state.consumer_count) == (0, 0, 0)
    again = await js.stream_info(name)
    assert again.config.name == name


async def test_stream_subjects_default_to_its_name(backend: Backend, js: Any) -> None:
    name = backend.name()
    info = await js.add_stream(name=name)
    assert info.config.subjects == [name]
    ack = await js.publish(name, b"x")
    assert ack.stream == name


async def test_add_stream_is_idempotent_for_same_config(backend: Backend, js: Any) -> None:
    name = backend.name()
    subject = backend.subject()
    await js.add_stream(name=name, subjects=[subject])
    await js.publish(subject, b"keep")
    info = await js.add_stream(name=name, subjects=[subject])
    assert info.state.messages == 1


async def test_add_stream_with_different_config_is_bad_request(backend: Backend, js: Any) -> None:
    name = backend.name()
    await js.add_stream(name=name, subjects=[backend.subject()])
    with pytest.raises(nats.js.errors.BadRequestError) as info:
        await js.add_stream(name=name, subjects=[backend.subject()])
    assert info.value.err_code == 10058


async def test_overlapping_stream_subjects_are_rejected(backend: Backend, js: Any) -> None:
    base = backend.subject()
    await js.add_stream(name=backend.name(), subjects=[f"{base}.>"])
    with pytest.raises(nats.js.errors.BadRequestError) as info:
        await js.add_stream(name=backend.name(), subjects=[f"{base}.orders"])
    assert info.value.err_code == 10065


async def test_invalid_stream_name_is_a_value_error(backend: Backend, js: Any) -> None:
    with pytest.raises(ValueError, match="stream name"):
        await js.add_stream(name="bad.name", subjects=[backend.subject()])


async def test_stream_info_missing_is_not_found(backend: Backend, js: Any) -> None:
    with pytest.raises(nats.js.errors.NotFoundError) as info:
        await js.stream_info(backend.name())
    assert info.value.err_code == 10059


async def test_delete_stream(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    name, _ = stream
    assert await js.delete_stream(name) is True
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.stream_info(name)
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.delete_stream(name)


async def test_update_stream_subjects(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    extra = backend.subject()
    info = await js.update_stream(name=name, subjects=[f"{prefix}.>", extra])
    assert info.config.subjects == [f"{prefix}.>", extra]
    ack = await js.publish(extra, b"x")
    assert ack.stream == name


async def test_update_missing_stream_is_not_found(backend: Backend, js: Any) -> None:
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.update_stream(name=backend.name(), subjects=[backend.subject()])


async def test_publish_ack_sequence(js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    first = await js.publish(f"{prefix}.a", b"1")
    second = await js.publish(f"{prefix}.b", b"2")
    assert isinstance(first, api.PubAck)
    assert (first.stream, first.seq, second.seq) == (name, 1, 2)
    assert not first.duplicate
    info = await js.stream_info(name)
    assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (2, 1, 2)


async def test_publish_without_stream_raises_no_stream_response(backend: Backend, js: Any) -> None:
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await js.publish(backend.subject(), b"nowhere")


async def test_publish_expected_stream_mismatch(js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    with pytest.raises(nats.js.errors.BadRequestError) as info:
        await js.publish(f"{prefix}.a", b"x", stream="OTHER")
    assert info.value.err_code == 10060


async def test_msg_id_deduplication(js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    first = await js.publish(f"{prefix}.a", b"once", headers={"Nats-Msg-Id": "m-1"})
    dup = await js.publish(f"{prefix}.a", b"twice", headers={"Nats-Msg-Id": "m-1"})
    other = await js.publish(f"{prefix}.a", b"other", headers={"Nats-Msg-Id": "m-2"})
    assert dup.duplicate is True
    assert dup.seq == first.seq == 1
    assert other.seq == 2
    assert not other.duplicate
    assert (await js.stream_info(name)).state.messages == 2


async def test_expected_last_subject_sequence(js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    subject = f"{prefix}.k"
    await js.publish(subject, b"1", headers={"Nats-Expected-Last-Subject-Sequence": "0"})
    with pytest.raises(nats.js.errors.BadRequestError) as info:
        await js.publish(subject, b"2", headers={"Nats-Expected-Last-Subject-Sequence": "0"})
    assert info.value.err_code == 10071
    ack = await js.publish(subject, b"2", headers={"Nats-Expected-Last-Subject-Sequence": "1"})
    assert ack.seq == 2


async def test_core_publish_is_stored_and_request_gets_puback(
    js: Any, nc: Any, stream: tuple[str, str]
) -> None:
    import json

    name, prefix = stream
    await nc.publish(f"{prefix}.core", b"plain")
    reply = await nc.request(f"{prefix}.core", b"req", timeout=5)
    assert json.loads(reply.data) == {"stream": name, "seq": 2}
    assert (await js.stream_info(name)).state.messages == 2


async def test_js_publish_reaches_core_subscribers(nc: Any, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    sub = await nc.subscribe(f"{prefix}.>")
    await js.publish(f"{prefix}.ev", b"seen")
    assert (await sub.next_msg(timeout=5)).data == b"seen"


async def test_max_msgs_per_subject_keeps_latest(backend: Backend, js: Any) -> None:
    name = backend.name()
    prefix = backend.subject()
    await js.add_stream(name=name, subjects=[f"{prefix}.*"], max_msgs_per_subject=2)
    for i in range(4):
        await js.publish(f"{prefix}.a", str(i).encode())
    await js.publish(f"{prefix}.b", b"b")
    info = await js.stream_info(name, subjects_filter=">")
    assert info.state.messages == 3
    assert info.state.subjects == {f"{prefix}.a": 2, f"{prefix}.b": 1}
    last = await js.get_last_msg(name, f"{prefix}.a")
    assert (last.data, last.seq) == (b"3", 4)


async def test_purge_stream(js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    for i in range(3):
        await js.publish(f"{prefix}.a", str(i).encode())
    await js.publish(f"{prefix}.b", b"b")
    assert await js.purge_stream(name, subject=f"{prefix}.a") is True
    info = await js.stream_info(name)
    assert info.state.messages == 1
    await js.purge_stream(name)
    info = await js.stream_info(name)
    assert (info.state.messages, info.state.last_seq, info.state.first_seq) == (0, 4, 5)


async def test_get_msg_by_sequence_and_missing(js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    await js.publish(f"{prefix}.a", b"first", headers={"X-Key": "v"})
    msg = await js.get_msg(name, seq=1)
    assert (msg.subject, msg.seq, msg.data) == (f"{prefix}.a", 1, b"first")
    assert msg.headers["X-Key"] == "v"
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.get_msg(name, seq=99)


async def test_account_info_counts_streams(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    info = await js.account_info()
    assert isinstance(info, api.AccountInfo)
    assert info.streams >= 1


async def test_find_stream_name_by_subject(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    assert await js.find_stream_name_by_subject(f"{prefix}.x") == name
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.find_stream_name_by_subject(backend.subject())


async def test_streams_info_lists_created_stream(js: Any, stream: tuple[str, str]) -> None:
    name, _ = stream
    assert name in [info.config.name for info in await js.streams_info()]
