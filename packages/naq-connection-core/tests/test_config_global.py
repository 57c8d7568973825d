"""The process-wide config: caching, set_config / reset_config, precedence, resolve_nats_config."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from naq.connection import config as config_module
from naq.connection.config import (
    Config,
    NatsConfig,
    get_config,
    load_config,
    reset_config,
    resolve_nats_config,
    set_config,
)
from naq.connection.errors import NaqConfigError

pytestmark = pytest.mark.unit


def test_get_config_defaults_and_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_config()
    assert first == Config()
    assert get_config() is first  # cached
    monkeypatch.setenv("NAQ_NATS_CLIENT_NAME", "changed")
    assert get_config().nats.client_name == "naq-client"  # the cache does not see the change...
    reset_config()
    assert get_config().nats.client_name == "changed"  # ...until reset_config()


def test_get_config_is_built_once_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = config_module.load_config

    def counting(*args: Any, **kwargs: Any) -> Config:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(config_module, "load_config", counting)
    results: list[Config] = []
    threads = [threading.Thread(target=lambda: results.append(get_config())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len({id(r) for r in results}) == 1


def test_get_config_uses_a_result_loaded_while_it_waited(monkeypatch: pytest.MonkeyPatch) -> None:
    winner = Config(NatsConfig(client_name="winner"))

    class OtherThreadFinishesFirst:
        def __enter__(self) -> None:
            monkeypatch.setattr(config_module, "_cached", winner)

        def __exit__(self, *exc: object) -> None:
            return None

    def load_again() -> Config:
        raise AssertionError("loaded twice")

    monkeypatch.setattr(config_module, "_lock", OtherThreadFinishesFirst())
    monkeypatch.setattr(config_module, "load_config", load_again)
    assert get_config() is winner


def test_failed_load_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_CONNECTION_TIMEOUT", "zero")
    with pytest.raises(NaqConfigError, match="NAQ_NATS_CONNECTION_TIMEOUT"):
        get_config()
    monkeypatch.setenv("NAQ_NATS_CONNECTION_TIMEOUT", "4")
    assert get_config().nats.connection_timeout == 4.0


def test_set_config_wins_and_reset_clears_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_CLIENT_NAME", "env")
    custom = Config(NatsConfig(client_name="set"), {"p": NatsConfig(client_name="p")})
    set_config(custom)
    assert get_config() is custom
    set_config(NatsConfig(client_name="nats-only"))
    assert get_config().nats.client_name == "nats-only"
    assert dict(get_config().profiles) == {}
    set_config(None)  # drops the override only
    assert get_config().nats.client_name == "env"
    set_config(custom)
    reset_config()
    assert get_config().nats.client_name == "env"
    with pytest.raises(TypeError, match=r"takes a Config, a NatsConfig or None .*got str"):
        set_config("nats://h")  # type: ignore[arg-type]


def test_load_config_does_not_touch_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    cached = get_config()
    monkeypatch.setenv("NAQ_NATS_CLIENT_NAME", "fresh")
    fresh = load_config()
    assert fresh.nats.client_name == "fresh"
    assert get_config() is cached
    set_config(NatsConfig(client_name="override"))
    assert load_config().nats.client_name == "fresh"  # load_config ignores set_config too


def test_full_precedence_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "naq.yaml"
    path.write_text("nats:\n  client_name: file\n  drain_timeout: 11\n  flush_timeout: 12\n")
    monkeypatch.setenv("NAQ_CONFIG_FILE", str(path))
    monkeypatch.setenv("NAQ_NATS_FLUSH_TIMEOUT", "13")
    monkeypatch.setenv("NAQ_NATS_CLIENT_NAME", "env")
    cfg = get_config().nats
    assert cfg.ping_interval == 120.0  # default
    assert cfg.drain_timeout == 11.0  # file beats default
    assert cfg.flush_timeout == 13.0  # env beats file
    assert cfg.client_name == "env"
    set_config(NatsConfig(client_name="set"))
    assert get_config().nats.client_name == "set"  # set_config beats everything


def test_resolve_nats_config(monkeypatch: pytest.MonkeyPatch) -> None:
    base = NatsConfig(servers="base:1", client_name="global", user="u", password="pw")
    other = NatsConfig(servers="other:1")
    set_config(Config(base, {"p": other}))
    assert resolve_nats_config(None) is base
    assert resolve_nats_config(other) is other
    assert resolve_nats_config(Config(other)) is other
    from_url = resolve_nats_config("x:1, nats://y:2")
    assert from_url.servers == ("nats://x:1", "nats://y:2")
    assert (from_url.client_name, from_url.user, from_url.password) == ("global", "u", "pw")
    with pytest.raises(NaqConfigError) as info:
        resolve_nats_config("http://u:secretpw@h:1")
    assert "config argument" in str(info.value)
    assert "secretpw" not in str(info.value)
    with pytest.raises(NaqConfigError, match="at least one server"):
        resolve_nats_config("")
    with pytest.raises(TypeError, match=r"a server URL string \(or comma-separated URLs\) or None, got int"):
        resolve_nats_config(42)  # type: ignore[arg-type]
