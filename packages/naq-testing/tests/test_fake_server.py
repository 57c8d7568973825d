"""Fake-only: FakeNats inspection helpers, patching, and simulated server conditions."""

from __future__ import annotations

import asyncio
import io
import sys
import types
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest

from naq.testing.fake import FakeClient, FakeNats, FakeStream, PublishedMessage, patch_nats_connect

pytestmark = pytest.mark.unit


async def test_patch_replaces_and_restores_nats_connect() -> None:
    original = nats.connect
    with patch_nats_connect() as fake:
        nc = await nats.connect("nats://example.invalid:4222", name="svc")
        assert isinstance(nc, FakeClient)
        assert fake.client_count() == 1
        assert nc.connected_url.netloc == "example.invalid:4222"
        await nc.close()
        assert fake.client_count() == 0
    assert nats.connect is original


async def test_patch_extra_targets() -> None:
    module = types.ModuleType("fake_target_mod")

    async def real_connect(*args: Any, **kwargs: Any) -> str:
        return "real"

    module.connect = real_connect  # type: ignore[attr-defined]
    sys.modules["fake_target_mod"] = module
    try:
        with patch_nats_connect(targets=("fake_target_mod.connect",)) as fake:
            nc = await module.connect("nats://x")
            assert isinstance(nc, FakeClient)
            assert fake.clients == [nc]
            await fake.close_all()
            assert nc.is_closed
        assert module.connect is real_connect
    finally:
        del sys.modules["fake_target_mod"]


async def test_connect_directly_without_patch() -> None:
    fake = FakeNats()
    nc = await fake.connect(["nats://a:1", "b"])
    assert [u.netloc for u in nc.servers] == ["a:1", "b:4222"]
    assert nc.discovered_servers == []
    assert fake.connect_count == 1
    await nc.close()


async def test_connect_error_simulates_unreachable_server() -> None:
    fake = FakeNats(connect_error=nats.errors.NoServersError())
    with pytest.raises(nats.errors.NoServersError):
        await fake.connect()


async def test_published_messages_and_payloads() -> None:
    with patch_nats_connect() as fake:
        nc = await nats.connect(name="producer")
        js = nc.jetstream()
        await js.add_stream(name="ORDERS", subjects=["orders.>"])
        await nc.publish("events.a", b"1", headers={"K": "v"})
        await nc.publish("events.b.c", b"2")
        await js.publish("orders.new", b"3")
        assert fake.payloads("events.*") == [b"1"]
        assert fake.payloads("events.>") == [b"1", b"2"]
        assert fake.messages("orders.new") == [
            PublishedMessage("orders.new", b"3", "", None, "producer", jetstream=True)
        ]
        assert fake.messages("events.a")[0].headers == {"K": "v"}
        assert len(fake.published) == 3
        await nc.close()


async def test_stream_bucket_and_subscription_inspection() -> None:
    with patch_nats_connect() as fake:
        nc = await nats.connect()
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["s"])
        await js.create_key_value(bucket="config")
        await js.create_object_store("files")
        await js.publish("s", b"x")
        assert fake.stream_names == ["KV_config", "OBJ_files", "S"]
        assert fake.kv_buckets == ["config"]
        assert fake.object_stores == ["files"]
        stream = fake.stream("S")
        assert isinstance(stream, FakeStream)
        assert [m.data for m in stream.live()] == [b"x"]
        with pytest.raises(KeyError, match="streams: "):
            fake.stream("NOPE")
        sub = await nc.subscribe("a.b")
        await nc.subscribe("a.*")
        assert fake.subscription_count() == 2
        assert fake.subscription_count("a.b") == 1
        await sub.unsubscribe()
        assert fake.subscription_count() == 1
        fake.reset()
        assert fake.stream_names == []
        assert fake.published == []
        await nc.close()
        assert fake.subscription_count() == 0


async def test_jetstream_disabled() -> None:
    fake = FakeNats(jetstream_enabled=False)
    nc = await fake.connect()
    js = nc.jetstream()
    with pytest.raises(nats.js.errors.ServiceUnavailableError):
        await js.account_info()
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await js.publish("x", b"")
    await nc.close()


async def test_custom_max_payload() -> None:
    fake = FakeNats(max_payload=8)
    nc = await fake.connect()
    assert nc.max_payload == 8
    with pytest.raises(nats.errors.MaxPayloadError):
        await nc.publish("x", b"123456789")
    with pytest.raises(nats.errors.MaxPayloadError):
        await nc.jetstream().publish("x", b"123456789")
    await nc.close()


async def test_client_stats_and_properties() -> None:
    fake = FakeNats()
    nc = await fake.connect(name="a")
    sub = await nc.subscribe("x")
    await nc.publish("x", b"abc")
    await sub.next_msg(timeout=1)
    assert nc.stats["out_msgs"] == 1
    assert nc.stats["in_bytes"] == 3
    assert nc.client_id == 1
    assert nc.is_connecting is False
    assert nc.last_error is None
    assert nc.pending_data_size == 0
    assert sub.subject == "x"
    assert sub.queue == ""
    assert sub.delivered == 1
    assert sub.is_active
    assert nc.jsm().__class__ is nc.jetstream().__class__
    await nc.close()
    assert nc.client_id is None
    assert not sub.is_active


