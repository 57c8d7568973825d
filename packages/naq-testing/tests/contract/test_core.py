"""Core NATS contract: connect, pub/sub, wildcards, queue groups, request/reply, lifecycle errors."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import nats.errors
import pytest

from .conftest import Backend, settle


async def _collect(sub: Any, count: int, timeout: float = 5.0) -> list[Any]:
    return [await sub.next_msg(timeout=timeout) for _ in range(count)]


async def test_connect_state_and_url(backend: Backend, nc: Any) -> None:
    assert nc.is_connected
    assert not nc.is_closed
    assert not nc.is_reconnecting
    assert nc.connected_url is not None
    assert nc.connected_url.scheme == "nats"
    assert nc.max_payload == 1024 * 1024


async def test_unknown_connect_keyword_is_a_type_error(backend: Backend) -> None:
    with pytest.raises(TypeError, match="connection_timeout"):
        await nats.connect(backend.url, connection_timeout=1)


async def test_sync_callback_is_rejected(backend: Backend) -> None:
    def not_async() -> None:
        return None

    with pytest.raises(nats.errors.InvalidCallbackTypeError):
        await backend.connect(closed_cb=not_async)


async def test_publish_subscribe_next_msg(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"hello")
    msg = await sub.next_msg(timeout=5)
    assert (msg.subject, msg.data, msg.reply, msg.headers) == (subject, b"hello", "", None)


async def test_publish_between_two_clients(backend: Backend, nc: Any) -> None:
    other = await backend.connect()
    subject = backend.subject()
    sub = await other.subscribe(subject)
    await settle(other)  # the server must know the interest before another client publishes
    await nc.publish(subject, b"across")
    await nc.flush()
    assert (await sub.next_msg(timeout=5)).data == b"across"


async def test_callback_subscription(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def handler(msg: Any) -> None:
        await got.put(msg.data)

    await nc.subscribe(subject, cb=handler)
    for i in range(3):
        await nc.publish(subject, str(i).encode())
    assert [await asyncio.wait_for(got.get(), 5) for _ in range(3)] == [b"0", b"1", b"2"]


async def test_async_iterator_subscription(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    sub = await nc.subscribe(subject, max_msgs=2)
    await nc.publish(subject, b"a")
    await nc.publish(subject, b"b")
    await nc.publish(subject, b"c")
    seen = [msg.data async for msg in sub.messages]
    assert seen == [b"a", b"b"]


async def test_star_wildcard_matches_one_token(backend: Backend, nc: Any) -> None:
    base = backend.subject()
    sub = await nc.subscribe(f"{base}.*")
    await nc.publish(f"{base}.one", b"1")
    await nc.publish(f"{base}.one.two", b"2")
    await nc.publish(f"{base}.three", b"3")
    assert [m.data for m in await _collect(sub, 2)] == [b"1", b"3"]
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(timeout=0.1)


async def test_gt_wildcard_matches_one_or_more_tokens(backend: Backend, nc: Any) -> None:
    base = backend.subject()
    sub = await nc.subscribe(f"{base}.>")
    await nc.publish(base, b"0")
    await nc.publish(f"{base}.a", b"1")
    await nc.publish(f"{base}.a.b.c", b"2")
    assert [m.subject for m in await _collect(sub, 2)] == [f"{base}.a", f"{base}.a.b.c"]
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(timeout=0.1)


async def test_middle_star_wildcard(backend: Backend, nc: Any) -> None:
    base = backend.subject()
    sub = await nc.subscribe(f"{base}.*.end")
    await nc.publish(f"{base}.x.end", b"yes")
    await nc.publish(f"{base}.x.other", b"no")
    await nc.publish(f"{base}.y.end", b"yes2")
    assert [m.data for m in await _collect(sub, 2)] == [b"yes", b"yes2"]


async def test_queue_group_delivers_each_message_once(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    first = await nc.subscribe(subject, queue="workers")
    second = await nc.subscribe(subject, queue="workers")
    plain = await nc.subscribe(subject)
    for i in range(20):
        await nc.publish(subject, str(i).encode())
    await nc.flush()
    await asyncio.sleep(0.05)
    assert first.pending_msgs + second.pending_msgs == 20
    assert plain.pending_msgs == 20


async def test_headers_round_trip(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"x", headers={"Trace-Id": "abc", "Empty": ""})
    msg = await sub.next_msg(timeout=5)
    assert msg.headers["Trace-Id"] == "abc"
    assert msg.headers["Empty"] == ""


async def test_bad_header_key_is_rejected(backend: Backend, nc: Any) -> None:
    with pytest.raises(nats.errors.BadHeaderError):
        await nc.publish(backend.subject(), b"x", headers={"bad key": "v"})


async def test_reply_subject_is_delivered(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    inbox = nc.new_inbox()
    assert inbox.startswith("_INBOX.")
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"q", reply=inbox)
    assert (await sub.next_msg(timeout=5)).reply == inbox


async def test_request_reply(backend: Backend, nc: Any) -> None:
    subject = backend.subject()

    async def echo(msg: Any) -> None:
        await msg.respond(b"echo:" + msg.data)

    await nc.subscribe(subject, cb=echo)
    reply = await nc.request(subject, b"ping", timeout=5)
    assert reply.data == b"echo:ping"


async def test_request_with_headers_to_wildcard_responder(backend: Backend, nc: Any) -> None:
    base = backend.subject()
    responder = await backend.connect()

    async def answer(msg: Any) -> None:
        await responder.publish(msg.reply, msg.headers["Who"].encode(), headers={"From": msg.subject})

    await responder.subscribe(f"{base}.>", cb=answer)
    await settle(responder)
    reply = await nc.request(f"{base}.svc.a", b"", timeout=5, headers={"Who": "me"})
    assert reply.data == b"me"
    assert reply.headers["From"] == f"{base}.svc.a"


async def test_request_queue_group_answers_once(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    answered: list[str] = []

    def make(name: str) -> Any:
        async def handler(msg: Any) -> None:
            answered.append(name)
            await msg.respond(name.encode())

        return handler

    await nc.subscribe(subject, queue="svc", cb=make("a"))
    await nc.subscribe(subject, queue="svc", cb=make("b"))
    for _ in range(4):
        reply = await nc.request(subject, b"", timeout=5)
        assert reply.data in (b"a", b"b")
    assert len(answered) == 4


async def test_request_without_responders(backend: Backend, nc: Any) -> None:
    with pytest.raises(nats.errors.NoRespondersError):
        await nc.request(backend.subject(), b"anyone?", timeout=1)


async def test_request_timeout_when_responder_is_silent(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    await nc.subscribe(subject)  # interest, but never answers
    with pytest.raises(nats.errors.TimeoutError):
        await nc.request(subject, b"", timeout=0.2)


async def test_next_msg_timeout(backend: Backend, nc: Any) -> None:
    sub = await nc.subscribe(backend.subject())
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(timeout=0.1)


async def test_unsubscribe_stops_delivery(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    got: list[bytes] = []

    async def handler(msg: Any) -> None:
        got.append(msg.data)

    sub = await nc.subscribe(subject, cb=handler)
    await nc.publish(subject, b"1")
    await nc.flush()
    await asyncio.sleep(0.05)
    await sub.unsubscribe()
    await nc.publish(subject, b"2")
    await nc.flush()
    await asyncio.sleep(0.05)
    assert got == [b"1"]
    with pytest.raises(nats.errors.BadSubscriptionError):
        await sub.unsubscribe()


async def test_auto_unsubscribe_limit(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    sub = await nc.subscribe(subject)
    await sub.unsubscribe(limit=2)
    for i in range(4):
        await nc.publish(subject, str(i).encode())
    assert [m.data for m in await _collect(sub, 2)] == [b"0", b"1"]
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(timeout=0.1)


async def test_next_msg_on_callback_subscription_is_an_error(backend: Backend, nc: Any) -> None:
    async def handler(msg: Any) -> None:
        return None

    sub = await nc.subscribe(backend.subject(), cb=handler)
    with pytest.raises(nats.errors.Error):
        await sub.next_msg(timeout=0.1)


async def test_callback_error_goes_to_error_cb(backend: Backend) -> None:
    errors: asyncio.Queue[Exception] = asyncio.Queue()

    async def on_error(exc: Exception) -> None:
        await errors.put(exc)

    nc = await backend.connect(error_cb=on_error)
    subject = backend.subject()

    async def boom(msg: Any) -> None:
        raise RuntimeError("handler failed")

    await nc.subscribe(subject, cb=boom)
    await nc.publish(subject, b"x")
    exc = await asyncio.wait_for(errors.get(), 5)
    assert isinstance(exc, RuntimeError)


async def test_bad_subjects(backend: Backend, nc: Any) -> None:
    for bad in ("", "has space", "tab\tsubject"):
        with pytest.raises(nats.errors.BadSubjectError):
            await nc.publish(bad, b"x")
    for bad in ("a..b", "a.>.b", "a.b*"):
        with pytest.raises(nats.errors.BadSubjectError):
            await nc.subscribe(bad)


async def test_max_payload_exceeded(backend: Backend, nc: Any) -> None:
    with pytest.raises(nats.errors.MaxPayloadError):
        await nc.publish(backend.subject(), b"x" * (nc.max_payload + 1))


async def test_flush_and_rtt(backend: Backend, nc: Any) -> None:
    await nc.flush(timeout=1)
    rtt = await nc.rtt()
    assert 0 <= rtt < 1
    with pytest.raises(nats.errors.BadTimeoutError):
        await nc.flush(timeout=0)


async def test_close_runs_callbacks_and_blocks_operations(backend: Backend) -> None:
    events: list[str] = []

    async def disconnected() -> None:
        events.append("disconnected")

    async def closed() -> None:
        events.append("closed")

    nc = await backend.connect(disconnected_cb=disconnected, closed_cb=closed)
    sub = await nc.subscribe(backend.subject())
    await nc.close()
    assert nc.is_closed
    assert not nc.is_connected
    assert nc.connected_url is None
    assert events == ["disconnected", "closed"]
    with pytest.raises(nats.errors.ConnectionClosedError):
        await nc.publish(backend.subject(), b"x")
    with pytest.raises(nats.errors.ConnectionClosedError):
        await nc.subscribe(backend.subject())
    with pytest.raises(nats.errors.ConnectionClosedError):
        await nc.request(backend.subject(), b"")
    with pytest.raises(nats.errors.ConnectionClosedError):
        await nc.flush()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await sub.next_msg(timeout=0.1)
    with pytest.raises(nats.errors.ConnectionClosedError):
        await nc.drain()
    await nc.close()  # closing twice is fine
    assert events == ["disconnected", "closed"]


async def test_drain_processes_pending_then_closes(backend: Backend, nc: Any) -> None:
    subject = backend.subject()
    handled: list[bytes] = []

    async def slow(msg: Any) -> None:
        await asyncio.sleep(0.01)
        handled.append(msg.data)

    await nc.subscribe(subject, cb=slow)
    await settle(nc)
    sender = await backend.connect()
    for i in range(5):
        await sender.publish(subject, str(i).encode())
    await settle(sender)  # the server has routed every message to nc before nc drains
    await nc.drain()
    assert nc.is_closed
    assert handled == [b"0", b"1", b"2", b"3", b"4"]


async def test_async_context_manager_closes(backend: Backend) -> None:
    async with await nats.connect(backend.url, allow_reconnect=False) as nc:
        assert nc.is_connected
    assert nc.is_closed


async def test_no_echo_skips_own_messages(backend: Backend) -> None:
    nc = await backend.connect(no_echo=True)
    other = await backend.connect()
    subject = backend.subject()
    mine = await nc.subscribe(subject)
    theirs = await other.subscribe(subject)
    await settle(other)
    await nc.publish(subject, b"x")
    await nc.flush()
    assert (await theirs.next_msg(timeout=5)).data == b"x"
    with pytest.raises(nats.errors.TimeoutError):
        await mine.next_msg(timeout=0.1)


async def test_close_wakes_a_waiting_next_msg(backend: Backend) -> None:
    nc = await backend.connect()
    sub = await nc.subscribe(backend.subject())
    waiter = asyncio.create_task(sub.next_msg(timeout=5))
    await asyncio.sleep(0.05)
    await nc.close()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await asyncio.wait_for(waiter, 2)


async def test_close_ends_message_iteration(backend: Backend) -> None:
    nc = await backend.connect()
    subject = backend.subject()
    sub = await nc.subscribe(subject)

    async def consume() -> list[bytes]:
        return [msg.data async for msg in sub.messages]

    consumer = asyncio.create_task(consume())
    await nc.publish(subject, b"1")
    await nc.flush()
    await asyncio.sleep(0.05)
    await nc.close()
    assert await asyncio.wait_for(consumer, 2) == [b"1"]
