"""JetStream contract, part two: limits, rollups, expectations, message access, consumer policies."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats.errors
import nats.js.errors
import pytest
from nats.js import api

from .conftest import Backend


async def test_max_msgs_discard_old(backend: Backend, js: Any) -> None:
    name, prefix = backend.name(), backend.subject()
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], max_msgs=2)
    for i in range(4):
        await js.publish(f"{prefix}.a", str(i).encode())
    info = await js.stream_info(name)
    assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (2, 3, 4)


async def test_max_msgs_discard_new_rejects(backend: Backend, js: Any) -> None:
    name, prefix = backend.name(), backend.subject()
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], max_msgs=1, discard=api.DiscardPolicy.NEW)
    await js.publish(f"{prefix}.a", b"1")
    with pytest.raises(nats.js.errors.APIError) as info:
        await js.publish(f"{prefix}.a", b"2")
    assert info.value.err_code == 10077


async def test_max_msg_size(backend: Backend, js: Any) -> None:
    name, prefix = backend.name(), backend.subject()
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], max_msg_size=10)
    await js.publish(f"{prefix}.a", b"short")
    with pytest.raises(nats.js.errors.BadRequestError) as info:
        await js.publish(f"{prefix}.a", b"x" * 11)
    assert info.value.err_code == 10054


async def test_max_age_expires_messages(backend: Backend, js: Any) -> None:
    name, prefix = backend.name(), backend.subject()
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], max_age=0.3)
    published = time.monotonic()
    assert (await js.publish(f"{prefix}.a", b"old")).seq == 1
    assert (await js.stream_info(name)).config.duplicate_window == pytest.approx(0.3)
    # Poll (bounded, generous) rather than sleep a fixed time: the expiry timer runs late on a
    # busy machine. It can never run early, so "gone, and not before max_age" is exact.
    while (state := (await js.stream_info(name)).state).messages:
        assert time.monotonic() - published < 10, "the message did not expire within 10 s"
        await asyncio.sleep(0.05)
    assert time.monotonic() - published >= 0.3
    assert (state.last_seq, state.messages) == (1, 0)  # stored, then expired


async def test_rollup_needs_permission(js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    with pytest.raises(nats.js.errors.ServerError) as info:
        await js.publish(f"{prefix}.a", b"x", headers={"Nats-Rollup": "sub"})
    assert info.value.err_code == 10111


async def test_rollup_subject_and_all(backend: Backend, js: Any) -> None:
    name, prefix = backend.name(), backend.subject()
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], allow_rollup_hdrs=True)
    await js.publish(f"{prefix}.a", b"1")
    await js.publish(f"{prefix}.b", b"2")
    await js.publish(f"{prefix}.a", b"3", headers={"Nats-Rollup": "sub"})
    assert (await js.stream_info(name)).state.messages == 2
    await js.publish(f"{prefix}.c", b"4", headers={"Nats-Rollup": "all"})
    info = await js.stream_info(name)
    assert (info.state.messages, info.state.first_seq) == (1, 4)


async def test_expected_last_sequence(js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await js.publish(f"{prefix}.a", b"1")
    with pytest.raises(nats.js.errors.BadRequestError) as info:
        await js.publish(f"{prefix}.b", b"2", headers={"Nats-Expected-Last-Sequence": "5"})
    assert info.value.err_code == 10071
    ack = await js.publish(f"{prefix}.b", b"2", headers={"Nats-Expected-Last-Sequence": "1"})
    assert ack.seq == 2


async def test_publish_async_future(js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    future = await js.publish_async(f"{prefix}.a", b"x")
    ack = await asyncio.wait_for(future, 2)
    assert (ack.stream, ack.seq) == (name, 1)


async def test_get_msg_next_and_last(js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    await js.publish(f"{prefix}.a", b"a1")
    await js.publish(f"{prefix}.b", b"b1")
    await js.publish(f"{prefix}.a", b"a2")
    nxt = await js.get_msg(name, seq=2, subject=f"{prefix}.a", next=True)
    assert (nxt.seq, nxt.data) == (3, b"a2")
    last = await js.get_last_msg(name, f"{prefix}.b")
    assert (last.seq, last.data) == (2, b"b1")
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.get_last_msg(name, f"{prefix}.zzz")


async def test_delete_msg(js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    await js.publish(f"{prefix}.a", b"1")
    await js.publish(f"{prefix}.a", b"2")
    assert await js.delete_msg(name, 1) is True
    assert (await js.stream_info(name)).state.messages == 1
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.get_msg(name, seq=1)
    with pytest.raises(nats.js.errors.ServerError) as info:
        await js.delete_msg(name, 1)
    assert (info.value.err_code, info.value.description) == (10057, "no message found")


async def test_purge_keep_and_seq(js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    for i in range(5):
        await js.publish(f"{prefix}.a", str(i).encode())
    await js.purge_stream(name, subject=f"{prefix}.a", keep=2)
    assert (await js.stream_info(name)).state.messages == 2
    await js.purge_stream(name, seq=5)
    info = await js.stream_info(name)
    assert (info.state.messages, info.state.first_seq) == (1, 5)


async def test_deny_purge(backend: Backend, js: Any) -> None:
    name, prefix = backend.name(), backend.subject()
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], deny_purge=True)
    with pytest.raises(nats.js.errors.ServerError) as info:
        await js.purge_stream(name)
    assert info.value.err_code == 10110


async def test_ack_policy_all(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    for i in range(3):
        await js.publish(f"{prefix}.job", str(i).encode())
    config = api.ConsumerConfig(ack_policy=api.AckPolicy.ALL)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"), config=config)
    msgs = await sub.fetch(3, timeout=1)
    await msgs[-1].ack_sync()
    assert (await sub.consumer_info()).num_ack_pending == 0


async def test_ack_policy_none_never_redelivers(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await js.publish(f"{prefix}.job", b"x")
    config = api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, ack_wait=0.2)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"), config=config)
    await sub.fetch(1, timeout=5)
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.5)


async def test_nak_with_delay(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await js.publish(f"{prefix}.job", b"x")
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"))
    (msg,) = await sub.fetch(1, timeout=5)
    await msg.nak(delay=1.0)
    with pytest.raises(nats.errors.TimeoutError):  # 0.7 s of slack before the redelivery is due
        await sub.fetch(1, timeout=0.3)
    (again,) = await sub.fetch(1, timeout=5)
    assert again.metadata.num_delivered == 2


async def test_in_progress_extends_ack_wait(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await js.publish(f"{prefix}.job", b"x")
    # Delivered at t=0 with ack_wait 2 s; in_progress() at t=1 moves the redelivery to t=3. The
    # fetch covers t=1..2.3: past the first deadline (t=2), with 0.7 s of slack before the
    # extended one; in_progress() has 1 s of slack to arrive before the first deadline.
    config = api.ConsumerConfig(ack_wait=2.0)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"), config=config)
    (msg,) = await sub.fetch(1, timeout=5)
    await asyncio.sleep(1.0)
    await msg.in_progress()
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=1.3)
    await msg.ack()


async def test_max_deliver_stops_redelivery(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    await js.publish(f"{prefix}.job", b"x")
    config = api.ConsumerConfig(max_deliver=2)
    sub = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"), config=config)
    (msg,) = await sub.fetch(1, timeout=5)
    await msg.nak()
    (again,) = await sub.fetch(1, timeout=5)
    await again.nak()
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.3)


async def test_deliver_last_and_by_start_sequence(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    for i in range(4):
        await js.publish(f"{prefix}.job", str(i).encode())
    last = await js.pull_subscribe(
        f"{prefix}.job",
        durable=backend.name("C"),
        config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.LAST),
    )
    assert [m.data for m in await last.fetch(5, timeout=1)] == [b"3"]
    config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=3)
    by_seq = await js.pull_subscribe(f"{prefix}.job", durable=backend.name("C"), config=config)
    assert [m.data for m in await by_seq.fetch(5, timeout=1)] == [b"2", b"3"]


async def test_pull_subscribe_bind_shares_consumer(
    backend: Backend, js: Any, stream: tuple[str, str]
) -> None:
    name, prefix = stream
    for i in range(2):
        await js.publish(f"{prefix}.job", str(i).encode())
    durable = backend.name("C")
    await js.add_consumer(name, durable_name=durable, filter_subject=f"{prefix}.job")
    one = await js.pull_subscribe_bind(durable, stream=name)
    two = await js.pull_subscribe_bind(durable, stream=name)
    first = await one.fetch(1, timeout=5)
    second = await two.fetch(1, timeout=5)
    assert [m.data for m in first + second] == [b"0", b"1"]
    names = [c.name for c in await js.consumers_info(name)]
    assert names == [durable]


async def test_consumer_filter_outside_stream_is_accepted(
    backend: Backend, js: Any, stream: tuple[str, str]
) -> None:
    # nats-server 2.10+ accepts a filter that matches none of the stream's subjects: it just sees nothing.
    name, prefix = stream
    await js.publish(f"{prefix}.a", b"x")
    info = await js.add_consumer(name, durable_name=backend.name("C"), filter_subject=backend.subject())
    assert info.num_pending == 0


async def test_consumer_info_counts(backend: Backend, js: Any, stream: tuple[str, str]) -> None:
    name, prefix = stream
    for i in range(3):
        await js.publish(f"{prefix}.job", str(i).encode())
    durable = backend.name("C")
    sub = await js.pull_subscribe(f"{prefix}.job", durable=durable)
    msgs = await sub.fetch(2, timeout=1)
    await msgs[0].ack_sync()
    info = await js.consumer_info(name, durable)
    assert (info.num_pending, info.num_ack_pending) == (1, 1)
    assert (info.delivered.consumer_seq, info.delivered.stream_seq) == (2, 2)
    assert (await js.stream_info(name)).state.consumer_count == 1


async def test_subscription_drain(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    got: list[bytes] = []

    async def handler(msg: Any) -> None:
        got.append(msg.data)

    sub = await nc.subscribe(subject, cb=handler)
    await nc.publish(subject, b"1")
    await nc.flush()
    await sub.drain()
    await nc.publish(subject, b"2")
    await nc.flush()
    await asyncio.sleep(0.05)
    assert got == [b"1"]


async def test_account_info_without_jetstream_is_unavailable(backend: Backend) -> None:
    # Stream-level JetStream errors on a connection that is closed come from the client.
    nc = await backend.connect()
    js = nc.jetstream()
    await nc.close()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await js.account_info()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await js.publish(backend.subject(), b"x")


async def test_msg_ttl_needs_allow_msg_ttl(js: Any, stream: tuple[str, str]) -> None:
    _, prefix = stream
    with pytest.raises(nats.js.errors.APIError) as info:
        await js.publish(f"{prefix}.a", b"x", msg_ttl=5)
    assert info.value.err_code == 10166


async def test_deny_delete(backend: Backend, js: Any) -> None:
    name, prefix = backend.name(), backend.subject()
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], deny_delete=True)
    await js.publish(f"{prefix}.a", b"x")
    with pytest.raises(nats.js.errors.APIError) as info:
        await js.delete_msg(name, 1)
    assert isinstance(info.value, nats.js.errors.ServerError)
    assert (info.value.err_code, info.value.description) == (10057, "message delete not permitted")
