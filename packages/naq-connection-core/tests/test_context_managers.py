"""Wiring of naq.connection.context_managers, with ``nats`` / ``get_config`` patched (no server).

The patch points are the module attributes users patch: ``context_managers.nats`` (a MagicMock whose
``connect`` is an AsyncMock) and ``context_managers.get_config``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import nats
import nats.errors
import nats.js.errors
import pytest

from naq.connection import context_managers as cm
from naq.connection import events
from naq.connection.config import Config, NatsConfig
from naq.connection.errors import NaqBucketNotFoundError, NaqConfigError, NaqConnectionError, is_transient
from naq.connection.events import ConnectionEventKind as Kind
from naq.connection.pool import ConnectionPool

pytestmark = pytest.mark.unit

SERVER = "nats://127.0.0.1:4999"

EXPECTED_KEYWORDS = {
    "servers",
    "name",
    "connect_timeout",
    "reconnect_time_wait",
    "max_reconnect_attempts",
    "ping_interval",
    "max_outstanding_pings",
    "allow_reconnect",
    "drain_timeout",
    "flush_timeout",
    "user",
    "password",
    "token",
    "user_credentials",
    "nkeys_seed",
    "tls",
    "tls_hostname",
    "tls_handshake_first",
    "error_cb",
    "disconnected_cb",
    "reconnected_cb",
    "closed_cb",
}


def make_conn() -> MagicMock:
    conn = MagicMock(name="conn")
    conn.is_closed = False
    conn.is_connected = True
    conn.close = AsyncMock(name="close")
    conn.drain = AsyncMock(name="drain")
    conn.connected_url = None
    js = MagicMock(name="js")
    js.key_value = AsyncMock(name="key_value", return_value="KV")
    js.create_key_value = AsyncMock(name="create_key_value", return_value="KV-created")
    js.object_store = AsyncMock(name="object_store", return_value="OBJ")
    js.create_object_store = AsyncMock(name="create_object_store", return_value="OBJ-created")
    conn.jetstream = MagicMock(name="jetstream", return_value=js)
    return conn


@pytest.fixture
def conn() -> MagicMock:
    return make_conn()


@pytest.fixture
def fake_nats(monkeypatch: pytest.MonkeyPatch, conn: MagicMock) -> MagicMock:
    """``nats.connect`` replaced (the documented seam): an AsyncMock returning ``conn``."""
    module = MagicMock(name="nats")
    module.connect = AsyncMock(name="connect", return_value=conn)
    monkeypatch.setattr(nats, "connect", module.connect)
    return module


@pytest.fixture
def config() -> NatsConfig:
    return NatsConfig(
        servers=SERVER,
        client_name="wiring",
        max_reconnect_attempts=7,
        reconnect_time_wait=0.25,
        connection_timeout=3.0,
        drain_timeout=4.0,
        flush_timeout=1.5,
        ping_interval=30.0,
        max_outstanding_pings=4,
        allow_reconnect=False,
    )


@pytest.fixture
def global_config(monkeypatch: pytest.MonkeyPatch, config: NatsConfig) -> MagicMock:
    """``context_managers.get_config`` patched to return ``Config(config)``."""
    getter = MagicMock(name="get_config", return_value=Config(config))
    monkeypatch.setattr(cm, "get_config", getter)
    return getter


def connect_kwargs(fake_nats: MagicMock) -> dict[str, Any]:
    fake_nats.connect.assert_awaited_once()
    args, kwargs = fake_nats.connect.call_args
    assert args == ()
    return dict(kwargs)


# ----------------------------------------------------------------------------- nats.connect keywords


async def test_connect_gets_the_config_mapped_onto_nats_py_keywords(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    async with cm.nats_connection(config) as nc:
        assert nc is conn
    kwargs = connect_kwargs(fake_nats)
    assert set(kwargs) == EXPECTED_KEYWORDS
    assert "connection_timeout" not in kwargs  # nats-py's keyword is connect_timeout
    values = {k: v for k, v in kwargs.items() if not k.endswith("_cb")}
    assert values == {
        "servers": [SERVER],
        "name": "wiring",
        "connect_timeout": 3.0,
        "reconnect_time_wait": 0.25,
        "max_reconnect_attempts": 7,
        "ping_interval": 30.0,
        "max_outstanding_pings": 4,
        "allow_reconnect": False,
        "drain_timeout": 4.0,
        "flush_timeout": 1.5,
        "user": None,
        "password": None,
        "token": None,
        "user_credentials": None,
        "nkeys_seed": None,
        "tls": None,
        "tls_hostname": None,
        "tls_handshake_first": False,
    }
    for name in ("error_cb", "disconnected_cb", "reconnected_cb", "closed_cb"):
        assert inspect.iscoroutinefunction(kwargs[name]), name  # nats-py rejects sync callbacks


def test_every_keyword_exists_in_the_installed_nats_py() -> None:
    accepted = set(inspect.signature(nats.aio.client.Client.connect).parameters)
    assert accepted >= EXPECTED_KEYWORDS


async def test_auth_and_file_fields_map_to_nats_py_names(fake_nats: MagicMock, tmp_path: Any) -> None:
    creds = tmp_path / "user.creds"
    creds.write_text("creds")
    cfg = NatsConfig(servers=SERVER, user="alice", password="s3cret", creds_file=str(creds))
    async with cm.nats_connection(cfg):
        pass
    kwargs = connect_kwargs(fake_nats)
    assert (kwargs["user"], kwargs["password"], kwargs["user_credentials"]) == ("alice", "s3cret", str(creds))


async def test_tls_config_becomes_an_ssl_context(fake_nats: MagicMock) -> None:
    import ssl

    cfg = NatsConfig(servers="tls://127.0.0.1:4443", tls={"enabled": True, "handshake_first": True})
    async with cm.nats_connection(cfg):
        pass
    kwargs = connect_kwargs(fake_nats)
    assert isinstance(kwargs["tls"], ssl.SSLContext)
    assert kwargs["tls"].verify_mode == ssl.CERT_REQUIRED
    assert kwargs["tls_handshake_first"] is True


async def test_no_config_uses_get_config_looked_up_at_call_time(
    fake_nats: MagicMock, global_config: MagicMock
) -> None:
    context = cm.nats_connection()
    global_config.assert_not_called()  # resolved on enter, not when the object is built
    async with context:
        pass
    global_config.assert_called()
    assert connect_kwargs(fake_nats)["name"] == "wiring"


async def test_config_object_uses_its_nats_section(fake_nats: MagicMock, config: NatsConfig) -> None:
    async with cm.nats_connection(Config(config)):
        pass
    assert connect_kwargs(fake_nats)["max_reconnect_attempts"] == 7


async def test_url_string_is_applied_over_the_global_config(
    fake_nats: MagicMock, global_config: MagicMock
) -> None:
    async with cm.nats_connection("nats://10.0.0.1:4222,nats://10.0.0.2:4223"):
        pass
    kwargs = connect_kwargs(fake_nats)
    assert kwargs["servers"] == ["nats://10.0.0.1:4222", "nats://10.0.0.2:4223"]
    assert kwargs["name"] == "wiring"  # everything else from get_config().nats


async def test_url_string_resolution_is_cached_but_follows_the_global_config(
    monkeypatch: pytest.MonkeyPatch, fake_nats: MagicMock, config: NatsConfig
) -> None:
    monkeypatch.setattr(cm, "get_config", lambda: Config(config))
    first = cm._resolve("nats://10.0.0.9:4222")
    assert first is cm._resolve("nats://10.0.0.9:4222")
    other = config.replace(client_name="other")
    monkeypatch.setattr(cm, "get_config", lambda: Config(other))
    assert cm._resolve("nats://10.0.0.9:4222").client_name == "other"


@pytest.mark.parametrize("bad", [42, b"nats://x", ["nats://x"]])
def test_bad_config_type_is_a_type_error_naming_the_accepted_types(bad: Any) -> None:
    with pytest.raises(TypeError, match="config must be a Config, a NatsConfig, a server URL string") as info:
        cm._resolve(bad)
    assert not isinstance(info.value, NaqConnectionError)  # a wrong type, not a bad config value
    assert type(bad).__name__ in str(info.value)


@pytest.mark.parametrize(
    "enter",
    [
        pytest.param(lambda: cm.nats_connection(42), id="nats_connection"),  # type: ignore[arg-type]
        pytest.param(lambda: cm.nats_jetstream(42), id="nats_jetstream"),  # type: ignore[arg-type]
        pytest.param(lambda: cm.nats_kv_store("b", 42), id="nats_kv_store"),  # type: ignore[arg-type]
        pytest.param(lambda: cm.nats_object_store("b", 42), id="nats_object_store"),  # type: ignore[arg-type]
    ],
)
async def test_every_entry_point_rejects_a_wrong_config_type_alike(fake_nats: MagicMock, enter: Any) -> None:
    from naq.connection import ConnectionPool, resolve_nats_config

    with pytest.raises(TypeError) as from_resolve:
        resolve_nats_config(42)  # type: ignore[arg-type]
    expected = str(from_resolve.value)
    with pytest.raises(TypeError) as from_pool:
        ConnectionPool(42)  # type: ignore[arg-type]
    assert str(from_pool.value) == expected
    with pytest.raises(TypeError) as from_cm:
        async with enter():
            pass
    assert str(from_cm.value) == expected  # one message (one helper) everywhere
    fake_nats.connect.assert_not_called()


def test_config_and_pool_together_are_rejected() -> None:
    with pytest.raises(NaqConfigError, match="either config= or pool="):
        cm.nats_connection(SERVER, pool=MagicMock())


# ----------------------------------------------------------------------------- closing


async def test_normal_exit_closes_once(fake_nats: MagicMock, config: NatsConfig, conn: MagicMock) -> None:
    async with cm.nats_connection(config):
        conn.close.assert_not_awaited()
    conn.close.assert_awaited_once_with()
    conn.drain.assert_not_awaited()  # plain close by default


async def test_body_exception_is_reraised_unchanged_and_the_connection_closed(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    class BodyError(Exception):
        pass

    error = BodyError("boom")
    with pytest.raises(BodyError) as caught:
        async with cm.nats_connection(config):
            raise error
    assert caught.value is error
    assert error.__context__ is None  # nothing of ours was chained onto it
    conn.close.assert_awaited_once()


async def test_cancellation_in_the_body_closes_and_propagates(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    entered = asyncio.Event()

    async def body() -> None:
        async with cm.nats_connection(config):
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.ensure_future(body())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    conn.close.assert_awaited_once()


async def test_cancellation_during_close_still_tears_down_and_propagates(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock, events_log: list[Any]
) -> None:
    closing = asyncio.Event()
    close_cancelled = asyncio.Event()

    async def slow_close() -> None:
        closing.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            close_cancelled.set()
            raise

    conn.close = AsyncMock(side_effect=slow_close)

    async def body() -> None:
        async with cm.nats_connection(config):
            pass

    task = asyncio.ensure_future(body())
    await closing.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(close_cancelled.wait(), 5)  # the close in progress was given up, not left running
    assert [e.kind for e in events_log].count(Kind.CLOSED) == 1


@pytest.mark.parametrize(
    "failure",
    [nats.errors.ConnectionClosedError(), asyncio.CancelledError(), RuntimeError("odd")],
    ids=["closed", "cancelled-by-nats-py", "other"],
)
async def test_a_failing_close_is_swallowed_and_reported_closed_once(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock, events_log: list[Any], failure: BaseException
) -> None:
    # nats-py raises CancelledError from close() itself when closed mid-reconnect: a failed close,
    # not a cancellation of the caller (the caller goes on)
    conn.close = AsyncMock(side_effect=failure)
    async with cm.nats_connection(config):
        pass
    conn.close.assert_awaited_once()
    assert [e.kind for e in events_log].count(Kind.CLOSED) == 1
    await asyncio.sleep(0)  # still running: not cancelled


async def test_overdue_close_is_given_up_after_the_timeout(conn: MagicMock) -> None:
    close_cancelled = asyncio.Event()

    async def close_that_never_ends() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            close_cancelled.set()
            raise

    conn.close = AsyncMock(side_effect=close_that_never_ends)
    await asyncio.wait_for(cm.close_connection(conn, timeout=0.1), 10)  # bounded: does not hang
    await asyncio.wait_for(close_cancelled.wait(), 5)


async def test_close_within_the_timeout_is_not_cancelled(conn: MagicMock) -> None:
    finished = asyncio.Event()

    async def quick_close() -> None:
        await asyncio.sleep(0)
        finished.set()

    conn.close = AsyncMock(side_effect=quick_close)
    await cm.close_connection(conn, timeout=30)
    assert finished.is_set()


async def test_close_of_an_already_closed_connection_is_a_no_op(conn: MagicMock) -> None:
    conn.is_closed = True
    await cm.close_connection(conn)
    conn.close.assert_not_awaited()


async def test_drain_is_used_only_when_asked(conn: MagicMock) -> None:
    await cm.close_connection(conn, drain=True)
    conn.drain.assert_awaited_once()
    conn.close.assert_not_awaited()


async def test_drain_of_a_reconnecting_connection_falls_back_to_close(conn: MagicMock) -> None:
    conn.is_connected = False
    await cm.close_connection(conn, drain=True)
    conn.drain.assert_not_awaited()
    conn.close.assert_awaited_once()


async def test_close_timeouts_come_from_the_connection_config(fake_nats: MagicMock, conn: MagicMock) -> None:
    async def hang() -> None:
        await asyncio.sleep(3600)

    conn.close = AsyncMock(side_effect=hang)
    conn.drain = AsyncMock(side_effect=hang)
    short = NatsConfig(servers=SERVER, flush_timeout=0.1, reconnect_time_wait=0.1, drain_timeout=0.2)
    nc = await cm.open_connection(short)
    # far below the 10 s bound of connections core did not open: the config's bound applies
    await asyncio.wait_for(cm.close_connection(nc), 8)
    conn.is_closed = False
    nc = await cm.open_connection(short)
    await asyncio.wait_for(cm.close_connection(nc, drain=True), 8)  # drain_timeout + flush_timeout
    conn.drain.assert_awaited_once()


async def test_a_connection_core_did_not_open_gets_a_longer_default_bound(conn: MagicMock) -> None:
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.sleep(3600)

    conn.close = AsyncMock(side_effect=hang)
    closing = asyncio.ensure_future(cm.close_connection(conn))
    await started.wait()
    await asyncio.sleep(0.3)
    assert not closing.done()  # still waiting: the default bound is seconds, not the config's
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing


# ----------------------------------------------------------------------------- connect failures


async def test_connect_failure_raises_naq_error_naming_redacted_servers(fake_nats: MagicMock) -> None:
    failure = nats.errors.NoServersError()
    fake_nats.connect.side_effect = failure
    cfg = NatsConfig(servers="nats://alice:hunter2@127.0.0.1:4999", connection_timeout=1.0)
    with pytest.raises(NaqConnectionError) as caught:
        async with cm.nats_connection(cfg):
            pytest.fail("body must not run")
    message = str(caught.value)
    assert "hunter2" not in message
    assert "nats://alice:***@127.0.0.1:4999" in message
    assert caught.value.__cause__ is failure
    assert caught.value.servers == ("nats://alice:***@127.0.0.1:4999",)


async def test_a_hanging_patched_connect_is_cut_at_the_deadline(fake_nats: MagicMock) -> None:
    async def hang(**_: Any) -> None:
        await asyncio.sleep(60)

    fake_nats.connect.side_effect = hang
    cfg = NatsConfig(servers=SERVER, connection_timeout=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(NaqConnectionError, match=r"timed out after 0\.2 s") as caught:
        await cm.open_connection(cfg)
    assert loop.time() - started < 0.2 + 5  # generous: only "does not hang"
    assert "no NATS handshake in time" in str(caught.value)


async def test_a_connect_cut_at_the_deadline_chains_the_timeout(fake_nats: MagicMock) -> None:
    async def hang(**_: Any) -> None:
        await asyncio.sleep(60)

    fake_nats.connect.side_effect = hang
    with pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(NatsConfig(servers=SERVER, connection_timeout=0.2))
    assert isinstance(caught.value.__cause__, asyncio.TimeoutError)
    assert is_transient(caught.value)


async def test_cancelled_connect_propagates_cancellation_and_reports_failure(
    fake_nats: MagicMock, events_log: list[Any]
) -> None:
    started = asyncio.Event()

    async def hang(**_: Any) -> None:
        started.set()
        await asyncio.sleep(60)

    fake_nats.connect.side_effect = hang
    task = asyncio.ensure_future(cm.open_connection(NatsConfig(servers=SERVER)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [e.kind for e in events_log] == [Kind.CONNECTING, Kind.CONNECT_FAILED]
    assert isinstance(events_log[-1].error, asyncio.CancelledError)


@pytest.mark.parametrize(
    ("cause", "hint"),
    [
        (nats.errors.Error("nats: 'Authorization Violation'"), "rejected the credentials"),
        (nats.errors.AuthorizationError(), "rejected the credentials"),
        (ConnectionRefusedError(111, "Connect call failed"), "is nats-server running"),
        (asyncio.TimeoutError(), "no NATS handshake in time"),
        (OSError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "TLS handshake failed"),
        (RuntimeError("odd"), ""),
    ],
)
async def test_connect_failure_hints(fake_nats: MagicMock, cause: BaseException, hint: str) -> None:
    fake_nats.connect.side_effect = cause
    with pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(NatsConfig(servers=SERVER))
    text = str(caught.value)
    assert (hint in text) if hint else text.endswith(")")
    assert caught.value.__cause__ is cause


async def test_ssl_config_errors_are_not_wrapped_as_connect_failures(
    fake_nats: MagicMock, tmp_path: Any
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    cfg = NatsConfig(servers="tls://127.0.0.1:4443", tls={"ca_file": str(ca)})
    with pytest.raises(NaqConfigError, match=r"tls\.ca_file"):
        await cm.open_connection(cfg)
    fake_nats.connect.assert_not_awaited()


# ----------------------------------------------------------------------------- events and callbacks


async def test_events_in_order_with_one_connection_id(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock, events_log: list[Any]
) -> None:
    async with cm.nats_connection(config) as nc:
        cid = cm.connection_id(nc)
    kinds = [e.kind for e in events_log]
    assert kinds == [Kind.CONNECTING, Kind.CONNECTED, Kind.CLOSED]
    assert {e.connection_id for e in events_log} == {cid}
    assert all(e.client_name == "wiring" and e.pooled is False for e in events_log)
    assert events_log[1].duration is not None
    assert events_log[1].duration >= 0
    assert events_log[2].duration is not None
    assert events_log[2].duration >= 0


async def test_closed_is_emitted_once_whoever_closes(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock, events_log: list[Any]
) -> None:
    nc = await cm.open_connection(config, pooled=True)
    callbacks = connect_kwargs(fake_nats)
    await callbacks["closed_cb"]()  # nats-py closed it (reconnects exhausted) ...
    conn.is_closed = True
    await cm.close_connection(nc)  # ... and we close it again
    await cm.close_connection(nc)
    closed = [e for e in events_log if e.kind is Kind.CLOSED]
    assert len(closed) == 1
    assert closed[0].pooled is True


async def test_connection_ids_are_unique(fake_nats: MagicMock, config: NatsConfig) -> None:
    fake_nats.connect.side_effect = lambda **_: make_conn()
    first = await cm.open_connection(config)
    second = await cm.open_connection(config)
    assert cm.connection_id(first) != cm.connection_id(second)
    foreign = object()
    assert cm.connection_id(foreign) == id(foreign)


async def test_no_events_are_built_without_listeners(
    fake_nats: MagicMock, config: NatsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Any] = []
    monkeypatch.setattr(events, "emit", built.append)
    async with cm.nats_connection(config):
        pass
    assert built == []


async def test_lifecycle_callbacks_emit_events_and_log_one_line_each(
    fake_nats: MagicMock,
    config: NatsConfig,
    conn: MagicMock,
    events_log: list[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from urllib.parse import urlparse

    nc = await cm.open_connection(config)
    callbacks = connect_kwargs(fake_nats)
    conn.connected_url = urlparse("nats://bob:pw-123@127.0.0.1:4999")
    events_log.clear()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="naq.connection"):
        await callbacks["disconnected_cb"]()
        await callbacks["disconnected_cb"]()  # again from the close after giving up: not reported twice
        await callbacks["reconnected_cb"]()
        await callbacks["error_cb"](nats.errors.SlowConsumerError(subject="s", reply="", sid=1, sub=None))
    assert [e.kind for e in events_log] == [Kind.DISCONNECTED, Kind.RECONNECTED, Kind.ERROR]
    assert all(e.server == "nats://bob:***@127.0.0.1:4999" for e in events_log)
    assert len(caplog.records) == 3
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO, logging.WARNING]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in caplog.records)
    assert "pw-123" not in caplog.text
    assert "reconnecting up to 7 times" not in caplog.text  # allow_reconnect is off in this config
    assert "not reconnecting" in caplog.records[0].getMessage()
    await cm.close_connection(nc)


def slow_consumer(n: int = 0) -> nats.errors.SlowConsumerError:
    return nats.errors.SlowConsumerError(subject=f"jobs.{n}", reply="", sid=1, sub=None)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_error_flood_logs_one_line_then_a_summary(
    fake_nats: MagicMock,
    config: NatsConfig,
    events_log: list[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    nc = await cm.open_connection(config)
    error_cb = connect_kwargs(fake_nats)["error_cb"]
    events_log.clear()
    with caplog.at_level(logging.DEBUG, logger="naq.connection"):
        for n in range(100):  # nats-py reports a slow consumer once per dropped message
            await error_cb(slow_consumer(n))
        lines = warnings_of(caplog)
        assert len(lines) == 1  # the first at once, the 99 repeats only counted
        assert "error: SlowConsumerError" in lines[0]
        await error_cb(RuntimeError("permissions violation"))  # another error type: not held back
        assert len(warnings_of(caplog)) == 2
        await cm.close_connection(nc)  # close flushes the pending summary
        lines = warnings_of(caplog)
        assert len(lines) == 3
        assert "error repeated 99 time(s) in the last" in lines[2]
        assert "SlowConsumerError" in lines[2]
        assert "jobs.99" in lines[2]  # the latest one described
    assert all("\n" not in line for line in lines)
    # events stay one per error: 100 + 1
    assert [e.kind for e in events_log].count(Kind.ERROR) == 101


async def test_suppressed_errors_build_no_event_without_listeners(
    fake_nats: MagicMock,
    config: NatsConfig,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nc = await cm.open_connection(config)
    error_cb = connect_kwargs(fake_nats)["error_cb"]
    built: list[Any] = []
    monkeypatch.setattr(events, "emit", built.append)
    with caplog.at_level(logging.WARNING, logger="naq.connection"):
        for n in range(50):
            await error_cb(slow_consumer(n))
        await cm.close_connection(nc)
    assert built == []  # no listener: no ERROR event built
    assert len(warnings_of(caplog)) == 2  # the first line and the summary


async def test_error_callback_redacts_secrets_and_never_prints_a_traceback(
    fake_nats: MagicMock, caplog: pytest.LogCaptureFixture, events_log: list[Any]
) -> None:
    cfg = NatsConfig(servers=SERVER, user="alice", password="hunter2-secret")
    await cm.open_connection(cfg)
    error_cb = connect_kwargs(fake_nats)["error_cb"]
    with caplog.at_level(logging.DEBUG, logger="naq.connection"):
        await error_cb(RuntimeError("boom for nats://alice:hunter2-secret@h and hunter2-secret\nline2"))
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.exc_info is None
    assert "hunter2-secret" not in record.getMessage()
    assert "\n" not in record.getMessage()
    assert "hunter2-secret" not in (events_log[-1].error_message or "")


async def test_callbacks_never_raise_even_when_logging_and_listeners_break(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[str] = []

    def broken_filter(record: logging.LogRecord) -> bool:
        tried.append(record.levelname)
        raise RuntimeError("logging is broken")

    core_logger = logging.getLogger("naq.connection")
    monkeypatch.setattr(core_logger, "level", logging.DEBUG)
    core_logger.addFilter(broken_filter)
    try:
        nc = await cm.open_connection(config)
        monkeypatch.setattr(events, "emit", MagicMock(side_effect=RuntimeError("listener bus broken")))
        monkeypatch.setattr(events, "has_listeners", lambda: True)
        type(conn).connected_url = property(lambda self: (_ for _ in ()).throw(RuntimeError("no url")))
        callbacks = connect_kwargs(fake_nats)
        await callbacks["error_cb"](RuntimeError("x"))
        await callbacks["error_cb"](RuntimeError("y"))
        await callbacks["disconnected_cb"]()
        await callbacks["reconnected_cb"]()
        await callbacks["closed_cb"]()
        await cm.close_connection(nc)
    finally:
        core_logger.removeFilter(broken_filter)
    assert "WARNING" in tried  # they did try to log


async def test_errors_during_the_connect_walk_are_debug_lines_and_become_the_cause(
    fake_nats: MagicMock, caplog: pytest.LogCaptureFixture, events_log: list[Any]
) -> None:
    refused = ConnectionRefusedError(111, "Connect call failed")

    async def failing_connect(**kwargs: Any) -> None:
        await kwargs["error_cb"](refused)
        await kwargs["error_cb"](refused)
        raise nats.errors.NoServersError

    fake_nats.connect.side_effect = failing_connect
    with caplog.at_level(logging.DEBUG, logger="naq.connection"), pytest.raises(NaqConnectionError) as caught:
        await cm.open_connection(NatsConfig(servers=SERVER))
    assert caught.value.__cause__ is refused  # the real reason, not the generic NoServersError
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.DEBUG, logging.INFO]
    assert [e.kind for e in events_log] == [Kind.CONNECTING, Kind.CONNECT_FAILED]
    assert events_log[-1].error is refused
    assert "ConnectionRefusedError" in (events_log[-1].error_message or "")


# ----------------------------------------------------------------------------- JetStream and buckets


async def test_jetstream_context_yields_conn_jetstream_with_options(conn: MagicMock) -> None:
    async with cm.jetstream_context(conn, domain="hub", timeout=2.0) as js:
        assert js is conn.jetstream.return_value
    conn.jetstream.assert_called_once_with(domain="hub", timeout=2.0)
    conn.close.assert_not_awaited()  # the connection is the caller's


async def test_nats_jetstream_yields_conn_and_js_and_closes(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    async with cm.nats_jetstream(config, domain="hub") as (nc, js):
        assert nc is conn
        assert js is conn.jetstream.return_value
    conn.jetstream.assert_called_once_with(domain="hub")
    conn.close.assert_awaited_once()


async def test_nats_jetstream_closes_when_jetstream_fails(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    conn.jetstream.side_effect = TypeError("bad option")
    with pytest.raises(TypeError, match="bad option"):
        async with cm.nats_jetstream(config, bogus=1):
            pytest.fail("body must not run")
    conn.close.assert_awaited_once()


async def test_kv_store_without_config_passes_the_bucket_alone(
    fake_nats: MagicMock, global_config: MagicMock, conn: MagicMock
) -> None:
    async with cm.nats_kv_store("orders") as kv:
        assert kv == "KV"
    js = conn.jetstream.return_value
    conn.jetstream.assert_called_once_with()
    js.key_value.assert_awaited_once_with("orders")
    js.create_key_value.assert_not_awaited()
    conn.close.assert_awaited_once()


async def test_missing_kv_bucket_is_a_clear_error_and_closes(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    js = conn.jetstream.return_value
    missing = nats.js.errors.BucketNotFoundError()
    js.key_value.side_effect = missing
    with pytest.raises(NaqBucketNotFoundError) as caught:
        async with cm.nats_kv_store("orders", config):
            pytest.fail("body must not run")
    assert caught.value.bucket == "orders"
    assert "'orders'" in str(caught.value)
    assert "create=True" in str(caught.value)
    assert caught.value.__cause__ is missing
    js.create_key_value.assert_not_awaited()
    conn.close.assert_awaited_once()


async def test_create_true_creates_a_missing_kv_bucket_with_options(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    js = conn.jetstream.return_value
    js.key_value.side_effect = nats.js.errors.BucketNotFoundError()
    async with cm.nats_kv_store("orders", config, create=True, history=5) as kv:
        assert kv == "KV-created"
    js.create_key_value.assert_awaited_once_with(bucket="orders", history=5)


async def test_create_true_uses_an_existing_bucket_as_is(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    js = conn.jetstream.return_value
    async with cm.nats_kv_store("orders", config, create=True) as kv:
        assert kv == "KV"
    js.create_key_value.assert_not_awaited()


async def test_bucket_created_concurrently_with_other_settings_is_used(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    js = conn.jetstream.return_value
    js.key_value.side_effect = [nats.js.errors.BucketNotFoundError(), "KV-theirs"]
    js.create_key_value.side_effect = nats.js.errors.BadRequestError(err_code=10058)
    async with cm.nats_kv_store("orders", config, create=True, history=3) as kv:
        assert kv == "KV-theirs"


async def test_other_bad_requests_propagate_and_close(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock
) -> None:
    js = conn.jetstream.return_value
    js.key_value.side_effect = nats.js.errors.BucketNotFoundError()
    rejected = nats.js.errors.BadRequestError(err_code=10052)
    js.create_key_value.side_effect = rejected
    with pytest.raises(nats.js.errors.BadRequestError) as caught:
        async with cm.nats_kv_store("orders", config, create=True, history=3):
            pass
    assert caught.value is rejected
    conn.close.assert_awaited_once()


@pytest.mark.parametrize("create", [False, True])
async def test_jetstream_disabled_is_a_clear_connection_error(
    fake_nats: MagicMock, config: NatsConfig, conn: MagicMock, create: bool
) -> None:
    js = conn.jetstream.return_value
    unavailable = nats.js.errors.ServiceUnavailableError()
    js.key_value.side_effect = nats.js.errors.BucketNotFoundError()
    js.create_key_value.side_effect = unavailable
    if not create:
        js.key_value.side_effect = unavailable
    with pytest.raises(NaqConnectionError, match="JetStream is not available") as caught:
        async with cm.nats_kv_store("orders", config, create=create):
            pass
    assert caught.value.__cause__ is unavailable
    assert SERVER in str(caught.value)
    conn.close.assert_awaited_once()


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "a*", "orders\n", "ünï"])
@pytest.mark.parametrize("factory", [cm.nats_kv_store, cm.nats_object_store])
def test_invalid_bucket_names_fail_before_connecting(fake_nats: MagicMock, factory: Any, bad: Any) -> None:
    with pytest.raises(NaqConfigError, match="bucket name") as caught:
        factory(bad)
    assert caught.value.field == "bucket"
    fake_nats.connect.assert_not_called()


@pytest.mark.parametrize("bad", [5, None, b"orders"])
@pytest.mark.parametrize("factory", [cm.nats_kv_store, cm.nats_object_store])
def test_bucket_name_of_the_wrong_type_is_a_type_error(fake_nats: MagicMock, factory: Any, bad: Any) -> None:
    with pytest.raises(TypeError, match=r"bucket name must be a str, got") as caught:
        factory(bad)
    assert not isinstance(caught.value, NaqConnectionError)
    fake_nats.connect.assert_not_called()


def test_bucket_options_without_create_are_rejected() -> None:
    with pytest.raises(NaqConfigError, match="only apply when the bucket is created"):
        cm.nats_kv_store("orders", history=5)


async def test_object_store_lookup_create_and_missing(
    fake_nats: MagicMock, global_config: MagicMock, conn: MagicMock
) -> None:
    js = conn.jetstream.return_value
    async with cm.nats_object_store("files") as store:
        assert store == "OBJ"
    js.object_store.assert_awaited_once_with("files")
    js.object_store.side_effect = nats.js.errors.BucketNotFoundError()
    with pytest.raises(NaqBucketNotFoundError, match="object-store bucket 'files'"):
        async with cm.nats_object_store("files"):
            pass
    async with cm.nats_object_store("files", create=True, max_bytes=1024) as store:
        assert store == "OBJ-created"
    js.create_object_store.assert_awaited_once_with(bucket="files", max_bytes=1024)
    js.object_store.side_effect = [nats.js.errors.BucketNotFoundError(), "OBJ-theirs"]
    js.create_object_store.side_effect = nats.js.errors.BadRequestError(err_code=10058)
    async with cm.nats_object_store("files", create=True) as store:
        assert store == "OBJ-theirs"
    assert conn.close.await_count == 4


# ----------------------------------------------------------------------------- pools


POOL_SERVER = "nats://carol:pool-secret@127.0.0.1:4888"


@pytest.fixture
async def pool(fake_nats: MagicMock) -> Any:
    """A real ConnectionPool whose connections come from the replaced ``nats.connect``."""
    async with ConnectionPool(NatsConfig(POOL_SERVER)) as real:
        yield real


async def test_pool_is_borrowed_from_and_never_closed(
    fake_nats: MagicMock, pool: ConnectionPool, conn: MagicMock
) -> None:
    js = conn.jetstream.return_value
    async with cm.nats_connection(pool=pool) as nc:
        assert nc is conn
        assert pool.stats().lent == 1
    async with cm.nats_jetstream(pool=pool, domain="d") as (nc, js_):
        assert (nc, js_) == (conn, js)
    conn.jetstream.assert_called_with(domain="d")
    js.key_value.side_effect = nats.js.errors.BucketNotFoundError()
    async with cm.nats_kv_store("b", pool=pool, create=True, history=2) as kv:
        assert kv == "KV-created"
    js.create_key_value.assert_awaited_once_with(bucket="b", history=2)
    stores: list[Any] = []

    async def use_object_store() -> None:
        async with cm.nats_object_store("o", pool=pool) as store:
            stores.append(store)
            raise KeyError("body")

    with pytest.raises(KeyError):
        await use_object_store()
    assert stores == ["OBJ"]
    stats = pool.stats()
    assert (stats.borrows, stats.lent, stats.connections_opened) == (4, 0, 1)
    fake_nats.connect.assert_awaited_once()  # one connection, shared
    conn.close.assert_not_awaited()


async def test_pool_jetstream_unavailable_is_translated_naming_the_pools_servers(
    pool: ConnectionPool, conn: MagicMock
) -> None:
    unavailable = nats.js.errors.ServiceUnavailableError()
    conn.jetstream.return_value.key_value.side_effect = unavailable
    with pytest.raises(NaqConnectionError, match="JetStream is not available") as caught:
        async with cm.nats_kv_store("b", pool=pool):
            pass
    assert caught.value.__cause__ is unavailable
    assert "nats://carol:***@127.0.0.1:4888" in str(caught.value)  # from the pool's config, redacted
    assert "pool-secret" not in str(caught.value)
    assert caught.value.servers == ("nats://carol:***@127.0.0.1:4888",)


def test_a_pool_that_is_not_a_connection_pool_is_a_type_error() -> None:
    for enter in (
        lambda: cm.nats_connection(pool=object()),  # type: ignore[arg-type]
        lambda: cm.nats_jetstream(pool=object()),  # type: ignore[arg-type]
        lambda: cm.nats_kv_store("b", pool=object()),  # type: ignore[arg-type]
        lambda: cm.nats_object_store("b", pool=object()),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match=r"pool must be a naq\.connection\.ConnectionPool, got object"):
            enter()


@pytest.mark.parametrize("kind", ["connection", "jetstream", "kv", "object"])
async def test_reuse_connections_uses_the_default_pool(
    fake_nats: MagicMock, pool: ConnectionPool, conn: MagicMock, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    getter = MagicMock(name="get_default_pool", return_value=pool)
    monkeypatch.setattr(cm, "get_default_pool", getter)
    cfg = NatsConfig(servers=SERVER, reuse_connections=True)
    context: Any = {
        "connection": lambda: cm.nats_connection(cfg),
        "jetstream": lambda: cm.nats_jetstream(cfg),
        "kv": lambda: cm.nats_kv_store("b", cfg),
        "object": lambda: cm.nats_object_store("b", cfg),
    }[kind]()
    async with context:
        assert pool.stats().lent == 1
    getter.assert_called_once_with(cfg)
    assert pool.stats().borrows == 1
    conn.close.assert_not_awaited()


# ----------------------------------------------------------------------------- package surface


def test_package_reexports_the_public_api() -> None:
    import naq.connection as package
    from naq.connection import config, context_managers, errors, pool

    for module in (config, context_managers, errors, pool):
        for name in module.__all__:
            assert getattr(package, name) is getattr(module, name), name
    for name in ("ConnectionEvent", "ConnectionEventKind", "add_listener", "remove_listener"):
        assert getattr(package, name) is getattr(events, name)
    assert all(hasattr(package, name) for name in package.__all__)


def test_extend_path_is_the_first_line() -> None:
    import naq.connection as package

    assert package.__file__ is not None
    with open(package.__file__, encoding="utf-8") as handle:
        first = handle.readline().strip()
    assert first == '__path__ = __import__("pkgutil").extend_path(__path__, __name__)'
