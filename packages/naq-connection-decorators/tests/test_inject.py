"""Wiring of the injecting decorators: which context manager is called with what, what the function gets."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock, call

import pytest

import naq.connection.decorators as deco
from naq.connection import context_managers
from naq.connection.config import Config, NatsConfig
from naq.connection.decorators import with_jetstream_context, with_kv_store, with_nats_connection
from naq.connection.errors import NaqConfigError
from naq.connection.pool import ConnectionPool

pytestmark = pytest.mark.unit


def _profiles(monkeypatch: pytest.MonkeyPatch, **profiles: NatsConfig) -> Config:
    cfg = Config(NatsConfig(servers="nats://127.0.0.1:1"), profiles)
    monkeypatch.setattr(deco, "get_config", lambda: cfg)
    return cfg


# ---------------------------------------------------------------- with_nats_connection


async def test_connection_first_then_callers_args(patched_cms: SimpleNamespace) -> None:
    seen: list[Any] = []

    @with_nats_connection()
    async def publish(conn: Any, subject: str, data: bytes, *, headers: Any = None) -> str:
        seen.append((conn, subject, data, headers))
        return "ok"

    assert await publish("s", b"d", headers={"h": "1"}) == "ok"
    assert seen == [(patched_cms.conn, "s", b"d", {"h": "1"})]
    # neither key nor config: the context manager gets NO config argument
    assert patched_cms.nats_connection.call_args_list == [call()]


async def test_bare_decorator_is_the_same_as_empty_parentheses(patched_cms: SimpleNamespace) -> None:
    @with_nats_connection
    async def ping(conn: Any) -> Any:
        return conn

    assert await ping() is patched_cms.conn
    assert patched_cms.nats_connection.call_args_list == [call()]


async def test_each_call_enters_and_exits_its_own_context(patched_cms: SimpleNamespace) -> None:
    @with_nats_connection
    async def ping(conn: Any) -> None:
        return None

    await ping()
    await ping()
    assert patched_cms.nats_connection.call_count == 2
    for cm_call in patched_cms.nats_connection.mock_calls:
        assert cm_call == call()


async def test_body_exception_propagates_unchanged_through_the_context(patched_cms: SimpleNamespace) -> None:
    error = RuntimeError("boom")
    cms: list[Any] = []
    original = patched_cms.nats_connection.side_effect

    def record(*a: Any, **k: Any) -> Any:
        cm = original(*a, **k)
        cms.append(cm)
        return cm

    patched_cms.nats_connection.side_effect = record

    @with_nats_connection
    async def fail(conn: Any) -> None:
        raise error

    with pytest.raises(RuntimeError) as info:
        await fail()
    assert info.value is error
    exit_args = cms[0].__aexit__.call_args.args
    assert exit_args[0] is RuntimeError
    assert exit_args[1] is error


async def test_config_key_selects_profile_at_call_time(
    patched_cms: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = NatsConfig(servers="nats://127.0.0.1:4001")
    _profiles(monkeypatch, jobs=first)

    @with_nats_connection("jobs")
    async def ping(conn: Any) -> None:
        return None

    await ping()
    second = NatsConfig(servers="nats://127.0.0.1:4002")
    _profiles(monkeypatch, jobs=second)  # the config changed at runtime (set_config)
    await ping()
    assert patched_cms.nats_connection.call_args_list == [call(first), call(second)]


async def test_unknown_config_key_raises_listing_known_profiles(
    patched_cms: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profiles(monkeypatch, jobs=NatsConfig(), events=NatsConfig())

    @with_nats_connection(config_key="missing")
    async def ping(conn: Any) -> None:
        return None

    with pytest.raises(NaqConfigError, match=r"'events', 'jobs'"):
        await ping()
    patched_cms.nats_connection.assert_not_called()


async def test_explicit_config_is_passed_through(patched_cms: SimpleNamespace) -> None:
    cfg = NatsConfig(servers="nats://127.0.0.1:4003")

    @with_nats_connection(config=cfg)
    async def ping(conn: Any) -> None:
        return None

    await ping()
    assert patched_cms.nats_connection.call_args_list == [call(cfg)]


async def test_config_key_with_explicit_config_selects_its_profile(patched_cms: SimpleNamespace) -> None:
    prof = NatsConfig(servers="nats://127.0.0.1:4004")
    cfg = Config(NatsConfig(), {"p": prof})

    @with_nats_connection("p", config=cfg)
    async def ping(conn: Any) -> None:
        return None

    await ping()
    assert patched_cms.nats_connection.call_args_list == [call(prof)]


def test_config_key_with_a_non_config_object_is_rejected() -> None:
    with pytest.raises(TypeError, match="selects a profile of a Config"):
        with_nats_connection("p", config="nats://127.0.0.1:1")


@pytest.mark.parametrize(
    ("key", "exc", "match"),
    [
        (42, TypeError, "profile name.*use config="),
        ("", NaqConfigError, "non-empty"),
        ("  ", NaqConfigError, "non-empty"),
        ("nats://bob:hunter2@h:4222", NaqConfigError, r"'nats://bob:\*\*\*@h:4222' looks like a server URL"),
    ],
)
def test_bad_config_key_rejected_at_decoration(key: Any, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        with_nats_connection(key)
    with pytest.raises(exc, match=match):
        with_jetstream_context(key)
    with pytest.raises(exc, match=match):
        with_kv_store("b", key)


async def test_pool_is_passed_to_the_patched_context_manager_on_every_call(
    pool: ConnectionPool, patched_cms: SimpleNamespace
) -> None:
    @with_nats_connection(pool=pool)
    async def ping(conn: Any, x: int) -> Any:
        return conn, x

    class Service:
        @with_nats_connection(pool=pool)
        async def ping(self, conn: Any, x: int) -> Any:
            return self, conn, x

    service = Service()
    assert await ping(1) == (patched_cms.conn, 1)
    assert await service.ping(2) == (service, patched_cms.conn, 2)
    assert patched_cms.nats_connection.call_args_list == [call(pool=pool), call(pool=pool)]


@pytest.mark.parametrize("decorator", [with_nats_connection, with_jetstream_context])
def test_pool_and_config_are_exclusive_like_in_core(decorator: Any, pool: ConnectionPool) -> None:
    with pytest.raises(NaqConfigError, match="either pool= or config"):
        decorator(config="nats://127.0.0.1:1", pool=pool)
    with pytest.raises(NaqConfigError, match="either pool= or config"):
        decorator("key", pool=pool)
    with pytest.raises(NaqConfigError, match="either pool= or config"):
        with_kv_store("b", config="nats://127.0.0.1:1", pool=pool)
    # the same mistake made with core's context managers raises the same type
    with pytest.raises(NaqConfigError):
        context_managers.nats_connection("nats://127.0.0.1:1", pool=pool)


def test_pool_must_be_a_pool() -> None:
    with pytest.raises(TypeError, match="ConnectionPool"):
        with_nats_connection(pool="nats://127.0.0.1:1")  # type: ignore[arg-type]


# ---------------------------------------------------------------- with_jetstream_context


async def test_jetstream_injected_from_nats_jetstream(patched_cms: SimpleNamespace) -> None:
    @with_jetstream_context
    async def publish(js: Any, subject: str) -> Any:
        return js, subject

    assert await publish("s") == (patched_cms.js, "s")
    assert patched_cms.nats_jetstream.call_args_list == [call()]
    patched_cms.nats_connection.assert_not_called()


async def test_jetstream_config_variants(
    patched_cms: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    prof = NatsConfig(servers="nats://127.0.0.1:4005")
    _profiles(monkeypatch, js=prof)
    explicit = NatsConfig(servers="nats://127.0.0.1:4006")

    @with_jetstream_context("js")
    async def by_key(js: Any) -> Any:
        return js

    @with_jetstream_context(config=explicit)
    async def by_config(js: Any) -> Any:
        return js

    assert await by_key() is patched_cms.js
    assert await by_config() is patched_cms.js
    assert patched_cms.nats_jetstream.call_args_list == [call(prof), call(explicit)]


async def test_jetstream_exit_sees_the_body_exception(patched_cms: SimpleNamespace) -> None:
    cms: list[Any] = []
    original = patched_cms.nats_jetstream.side_effect
    patched_cms.nats_jetstream.side_effect = lambda *a, **k: cms.append(original()) or cms[-1]
    error = KeyError("k")

    @with_jetstream_context
    async def fail(js: Any) -> None:
        raise error

    with pytest.raises(KeyError) as info:
        await fail()
    assert info.value is error
    assert cms[0].__aexit__.call_args.args[1] is error


async def test_jetstream_pool_path(pool: ConnectionPool, patched_cms: SimpleNamespace) -> None:
    @with_jetstream_context(pool=pool)
    async def publish(js: Any) -> Any:
        return js

    assert await publish() is patched_cms.js  # (conn, js) unpacked
    assert await publish() is patched_cms.js
    assert patched_cms.nats_jetstream.call_args_list == [call(pool=pool), call(pool=pool)]
    patched_cms.nats_connection.assert_not_called()


# ---------------------------------------------------------------- with_kv_store


async def test_kv_bucket_alone_without_config(patched_cms: SimpleNamespace) -> None:
    @with_kv_store("jobs")
    async def put(kv: Any, key: str, value: bytes) -> Any:
        return kv, key, value

    assert await put("k", b"v") == (patched_cms.kv, "k", b"v")
    assert patched_cms.nats_kv_store.call_args_list == [call("jobs")]


async def test_kv_create_and_config_variants(
    patched_cms: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    prof = NatsConfig(servers="nats://127.0.0.1:4007")
    _profiles(monkeypatch, kv=prof)
    explicit = NatsConfig(servers="nats://127.0.0.1:4008")

    @with_kv_store("b", create=True)
    async def created(kv: Any) -> None:
        return None

    @with_kv_store("b", "kv")
    async def by_key(kv: Any) -> None:
        return None

    @with_kv_store("b", config=explicit, create=True)
    async def by_config(kv: Any) -> None:
        return None

    await created()
    await by_key()
    await by_config()
    assert patched_cms.nats_kv_store.call_args_list == [
        call("b", create=True),
        call("b", prof),
        call("b", explicit, create=True),
    ]


async def test_kv_pool_path(pool: ConnectionPool, patched_cms: SimpleNamespace) -> None:
    @with_kv_store("b", pool=pool)
    async def get(kv: Any) -> Any:
        return kv

    @with_kv_store("c", pool=pool, create=True)
    async def create(kv: Any) -> Any:
        return kv

    assert await get() is patched_cms.kv
    assert await create() is patched_cms.kv
    assert patched_cms.nats_kv_store.call_args_list == [
        call("b", pool=pool),
        call("c", pool=pool, create=True),
    ]


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((), {"create": "yes"}, TypeError, "create"),
        (("",), {}, NaqConfigError, "non-empty bucket"),
        ((3,), {}, TypeError, "bucket name"),
    ],
)
def test_kv_bad_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], exc: type[Exception], match: str
) -> None:
    with pytest.raises(exc, match=match):
        with_kv_store(*(args or ("b",)), **kwargs)


def test_kv_cannot_be_used_bare() -> None:
    with pytest.raises(TypeError, match=r"@with_kv_store\('bucket'\)"):

        @with_kv_store  # type: ignore[arg-type]
        async def f(kv: Any) -> None:
            return None


async def test_jetstream_replacement_yielding_no_pair_is_exited_and_reported(
    patched_cms: SimpleNamespace,
) -> None:
    cm = MagicMock(name="cm")
    cm.__aenter__ = AsyncMock(return_value=object())  # a broken replacement: not (conn, js)
    cm.__aexit__ = AsyncMock(return_value=None)
    patched_cms.nats_jetstream.side_effect = lambda *a, **k: cm

    @with_jetstream_context
    async def publish(js: Any) -> None:
        raise AssertionError("not reached")

    with pytest.raises(TypeError, match="unpack"):
        await publish()
    cm.__aexit__.assert_awaited_once()
    assert cm.__aexit__.call_args.args[0] is TypeError
