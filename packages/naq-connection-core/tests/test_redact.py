"""redact_url / redact: credentials never survive, everything else is left readable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from naq.connection import _redact, config
from naq.connection.config import NatsConfig, redact, redact_url

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_known_secrets() -> Iterator[None]:
    _redact.clear_known_secrets()
    yield
    _redact.clear_known_secrets()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nats://u:p@h:4222", "nats://u:***@h:4222"),
        ("nats://tok@h", "nats://***@h"),
        ("tls://user:pa:ss@host:4443", "tls://user:***@host:4443"),
        ("nats://a:b@c@h:1", "nats://a:***@h:1"),  # the last '@' ends the credentials
        ("u:p@h:4222", "u:***@h:4222"),  # no scheme
        ("tok@h", "***@h"),
        ("ws://u:p@h/path?x=1", "ws://u:***@h/path?x=1"),
        ("ws://h/path?token=abc&x=1", "ws://h/path?token=***&x=1"),
        ("nats://u:p@h:notaport", "nats://u:***@h:notaport"),  # malformed URLs too
        ("nats://h:4222", "nats://h:4222"),
        ("nats://h/a@b", "nats://h/a@b"),  # '@' in the path is not a credential
        ("localhost:4222", "localhost:4222"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_masks_known_secrets_longest_first() -> None:
    text = "pw hunter22 and hunter2 and nothing"
    out = redact(text, secrets=["hunter2", "hunter22", None, ""])
    assert out == "pw *** and *** and nothing"


def test_redact_masks_url_credentials_in_free_text() -> None:
    text = "could not connect to nats://bob:s3cret@host:4222, tls://tok3n@other:4443 either"
    out = redact(text)
    assert "s3cret" not in out
    assert "tok3n" not in out
    assert "nats://bob:***@host:4222" in out
    assert "tls://***@other:4443" in out


@pytest.mark.parametrize(
    "text",
    [
        "password=abc123",
        "PASSWORD = 'abc123'",
        '{"password": "abc123"}',
        "auth_token=abc123&x",
        "token='abc123'",
        "seed=abc123",
    ],
)
def test_redact_masks_secret_pairs(text: str) -> None:
    out = redact(text)
    assert "abc123" not in out
    assert "***" in out


def test_redact_leaves_prose_about_passwords_alone() -> None:
    text = "invalid password: must be set when user is set"
    assert redact(text) == text


def test_redact_masks_nkey_seeds_and_jwts() -> None:
    seed = "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY"
    jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5In0.eyJqdGkiOiJBQkMifQ.c2lnbmF0dXJl"
    out = redact(f"seed {seed} jwt {jwt} end")
    assert seed not in out
    assert jwt not in out
    assert out == "seed *** jwt *** end"


def test_redact_accepts_non_string_text() -> None:
    assert redact(ValueError("nats://u:p@h:1 failed")) == "nats://u:***@h:1 failed"  # type: ignore[arg-type]


def test_names_are_exported_from_config() -> None:
    assert config.redact is redact
    assert config.redact_url is redact_url


def test_secrets_of_every_built_config_are_masked_without_being_passed() -> None:
    text = "server echoed Pa55word-xyz and t0ken-abc and n0pe"
    assert redact(text) == text
    NatsConfig(user="bob", password="Pa55word-xyz")
    NatsConfig(servers="nats://t0ken-abc@h:1")
    assert redact(text) == "server echoed *** and *** and n0pe"
    _redact.clear_known_secrets()
    assert redact(text) == text


def test_short_secrets_are_not_registered_but_can_be_passed() -> None:
    NatsConfig(user="bob", password="abc")
    assert redact("abc def") == "abc def"
    assert redact("abc def", secrets=["abc"]) == "*** def"


def test_registry_is_bounded_oldest_first() -> None:
    _redact.register_secrets(f"secret-{i:04d}" for i in range(_redact.MAX_KNOWN_SECRETS + 10))
    assert redact("secret-0000") == "secret-0000"  # dropped
    last = f"secret-{_redact.MAX_KNOWN_SECRETS + 9:04d}"
    assert redact(last) == "***"
    _redact.register_secrets(["secret-0011"])  # re-registering refreshes, then the oldest goes
    _redact.register_secrets(["another-one"])
    assert redact("secret-0011") == "***"
    assert redact("secret-0010") == "secret-0010"
