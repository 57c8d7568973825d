"""Configuration from environment variables: every variable, booleans, bad values, precedence over files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from naq.connection._env import ENV_VARS
from naq.connection.config import NatsConfig, load_config
from naq.connection.errors import NaqConfigError

pytestmark = pytest.mark.unit

SECRET = "Env-S3cret-Value"


# variable -> (value, attribute path, expected)
SCALARS: list[tuple[str, str, str, Any]] = [
    ("NAQ_NATS_URL", "nats://a:1, b:2", "servers", ("nats://a:1", "nats://b:2")),
    ("NAQ_NATS_CLIENT_NAME", "svc-1", "client_name", "svc-1"),
    ("NAQ_NATS_MAX_RECONNECT_ATTEMPTS", "-1", "max_reconnect_attempts", -1),
    ("NAQ_NATS_RECONNECT_TIME_WAIT", "0.25", "reconnect_time_wait", 0.25),
    ("NAQ_NATS_CONNECTION_TIMEOUT", " 3 ", "connection_timeout", 3.0),
    ("NAQ_NATS_DRAIN_TIMEOUT", "7.5", "drain_timeout", 7.5),
    ("NAQ_NATS_FLUSH_TIMEOUT", "1e-1", "flush_timeout", 0.1),
    ("NAQ_NATS_PING_INTERVAL", "30", "ping_interval", 30.0),
    ("NAQ_NATS_MAX_OUTSTANDING_PINGS", "9", "max_outstanding_pings", 9),
    ("NAQ_NATS_ALLOW_RECONNECT", "off", "allow_reconnect", False),
    ("NAQ_NATS_REUSE_CONNECTIONS", "YES", "reuse_connections", True),
    ("NAQ_NATS_TOKEN", SECRET, "token", SECRET),
    ("NAQ_NATS_TLS_ENABLED", "true", "tls.enabled", True),
]


def _get(cfg: NatsConfig, dotted: str) -> Any:
    value: Any = cfg
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


@pytest.mark.parametrize(("var", "raw", "attr", "expected"), SCALARS, ids=[s[0] for s in SCALARS])
def test_each_variable_sets_its_field(
    monkeypatch: pytest.MonkeyPatch, var: str, raw: str, attr: str, expected: Any
) -> None:
    assert _get(load_config().nats, attr) != expected  # the default differs, so the test can fail
    monkeypatch.setenv(var, raw)
    assert _get(load_config().nats, attr) == expected


def test_user_password_and_file_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in ("u.creds", "ca.pem")}
    for path in files.values():
        path.write_text("x")
    monkeypatch.setenv("NAQ_NATS_USER", "bob")
    monkeypatch.setenv("NAQ_NATS_PASSWORD", SECRET)
    monkeypatch.setenv("NAQ_NATS_CREDS_FILE", str(files["u.creds"]))
    monkeypatch.setenv("NAQ_NATS_TLS_CA_FILE", str(files["ca.pem"]))
    monkeypatch.setenv("NAQ_NATS_TLS_HANDSHAKE_FIRST", "1")
    cfg = load_config().nats
    assert (cfg.user, cfg.password) == ("bob", SECRET)
    assert cfg.creds_file == str(files["u.creds"])
    assert cfg.tls.ca_file == str(files["ca.pem"])
    assert cfg.tls.handshake_first is True
    assert SECRET not in repr(cfg)


def test_nkeys_and_client_cert_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("u.nk", "c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv("NAQ_NATS_NKEYS_SEED_FILE", str(tmp_path / "u.nk"))
    monkeypatch.setenv("NAQ_NATS_TLS_CERT_FILE", str(tmp_path / "c.pem"))
    monkeypatch.setenv("NAQ_NATS_TLS_KEY_FILE", str(tmp_path / "k.pem"))
    cfg = load_config().nats
    assert cfg.nkeys_seed_file == str(tmp_path / "u.nk")
    assert (cfg.tls.cert_file, cfg.tls.key_file) == (str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))


def test_every_scalar_field_has_a_variable() -> None:
    expected = {
        "NAQ_NATS_URL",
        "NAQ_NATS_CLIENT_NAME",
        "NAQ_NATS_MAX_RECONNECT_ATTEMPTS",
        "NAQ_NATS_RECONNECT_TIME_WAIT",
        "NAQ_NATS_CONNECTION_TIMEOUT",
        "NAQ_NATS_DRAIN_TIMEOUT",
        "NAQ_NATS_FLUSH_TIMEOUT",
        "NAQ_NATS_PING_INTERVAL",
        "NAQ_NATS_MAX_OUTSTANDING_PINGS",
        "NAQ_NATS_ALLOW_RECONNECT",
        "NAQ_NATS_USER",
        "NAQ_NATS_PASSWORD",
        "NAQ_NATS_TOKEN",
        "NAQ_NATS_CREDS_FILE",
        "NAQ_NATS_NKEYS_SEED_FILE",
        "NAQ_NATS_REUSE_CONNECTIONS",
        "NAQ_NATS_TLS_ENABLED",
        "NAQ_NATS_TLS_CERT_FILE",
        "NAQ_NATS_TLS_KEY_FILE",
        "NAQ_NATS_TLS_CA_FILE",
        "NAQ_NATS_TLS_HANDSHAKE_FIRST",
    }
    assert set(ENV_VARS) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("On", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_boolean_spellings(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("NAQ_NATS_REUSE_CONNECTIONS", raw)
    assert load_config().nats.reuse_connections is expected


@pytest.mark.parametrize(
    ("var", "raw", "problem"),
    [
        ("NAQ_NATS_REUSE_CONNECTIONS", "maybe", "boolean"),
        ("NAQ_NATS_ALLOW_RECONNECT", "2", "boolean"),
        ("NAQ_NATS_TLS_ENABLED", "y", "boolean"),
        ("NAQ_NATS_MAX_RECONNECT_ATTEMPTS", "five", "integer"),
        ("NAQ_NATS_MAX_RECONNECT_ATTEMPTS", "2.5", "integer"),
        ("NAQ_NATS_MAX_RECONNECT_ATTEMPTS", "-3", ">= -1"),
        ("NAQ_NATS_MAX_OUTSTANDING_PINGS", "0", ">= 1"),
        ("NAQ_NATS_CONNECTION_TIMEOUT", "ten", "finite number"),
        ("NAQ_NATS_CONNECTION_TIMEOUT", "nan", "finite number"),
        ("NAQ_NATS_CONNECTION_TIMEOUT", "-1", "> 0"),
        ("NAQ_NATS_CONNECTION_TIMEOUT", "0", "> 0"),
        ("NAQ_NATS_DRAIN_TIMEOUT", "0", "> 0"),
        ("NAQ_NATS_FLUSH_TIMEOUT", "-2", "> 0"),
        ("NAQ_NATS_PING_INTERVAL", "inf", "finite number"),
        ("NAQ_NATS_RECONNECT_TIME_WAIT", "-1", ">= 0"),
        ("NAQ_NATS_URL", "http://h:1", "unknown scheme"),
        ("NAQ_NATS_URL", "nats://h:port", "malformed URL"),
        ("NAQ_NATS_CREDS_FILE", "/nonexistent/x.creds", "does not exist"),
        ("NAQ_NATS_NKEYS_SEED_FILE", "/nonexistent/x.nk", "does not exist"),
        ("NAQ_NATS_TLS_CA_FILE", "/nonexistent/ca.pem", "does not exist"),
        ("NAQ_NATS_TLS_CERT_FILE", "/nonexistent/c.pem", "does not exist"),
        ("NAQ_NATS_TLS_KEY_FILE", "/nonexistent/k.pem", "does not exist"),
        ("NAQ_NATS_TLS_HANDSHAKE_FIRST", "true", "needs TLS"),
    ],
)
def test_bad_variable_names_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, var: str, raw: str, problem: str
) -> None:
    monkeypatch.setenv(var, raw)
    with pytest.raises(NaqConfigError) as info:
        load_config()
    message = str(info.value)
    assert f"environment variable {var}" in message
    assert problem in message
    assert raw.lower() in message.lower()  # the value, as given or as parsed
    assert info.value.source == f"environment variable {var}"


def test_secret_variables_are_masked_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_PASSWORD", SECRET)
    with pytest.raises(NaqConfigError) as info:
        load_config()  # password without user
    assert "environment variable NAQ_NATS_PASSWORD" in str(info.value)
    assert SECRET not in str(info.value)

    monkeypatch.setenv("NAQ_NATS_USER", "bob")
    monkeypatch.setenv("NAQ_NATS_TOKEN", SECRET)
    with pytest.raises(NaqConfigError) as info:
        load_config()  # token and user
    assert "environment variable NAQ_NATS_TOKEN" in str(info.value)
    assert SECRET not in str(info.value)

    monkeypatch.delenv("NAQ_NATS_TOKEN")
    monkeypatch.delenv("NAQ_NATS_PASSWORD")
    monkeypatch.setenv("NAQ_NATS_URL", f"http://bob:{SECRET}@h:1")
    with pytest.raises(NaqConfigError) as info:
        load_config()
    assert "http://bob:***@h:1" in str(info.value)
    assert SECRET not in str(info.value)


def test_cert_without_key_from_env_names_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    monkeypatch.setenv("NAQ_NATS_TLS_CERT_FILE", str(tmp_path / "c.pem"))
    with pytest.raises(NaqConfigError) as info:
        load_config()
    assert "tls.key_file" in str(info.value)
    assert "environment variable NAQ_NATS_TLS_CERT_FILE" in str(info.value)


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_URL", "")
    monkeypatch.setenv("NAQ_NATS_CONNECTION_TIMEOUT", "  ")
    monkeypatch.setenv("NAQ_NATS_PASSWORD", "")
    assert load_config().nats == NatsConfig()


def test_unknown_prefixed_variable_warns_with_suggestion(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NAQ_NATS_CONECTION_TIMEOUT", "3")
    monkeypatch.setenv("NAQ_NATS_ZZZZZZZZZZZZ", "3")
    with caplog.at_level(logging.WARNING, logger="naq.connection"):
        cfg = load_config()
    assert cfg.nats.connection_timeout == 10.0
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "NAQ_NATS_CONECTION_TIMEOUT" in m and "did you mean NAQ_NATS_CONNECTION_TIMEOUT" in m
        for m in messages
    )
    assert any(m == "ignoring unknown environment variable NAQ_NATS_ZZZZZZZZZZZZ" for m in messages)


@pytest.mark.parametrize(
    ("unknown", "meant"),
    [
        ("NAQ_NATS_SERVERS", "NAQ_NATS_URL"),  # the field is called servers: its variable is _URL
        ("NAQ_NATS_SERVER", "NAQ_NATS_URL"),
        ("NAQ_NATS_URLS", "NAQ_NATS_URL"),
        ("NAQ_NATS_USERNAME", "NAQ_NATS_USER"),
        ("NAQ_NATS_CONNECT_TIMEOUT", "NAQ_NATS_CONNECTION_TIMEOUT"),
        ("NAQ_NATS_CA_FILE", "NAQ_NATS_TLS_CA_FILE"),
    ],
)
def test_unknown_variables_point_to_the_variable_meant(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, unknown: str, meant: str
) -> None:
    monkeypatch.setenv(unknown, "x")
    with caplog.at_level(logging.WARNING, logger="naq.connection"):
        load_config()
    messages = [r.getMessage() for r in caplog.records]
    assert f"ignoring unknown environment variable {unknown} (did you mean {meant}?)" in messages


def test_explicit_environ_mapping_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_CLIENT_NAME", "from-os")
    assert load_config(environ={"NAQ_NATS_CLIENT_NAME": "given"}).nats.client_name == "given"
    assert load_config(environ={}).nats.client_name == "naq-client"