async def test_draining_blocks_new_work() -> None:
    fake = FakeNats()
    nc = await fake.connect()
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(msg: Any) -> None:
        started.set()
        await release.wait()

    await nc.subscribe("x", cb=slow)
    await nc.publish("x", b"")
    await started.wait()
    drain = asyncio.create_task(nc.drain())
    await asyncio.sleep(0)
    assert nc.is_draining
    await nc.drain()  # a second drain while draining returns at once
    with pytest.raises(nats.errors.ConnectionDrainingError):
        await nc.subscribe("y")
    release.set()
    await drain
    assert nc.is_closed


async def test_iterator_subscription_ends_on_unsubscribe() -> None:
    fake = FakeNats()
    nc = await fake.connect()
    sub = await nc.subscribe("x")
    await nc.publish("x", b"1")
    await sub.unsubscribe()
    assert [m.data async for m in sub.messages] == [b"1"]
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(timeout=0.05)

    async def cb(msg: Any) -> None:
        return None

    cb_sub = await nc.subscribe("y", cb=cb)
    with pytest.raises(nats.errors.Error):
        _ = cb_sub.messages
    with pytest.raises(nats.errors.Error, match="coroutine"):
        await nc.subscribe("z", cb=lambda msg: None)  # type: ignore[arg-type, return-value]
    await nc.close()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await sub.unsubscribe()


async def test_pull_subscription_lifecycle() -> None:
    fake = FakeNats()
    nc = await fake.connect()
    js = nc.jetstream()
    await js.add_stream(name="S", subjects=["s"])
    sub = await js.pull_subscribe("s", durable="d")
    assert (sub.pending_msgs, sub.pending_bytes, sub.delivered) == (0, 0, 0)
    await js.publish("s", b"1")
    await sub.fetch(1, timeout=1)
    assert sub.delivered == 1
    await sub.unsubscribe()
    with pytest.raises(nats.errors.BadSubscriptionError):
        await sub.unsubscribe()
    with pytest.raises(nats.errors.BadSubscriptionError):
        await sub.fetch(1)
    with pytest.raises(ValueError, match="stream name"):
        await js.pull_subscribe_bind("d")
    with pytest.raises(ValueError, match="consumer name"):
        await js.pull_subscribe_bind(stream="S")
    await js.delete_stream("S")
    orphan = await js.pull_subscribe_bind("d", stream="S")
    with pytest.raises(nats.errors.TimeoutError):
        await orphan.fetch(1, timeout=0.05)
    await nc.close()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await orphan.unsubscribe()


async def test_object_store_digest_mismatch_and_bad_input() -> None:
    fake = FakeNats()
    nc = await fake.connect()
    obj = await nc.jetstream().create_object_store("o")
    await obj.put("a", b"data", meta=None)
    chunk = next(m for m in fake.stream("OBJ_o").live() if ".C." in m.subject)
    chunk.data = b"tampered"
    with pytest.raises(nats.js.errors.DigestMismatchError):
        await obj.get("a")
    with pytest.raises(TypeError, match="invalid type"):
        await obj.put("b", 12345)  # type: ignore[arg-type]
    text = io.TextIOWrapper(io.BytesIO(b"via text wrapper"))
    await obj.put("c", text)
    assert (await obj.get("c")).data == b"via text wrapper"
    from nats.js import api

    info = await obj.put("", b"named by meta", meta=api.ObjectMeta(name="d", description="desc"))
    assert (info.name, info.description) == ("d", "desc")
    await nc.close()


async def test_plugin_fixture_patches_nats_connect(fake_nats: Any) -> None:
    assert isinstance(fake_nats, FakeNats)
    nc = await nats.connect("nats://127.0.0.1:4222")
    sub = await nc.subscribe("greet.*")
    await nc.publish("greet.bob", b"hi")
    assert (await sub.next_msg(timeout=1)).data == b"hi"
    assert fake_nats.client_count() == 1
    await nc.close()


async def test_fake_md_example(fake_nats: Any) -> None:
    """The example in FAKE.md, verbatim."""
    nc = await nats.connect("nats://anything:4222")  # the fake: no server needed
    js = nc.jetstream()
    await js.add_stream(name="ORDERS", subjects=["orders.>"])
    ack = await js.publish("orders.new", b"{}", headers={"Nats-Msg-Id": "o-1"})
    dup = await js.publish("orders.new", b"{}", headers={"Nats-Msg-Id": "o-1"})
    assert (ack.seq, dup.seq, dup.duplicate) == (1, 1, True)

    kv = await js.create_key_value(bucket="config")
    await kv.put("mode", b"fast")
    with pytest.raises(nats.js.errors.BucketNotFoundError):
        await js.key_value("missing")

    assert fake_nats.payloads("orders.>") == [b"{}", b"{}"]  # what was published...
    assert len(fake_nats.stream("ORDERS").live()) == 1  # ...and what the stream kept
    await nc.close()
    assert fake_nats.client_count() == 0  # nothing left open
