"""Fake-only: what the fake does not support raises NotImplementedError naming the feature."""

from __future__ import annotations

from typing import Any

import nats
import pytest
from nats.js import api

from naq.testing.fake import FakeNats, patch_nats_connect, unsupported

pytestmark = pytest.mark.unit


@pytest.fixture
async def nc() -> Any:
    with patch_nats_connect():
        client = await nats.connect("nats://127.0.0.1:4222")
        yield client
        await client.close()


def test_unsupported_message_names_feature() -> None:
    with pytest.raises(NotImplementedError, match=r"naq.testing fake: teleport is not supported"):
        unsupported("teleport")


async def test_unknown_client_attribute(nc: Any) -> None:
    with pytest.raises(NotImplementedError, match=r"Client\.force_reconnect"):
        await nc.force_reconnect()
    with pytest.raises(NotImplementedError, match=r"Client\.set_server_pool"):
        nc.set_server_pool(["nats://other:4222"])


async def test_private_lookups_stay_attribute_errors(nc: Any) -> None:
    assert not hasattr(nc, "__fspath__")
    assert getattr(nc, "_reading_task", None) is None
    with pytest.raises(AttributeError, match="private attribute '_flusher_task'"):
        _ = nc._flusher_task
    assert repr(nc).startswith("<naq.testing fake nats client #")


async def test_nats_py_internals_naq_relies_on(nc: Any) -> None:
    js = nc.jetstream()
    assert js._nc is nc
    assert nc._server_info["jetstream"] is True
    assert nc._server_info["client_id"] == nc.client_id
    assert nc.connected_server_version.major == 2
    nc._status = 2  # what naq core's abandon() does: nats-py's CLOSED
    assert nc.is_closed


async def test_unknown_jetstream_attribute(nc: Any) -> None:
    js = nc.jetstream()
    with pytest.raises(NotImplementedError, match=r"JetStreamContext\.subscribe"):
        await js.subscribe("x")
    with pytest.raises(NotImplementedError, match="domains"):
        nc.jetstream(domain="hub")


async def test_unsupported_kv_and_object_features(nc: Any) -> None:
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="b")
    with pytest.raises(NotImplementedError, match=r"KeyValue\.watch"):
        await kv.watch("k")
    with pytest.raises(NotImplementedError, match="limit_marker_ttl"):
        await js.create_key_value(bucket="c", limit_marker_ttl=5)
    with pytest.raises(NotImplementedError, match="per-message TTL"):
        await kv.create("k", b"v", msg_ttl=5)
    obj = await js.create_object_store("o")
    with pytest.raises(NotImplementedError, match=r"ObjectStore\.seal"):
        await obj.seal()


async def test_unsupported_subscription_features(nc: Any) -> None:
    sub = await nc.subscribe("a")
    with pytest.raises(NotImplementedError, match=r"Subscription\.pending_bytes"):
        _ = sub.pending_bytes
    with pytest.raises(NotImplementedError, match="future"):
        await nc.subscribe("a", future=object())


async def test_unsupported_consumer_features(nc: Any) -> None:
    js = nc.jetstream()
    await js.add_stream(name="S", subjects=["s.>"])
    with pytest.raises(NotImplementedError, match="push consumers"):
        await js.add_consumer("S", durable_name="p", deliver_subject="deliver.here")
    config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT)
    with pytest.raises(NotImplementedError, match="deliver_policy"):
        await js.pull_subscribe("s.x", durable="d", config=config)
    sub = await js.pull_subscribe("s.x", durable="ok")
    with pytest.raises(NotImplementedError, match=r"PullSubscription\.fetch_batch"):
        await sub.fetch_batch()


async def test_unsupported_stream_features(nc: Any) -> None:
    js = nc.jetstream()
    with pytest.raises(NotImplementedError, match="stream sources"):
        await js.add_stream(name="S", subjects=["s"], sources=[api.StreamSource(name="other")])
    with pytest.raises(NotImplementedError, match=r"raw JetStream API request"):
        await nc.request("$JS.API.INFO", b"")


async def test_msg_ttl_disabled_stream_is_an_api_error(nc: Any) -> None:
    import nats.js.errors

    js = nc.jetstream()
    await js.add_stream(name="S", subjects=["s"])
    with pytest.raises(nats.js.errors.BadRequestError):
        await js.publish("s", b"x", msg_ttl=3)


def test_fake_nats_is_independent_per_patch() -> None:
    first = FakeNats()
    with patch_nats_connect(first) as yielded:
        assert yielded is first
    with patch_nats_connect() as second:
        assert second is not first
