"""Area 7 -- bad input end to end: each gets a clear, typed error within a second; nothing else breaks.

Malformed URLs, bad ``NAQ_NATS_*`` environment values, bad YAML, invalid bucket names, non-async
functions under the decorators, and payloads over the server's ``max_payload`` (a server started with
a small one). Throughout, a bystander connection opened before the bad input must keep working, and
no connection made by the code under test may stay open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from naq_e2e_state import inspector
from naq_e2e_support import assert_no_clients, unique, wait_for_clients

from naq.connection import (
    ConnectionPool,
    NaqConfigError,
    NatsConfig,
    get_config,
    nats_connection,
    nats_jetstream,
    nats_kv_store,
)
from naq.connection.config import load_config, reset_config
from naq.connection.decorators import (
    retry_on_connection_failure,
    with_connection_monitoring,
    with_jetstream_context,
    with_kv_store,
    with_nats_connection,
)
from naq.testing import NatsServer

pytestmark = pytest.mark.integration

FAST = 1.0  # "within a second"


async def _fails_fast(make: Callable[[], Awaitable[Any]], exc_type: Any) -> BaseException:
    start = time.monotonic()
    with pytest.raises(exc_type) as info:
        await asyncio.wait_for(make(), 5)
    elapsed = time.monotonic() - start
    assert elapsed < FAST, f"{type(info.value).__name__} took {elapsed:.2f}s"
    return info.value


@pytest.fixture
async def bystander(js_server: NatsServer) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """A connection opened before the bad input; ``check()`` proves it still delivers messages."""
    async with inspector(js_server.url) as nc:
        subject = unique("bystander")
        sub = await nc.subscribe(subject)

        async def check() -> None:
            await nc.publish(subject, b"ping")
            msg = await sub.next_msg(timeout=2)
            assert msg.data == b"ping"
            assert nc.is_connected

        await check()
        yield check
        await check()


async def _use(cfg: Any) -> None:
    async with nats_connection(cfg) as nc:
        await nc.rtt()


# ---- malformed URLs ------------------------------------------------------------------------

BAD_URLS = [
    "http://127.0.0.1:4222",
    "nats://127.0.0.1:notaport",
    "nats://127.0.0.1:99999",
    "nats://",
    "",
    "   ",
    "nats://host with space:4222",
    "ftp://bob:hunter2-in-url@127.0.0.1:4222",
]


@pytest.mark.parametrize("url", BAD_URLS)
async def test_malformed_url_is_a_config_error(
    url: str, js_server: NatsServer, bystander: Callable[[], Awaitable[None]]
) -> None:
    err = await _fails_fast(lambda: _use(url), NaqConfigError)
    assert isinstance(err, ValueError)
    text = str(err)
    assert "servers" in text.lower() or "url" in text.lower(), text
    assert "hunter2-in-url" not in text
    with pytest.raises(NaqConfigError):
        NatsConfig(servers=url)
    await bystander()
    assert await wait_for_clients(js_server, 1) == 1  # only the bystander


@pytest.mark.parametrize("servers", [[], [""]])
async def test_bad_server_lists_are_config_errors(servers: Any) -> None:
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(servers=servers)
    assert "servers" in str(info.value)


@pytest.mark.parametrize("servers", [123, ["nats://127.0.0.1:4222", 5]])
async def test_server_lists_of_the_wrong_type_are_type_errors(servers: Any) -> None:
    with pytest.raises(TypeError, match="servers"):
        NatsConfig(servers=servers)


# ---- bad environment values ----------------------------------------------------------------

BAD_ENV = [
    ("NAQ_NATS_CONNECTION_TIMEOUT", "abc"),
    ("NAQ_NATS_CONNECTION_TIMEOUT", "-1"),
    ("NAQ_NATS_CONNECTION_TIMEOUT", "0"),
    ("NAQ_NATS_MAX_RECONNECT_ATTEMPTS", "many"),
    ("NAQ_NATS_MAX_RECONNECT_ATTEMPTS", "1.5"),
    ("NAQ_NATS_PING_INTERVAL", "nan"),
    ("NAQ_NATS_ALLOW_RECONNECT", "maybe"),
    ("NAQ_NATS_REUSE_CONNECTIONS", "perhaps"),
    ("NAQ_NATS_URL", "ftp://127.0.0.1:4222"),
    ("NAQ_NATS_TLS_CA_FILE", "/nonexistent/ca.pem"),
]


@pytest.mark.parametrize(("var", "value"), BAD_ENV)
async def test_bad_env_value_names_the_variable(
    var: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    js_server: NatsServer,
    bystander: Callable[[], Awaitable[None]],
) -> None:
    monkeypatch.setenv("NAQ_NATS_URL", js_server.url)
    monkeypatch.setenv(var, value)
    reset_config()
    with pytest.raises(NaqConfigError) as info:
        get_config()
    assert var in str(info.value), str(info.value)

    # end to end: the context manager and a decorated function with no config hit the same error
    reset_config()
    await _fails_fast(lambda: _use(None), NaqConfigError)

    @with_nats_connection()
    async def op(nc: Any) -> None:
        await nc.rtt()

    reset_config()
    err = await _fails_fast(op, NaqConfigError)
    assert var in str(err)
    await bystander()


async def test_good_env_is_used_end_to_end(monkeypatch: pytest.MonkeyPatch, js_server: NatsServer) -> None:
    """The control for the test above: the same path works once the values are good."""
    monkeypatch.setenv("NAQ_NATS_URL", js_server.url)
    monkeypatch.setenv("NAQ_NATS_CONNECTION_TIMEOUT", "1.5")
    monkeypatch.setenv("NAQ_NATS_CLIENT_NAME", "e2e-env-client")
    reset_config()
    assert get_config().nats.connection_timeout == 1.5
    async with nats_connection() as nc:
        await nc.rtt()
        names = [c.get("name") for c in js_server.connz()["connections"]]
        assert "e2e-env-client" in names
    await assert_no_clients(js_server)


# ---- bad YAML ------------------------------------------------------------------------------

BAD_YAML = {
    "syntax": "nats: [unclosed\n",
    "unknown_key": "nats:\n  server: nats://127.0.0.1:4222\n",
    "wrong_type": "nats:\n  connection_timeout: soon\n",
    "negative": "nats:\n  connection_timeout: -3\n",
    "top_level_list": "- nats://127.0.0.1:4222\n",
    "bad_scheme": "nats:\n  servers: [http://127.0.0.1:4222]\n",
    "unknown_tls_key": "nats:\n  tls:\n    ca: /tmp/x.pem\n",
    "unset_var": "nats:\n  password: ${NAQ_E2E_SURELY_UNSET_VAR}\n  user: u\n",
}


@pytest.fixture
def yaml_file(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    def write(text: str) -> Path:
        path = tmp_path / f"{unique('cfg')}.yaml"
        path.write_text(text)
        return path

    return write


@pytest.mark.parametrize("case", sorted(BAD_YAML))
async def test_bad_yaml_names_the_file(
    case: str,
    yaml_file: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    bystander: Callable[[], Awaitable[None]],
) -> None:
    path = yaml_file(BAD_YAML[case])
    start = time.monotonic()
    with pytest.raises(NaqConfigError) as info:
        load_config(str(path))
    assert time.monotonic() - start < FAST
    assert path.name in str(info.value), str(info.value)
    # the same file chosen through NAQ_CONFIG_FILE, end to end
    monkeypatch.setenv("NAQ_CONFIG_FILE", str(path))
    reset_config()
    err = await _fails_fast(lambda: _use(None), NaqConfigError)
    assert path.name in str(err)
    await bystander()


async def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(NaqConfigError) as info:
        load_config(str(missing))
    assert "nope.yaml" in str(info.value)


async def test_unknown_yaml_key_suggests_the_right_one(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file(BAD_YAML["unknown_key"])
    with pytest.raises(NaqConfigError) as info:
        load_config(str(path))
    assert "servers" in str(info.value)  # "did you mean 'servers'?"


# ---- invalid bucket names ------------------------------------------------------------------

BAD_BUCKETS = ["bad bucket", "a.b", "x*", "", "with/slash", "gt>"]


@pytest.mark.parametrize("name", BAD_BUCKETS)
async def test_invalid_bucket_name_is_a_typed_error_naming_it(
    name: str, js_server: NatsServer, bystander: Callable[[], Awaitable[None]]
) -> None:
    cfg = NatsConfig(servers=js_server.url, connection_timeout=2)

    async def cm(create: bool) -> None:
        async with nats_kv_store(name, cfg, create=create):
            pass

    for create in (False, True):
        err = await _fails_fast(lambda create=create: cm(create), (NaqConfigError, ValueError))
        assert repr(name) in str(err) or f"'{name}'" in str(err) or (name and name in str(err)), str(err)
        assert "bucket" in str(err).lower()

    async def op_body(kv: Any) -> None:
        raise AssertionError("must not run")

    # rejected when decorating (with_kv_store checks some names early) or else when called
    early: ValueError | None = None
    try:
        op = with_kv_store(name, config=cfg, create=True)(op_body)
    except ValueError as exc:
        early = exc
    if early is None:
        early = await _fails_fast(op, (NaqConfigError, ValueError))  # type: ignore[assignment]
    assert "bucket" in str(early).lower()
    async with ConnectionPool(cfg) as pool:
        await _fails_fast(lambda: _pool_kv(pool, name), (NaqConfigError, ValueError))
        async with pool.connection() as nc:
            await nc.rtt()
    await bystander()
    assert await wait_for_clients(js_server, 1) == 1  # only the bystander


async def _pool_kv(pool: ConnectionPool, name: str) -> None:
    async with pool.kv_store(name, create=True):
        pass


# ---- non-async functions under the decorators ----------------------------------------------


def _decorators() -> dict[str, Callable[[Callable[..., Any]], Any]]:
    return {
        "with_nats_connection()": with_nats_connection(),
        "with_jetstream_context()": with_jetstream_context(),
        "with_kv_store('b')": with_kv_store("b"),
        "with_connection_monitoring": with_connection_monitoring,
        "with_connection_monitoring()": with_connection_monitoring(),
        "retry_on_connection_failure()": retry_on_connection_failure(),
    }


@pytest.mark.parametrize("deco_name", list(_decorators()))
def test_sync_function_is_rejected_at_decoration_time(deco_name: str) -> None:
    deco = _decorators()[deco_name]

    def plain(x: Any) -> None:
        return None

    def gen(x: Any) -> Iterator[None]:
        yield None

    for fn in (plain, gen, lambda x: x):
        start = time.monotonic()
        with pytest.raises(TypeError) as info:
            deco(fn)
        assert time.monotonic() - start < FAST
        assert "async" in str(info.value), str(info.value)


@pytest.mark.parametrize("deco_name", list(_decorators()))
def test_async_generator_function_is_rejected(deco_name: str) -> None:
    """``async def`` with ``yield`` is not a coroutine function: wrapping it cannot work."""
    deco = _decorators()[deco_name]

    async def agen(x: Any) -> AsyncIterator[None]:
        yield None

    with pytest.raises(TypeError) as info:
        deco(agen)
    assert "async" in str(info.value)


# ---- payloads over the server's max_payload ------------------------------------------------

MAX_PAYLOAD = 1024


@pytest.fixture(scope="module")
def small_payload_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    conf = tmp_path_factory.mktemp("maxpayload") / "server.conf"
    conf.write_text(f"max_payload: {MAX_PAYLOAD}\n")
    with NatsServer(jetstream=True, config_file=str(conf)) as srv:
        yield srv


async def test_payload_over_max_payload(small_payload_server: NatsServer) -> None:
    srv = small_payload_server
    cfg = NatsConfig(servers=srv.url, connection_timeout=2)
    big = b"x" * (MAX_PAYLOAD + 1)
    stream = unique("MAXP")

    async with inspector(srv.url) as other:
        subject = unique("maxp")
        sub = await other.subscribe(subject)
        await other.jetstream().add_stream(name=stream, subjects=[f"{stream}.>"])
        assert other.max_payload == MAX_PAYLOAD

        # core publish through the context manager: typed error, the same connection still usable
        async def cm_publish() -> None:
            async with nats_connection(cfg) as nc:
                with pytest.raises(nats.errors.MaxPayloadError):
                    await nc.publish(subject, big)
                await nc.publish(subject, b"small-after-big")
                await nc.flush()
                raise nats.errors.MaxPayloadError  # and it propagates unchanged out of the CM

        await _fails_fast(cm_publish, nats.errors.MaxPayloadError)
        assert (await sub.next_msg(timeout=2)).data == b"small-after-big"

        # through a retried decorator: not transient, so exactly one attempt
        calls = 0

        @retry_on_connection_failure(max_retries=3, retry_delay=0.5)
        @with_nats_connection(config=cfg)
        async def deco_publish(nc: Any) -> None:
            nonlocal calls
            calls += 1
            await nc.publish(subject, big)

        await _fails_fast(deco_publish, nats.errors.MaxPayloadError)
        assert calls == 1

        # JetStream publish and KV put
        async def js_publish() -> None:
            async with nats_jetstream(cfg) as (_nc, js):
                await js.publish(f"{stream}.a", big)

        await _fails_fast(js_publish, nats.errors.MaxPayloadError)

        async def kv_put() -> None:
            async with nats_kv_store(unique("maxpkv"), cfg, create=True) as kv:
                await kv.put("k", big)

        await _fails_fast(kv_put, nats.errors.MaxPayloadError)

        # through a pool: the pooled connection survives and keeps working
        async with ConnectionPool(cfg) as pool:
            for _ in range(3):
                with pytest.raises(nats.errors.MaxPayloadError):
                    async with pool.connection() as nc:
                        await nc.publish(subject, big)
            async with pool.jetstream() as js:
                ack = await js.publish(f"{stream}.a", b"fits")
            assert ack.seq == 1

        # the bystander was never affected
        await other.publish(subject, b"still-here")
        assert (await sub.next_msg(timeout=2)).data == b"still-here"
        assert await wait_for_clients(srv, 1) == 1
    await assert_no_clients(srv)
