"""Pull consumer contract: fetch, ack, nak, term, ack-wait redelivery, metadata, timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
import nats.js.errors
import pytest
from nats.js import api

from .conftest import Backend


async def _publish(js: Any, subject: str, count: int) -> None:
    for i in range(count):
        await js.publish(subject, str(i).encode())


async def test_fetch_batch_and_metadata(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    await _publish(js, f"{prefix}.job", 3)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"))
    msgs = await sub.fetch(3, timeout=1)
    assert [m.data for m in msgs] == [b"0", b"1", b"2"]
    meta = msgs[0].metadata
    assert (meta.stream, meta.sequence.stream, meta.sequence.consumer, meta.num_delivered) == (name, 1, 1, 1)
    assert meta.num_pending == 2
    assert msgs[2].metadata.num_pending == 0
    for msg in msgs:
        await msg.ack()


async def test_fetch_returns_what_is_available(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await _publish(js, f"{prefix}.job", 2)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"))
    msgs = await sub.fetch(10, timeout=1)
    assert [m.data for m in msgs] == [b"0", b"1"]


async def test_fetch_times_out_when_empty(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"))
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.3)


async def test_fetch_waits_for_a_later_message(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"))

    async def later() -> None:
        await asyncio.sleep(0.1)
        await js.publish(f"{prefix}.job", b"late")

    task = asyncio.create_task(later())
    msgs = await sub.fetch(1, timeout=5)
    await task
    assert [m.data for m in msgs] == [b"late"]


async def test_acked_messages_are_not_redelivered(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await _publish(js, f"{prefix}.job", 2)
    durable = backend.name("C")
    sub = await js.pull_subscribe(f"{prefix}.job", durable=durable)
    for msg in await sub.fetch(2, timeout=1):
        await msg.ack()
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.3)
    info = await sub.consumer_info()
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_nak_redelivers(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await _publish(js, f"{prefix}.job", 1)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"))
    (msg,) = await sub.fetch(1, timeout=5)
    await msg.nak()
    (again,) = await sub.fetch(1, timeout=5)
    assert again.data == msg.data
    assert again.metadata.num_delivered == 2
    assert again.metadata.sequence.stream == 1
    await again.ack()


async def test_unacked_message_redelivered_after_ack_wait(
    backend: Backend, js: Any, stream: tuple[str, str]
) -> None:
    _, prefix = stream
    await _publish(js, f"{prefix}.job", 1)
    config = api.ConsumerConfig(ack_wait=0.3)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"), config=config)
    (first,) = await sub.fetch(1, timeout=5)
    (second,) = await sub.fetch(1, timeout=5)
    assert second.data == first.data
    assert second.metadata.num_delivered == 2


async def test_term_stops_redelivery(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await _publish(js, f"{prefix}.job", 1)
    config = api.ConsumerConfig(ack_wait=0.2)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"), config=config)
    (msg,) = await sub.fetch(1, timeout=5)
    await msg.term()
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.5)


async def test_double_ack_is_an_error(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await _publish(js, f"{prefix}.job", 1)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"))
    (msg,) = await sub.fetch(1, timeout=5)
    await msg.ack()
    with pytest.raises(nats.errors.MsgAlreadyAckdError):
        await msg.ack()


async def test_ack_sync(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await _publish(js, f"{prefix}.job", 1)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"))
    (msg,) = await sub.fetch(1, timeout=5)
    await msg.ack_sync(timeout=1)
    assert msg.is_acked
    assert (await sub.consumer_info()).num_ack_pending == 0


async def test_durable_consumer_resumes(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await _publish(js, f"{prefix}.job", 3)
    durable = backend.name("C")
    first = await js.pull_subscribe(f"{prefix}.job", durable=durable)
    (msg,) = await first.fetch(1, timeout=5)
    await msg.ack()
    await first.unsubscribe()
    second = await js.pull_subscribe(f"{prefix}.job", durable=durable)
    rest = await second.fetch(5, timeout=1)
    assert [m.data for m in rest] == [b"1", b"2"]


async def test_filter_subject_only_delivers_matching(
    backend: Backend, js: Any, stream: tuple[str, str]
) -> None:
    _, prefix = stream
    await js.publish(f"{prefix}.a", b"a1")
    await js.publish(f"{prefix}.b", b"b1")
    await js.publish(f"{prefix}.a", b"a2")
    sub = await js.pull_subscribe(f"{prefix}.a", durable=backend.name("C"))
    assert [m.data for m in await sub.fetch(5, timeout=1)] == [b"a1", b"a2"]


async def test_ephemeral_pull_subscribe_with_explicit_stream(js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    await _publish(js, f"{prefix}.job", 2)
    sub = await js.pull_subscribe(f"{prefix}.job", stream=name)
    assert len(await sub.fetch(2, timeout=1)) == 2


async def test_deliver_new_policy_skips_existing(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await _publish(js, f"{prefix}.job", 2)
    config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.NEW)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"), config=config)
    await js.publish(f"{prefix}.job", b"new")
    assert [m.data for m in await sub.fetch(5, timeout=1)] == [b"new"]


async def test_add_consumer_and_info(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    await _publish(js, f"{prefix}.job", 2)
    durable = backend.name("C")
    info = await js.add_consumer(name, durable_name=durable, ack_policy=api.AckPolicy.EXPLICIT)
    assert (info.name, info.stream_name, info.num_pending) == (durable, name, 2)
    assert (await js.consumer_info(name, durable)).config.durable_name == durable
    assert await js.delete_consumer(name, durable) is True
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.consumer_info(name, durable)


async def test_pull_subscribe_without_stream_is_not_found(backend: Backend, js: Any) -> None:
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.pull_subscribe(backend.subject(), durable=backend.name("C"))


async def test_fetch_invalid_arguments(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"))
    with pytest.raises(ValueError, match="batch"):
        await sub.fetch(0)
    with pytest.raises(ValueError, match="timeout"):
        await sub.fetch(1, timeout=0)
