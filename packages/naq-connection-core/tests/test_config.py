"""NatsConfig / TLSConfig / Config: defaults, validation, normalisation, masking, ssl_context."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
import ssl
from pathlib import Path
from typing import Any

import pytest

from naq.connection.config import Config, NatsConfig, TLSConfig
from naq.connection.errors import NaqConfigError, NaqConnectionError

pytestmark = pytest.mark.unit

SECRET = "Sup3rS3cretValue"


def _file(tmp_path: Path, name: str, text: str = "x") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def assert_names(err: NaqConfigError, *fragments: str, secret: str | None = SECRET) -> None:
    message = str(err)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if secret:
        assert secret not in message
        assert secret not in repr(err.args)
        assert secret not in str(err.value)


# -- defaults ------------------------------------------------------------------------------------------


def test_defaults() -> None:
    cfg = NatsConfig()
    assert cfg.servers == ("nats://localhost:4222",)
    assert cfg.client_name == "naq-client"
    assert cfg.max_reconnect_attempts == 60  # nats-py's own: a held client rides out ~2 min of outage
    assert cfg.reconnect_time_wait == 2.0
    assert cfg.connection_timeout == 10.0
    assert cfg.drain_timeout == 30.0
    assert cfg.flush_timeout == 5.0
    assert cfg.ping_interval == 120.0
    assert cfg.max_outstanding_pings == 2
    assert cfg.allow_reconnect is True
    assert (cfg.user, cfg.password, cfg.token) == (None, None, None)
    assert (cfg.creds_file, cfg.nkeys_seed_file) == (None, None)
    assert cfg.reuse_connections is False
    assert cfg.tls == TLSConfig()
    assert cfg.tls == TLSConfig(False, None, None, None, False)
    assert cfg.uses_tls is False
    assert cfg.ssl_context() is None
    assert [f.name for f in dataclasses.fields(cfg)] == [
        "servers",
        "client_name",
        "max_reconnect_attempts",
        "reconnect_time_wait",
        "connection_timeout",
        "drain_timeout",
        "flush_timeout",
        "ping_interval",
        "max_outstanding_pings",
        "allow_reconnect",
        "user",
        "password",
        "token",
        "creds_file",
        "nkeys_seed_file",
        "tls",
        "reuse_connections",
    ]


def test_every_field_is_stored(tmp_path: Path) -> None:
    creds = _file(tmp_path, "u.creds")
    cfg = NatsConfig(
        servers=["nats://a:1", "nats://b:2"],
        client_name="svc",
        max_reconnect_attempts=7,
        reconnect_time_wait=0.5,
        connection_timeout=3,
        drain_timeout=4,
        flush_timeout=1.5,
        ping_interval=9,
        max_outstanding_pings=4,
        allow_reconnect=False,
        user="bob",
        password=SECRET,
        creds_file=creds,
        tls=TLSConfig(enabled=True, handshake_first=True),
        reuse_connections=True,
    )
    assert cfg.servers == ("nats://a:1", "nats://b:2")
    assert cfg.client_name == "svc"
    assert cfg.max_reconnect_attempts == 7
    assert cfg.reconnect_time_wait == 0.5
    assert cfg.connection_timeout == 3.0
    assert isinstance(cfg.connection_timeout, float)
    assert (cfg.drain_timeout, cfg.flush_timeout, cfg.ping_interval) == (4.0, 1.5, 9.0)
    assert cfg.max_outstanding_pings == 4
    assert cfg.allow_reconnect is False
    assert (cfg.user, cfg.password) == ("bob", SECRET)
    assert cfg.creds_file == creds
    assert cfg.tls.enabled
    assert cfg.tls.handshake_first
    assert cfg.reuse_connections is True
    assert NatsConfig(token=SECRET).token == SECRET
    seed = _file(tmp_path, "user.nk")
    assert NatsConfig(nkeys_seed_file=Path(seed)).nkeys_seed_file == seed


# -- servers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("nats://h:1", ("nats://h:1",)),
        ("h:1", ("nats://h:1",)),
        ("h", ("nats://h:4222",)),
        ("nats://h", ("nats://h:4222",)),
        ("tls://h", ("tls://h:4222",)),
        ("NATS://Host:1", ("nats://Host:1",)),
        ("ws://h", ("ws://h",)),
        ("wss://h:443/path", ("wss://h:443/path",)),
        ("[::1]:4222", ("nats://[::1]:4222",)),
        ("u:p@h", ("nats://u:p@h:4222",)),
        ("nats://a:1,nats://b:2", ("nats://a:1", "nats://b:2")),
        (" nats://a:1 , b:2 ,", ("nats://a:1", "nats://b:2")),
        (["a:1", "nats://b:2"], ("nats://a:1", "nats://b:2")),
        (("a:1",), ("nats://a:1",)),
        (["a:1,b:2", "c:3"], ("nats://a:1", "nats://b:2", "nats://c:3")),
    ],
)
def test_servers_are_normalised(given: Any, expected: tuple[str, ...]) -> None:
    assert NatsConfig(servers=given).servers == expected


def test_max_reconnect_attempts_forever_values_allowed() -> None:
    assert NatsConfig(max_reconnect_attempts=-1).max_reconnect_attempts == -1
    assert NatsConfig(max_reconnect_attempts=0).max_reconnect_attempts == 0
    assert NatsConfig(reconnect_time_wait=0).reconnect_time_wait == 0.0


@pytest.mark.parametrize(
    ("kwargs", "field", "problem"),
    [
        ({"servers": []}, "servers", "at least one server"),
        ({"servers": ""}, "servers", "at least one server"),
        ({"servers": " , "}, "servers", "at least one server"),
        ({"servers": "http://h:1"}, "servers", "unknown scheme 'http'"),
        ({"servers": "nats://h:99999"}, "servers", "malformed URL"),
        ({"servers": "nats://h:abc"}, "servers", "malformed URL"),
        ({"servers": "nats://:4222"}, "servers", "no host"),
        ({"servers": "nats://h 1"}, "servers", "whitespace"),
        ({"servers": ["nats://a", "ws://b"]}, "servers", "cannot mix"),
        ({"client_name": ""}, "client_name", "non-empty"),
        ({"max_reconnect_attempts": -2}, "max_reconnect_attempts", ">= -1"),
        ({"reconnect_time_wait": -0.1}, "reconnect_time_wait", ">= 0"),
        ({"connection_timeout": 0}, "connection_timeout", "> 0"),
        ({"connection_timeout": -1}, "connection_timeout", "> 0"),
        ({"connection_timeout": math.nan}, "connection_timeout", "finite"),
        ({"connection_timeout": math.inf}, "connection_timeout", "finite"),
        ({"drain_timeout": 0}, "drain_timeout", "> 0"),
        ({"flush_timeout": -5}, "flush_timeout", "> 0"),
        ({"ping_interval": 0.0}, "ping_interval", "> 0"),
        ({"max_outstanding_pings": 0}, "max_outstanding_pings", ">= 1"),
        ({"creds_file": "/nonexistent/u.creds"}, "creds_file", "does not exist"),
        ({"nkeys_seed_file": "/nonexistent/u.nk"}, "nkeys_seed_file", "does not exist"),
        ({"tls": {"ca_fle": "x"}}, "tls.ca_fle", "did you mean 'ca_file'"),
        ({"tls": {"handshake_first": True}}, "tls.handshake_first", "needs TLS"),
    ],
)
def test_bad_values_name_field_source_and_value(kwargs: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(**kwargs)
    err = info.value
    assert err.field == field
    assert err.source == "NatsConfig argument"
    assert_names(err, field, problem, "NatsConfig argument")
    assert isinstance(err, ValueError)
    assert not isinstance(err, NaqConnectionError)  # a typo in a setting is not a connection failure


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"servers": [1]}, "servers must be URL strings (every item), got int"),
        ({"servers": 5}, "servers must be a URL string or a list of URL strings, got int"),
        ({"client_name": 5}, "client_name must be a string, got int"),
        ({"max_reconnect_attempts": 1.5}, "max_reconnect_attempts must be an integer, got float"),
        ({"max_reconnect_attempts": True}, "max_reconnect_attempts must be an integer, got bool"),
        ({"max_reconnect_attempts": "5"}, "max_reconnect_attempts must be an integer, got str"),
        ({"reconnect_time_wait": "2"}, "reconnect_time_wait must be a number, got str"),
        ({"allow_reconnect": "yes"}, "allow_reconnect must be true or false (a bool), got str"),
        ({"reuse_connections": 1}, "reuse_connections must be true or false (a bool), got int"),
        ({"user": 5}, "user must be a string, got int"),
        ({"password": b"x", "user": "u"}, "password must be a string, got bytes"),
        ({"creds_file": 5}, "creds_file must be a file path, got int"),
        ({"tls": "yes"}, "tls must be a TLSConfig or a mapping, got str"),
    ],
)
def test_wrong_types_in_code_are_type_errors_naming_the_argument(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError) as info:
        NatsConfig(**kwargs)
    assert str(info.value) == message
    assert not isinstance(info.value, NaqConfigError)


def test_config_profiles_of_the_wrong_type_are_type_errors() -> None:
    with pytest.raises(TypeError, match=r"Config\.profiles must be a mapping .* got list"):
        Config(profiles=[1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Config\.profiles names must be strings, got int"):
        Config(profiles={1: NatsConfig()})  # type: ignore[dict-item]


def test_bad_value_is_shown() -> None:
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(connection_timeout=-3)
    assert info.value.value == "-3"
    assert "-3" in str(info.value)
    with pytest.raises(NaqConfigError, match="'http://h:1'"):
        NatsConfig(servers="http://h:1")


def test_url_credentials_are_masked_in_errors() -> None:
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(servers=f"http://bob:{SECRET}@h:1")
    assert_names(info.value, "servers", "http://bob:***@h:1")
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(servers=f"nats://{SECRET}@h:99999")
    assert_names(info.value, "servers", "nats://***@h:99999")
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(servers=[f"nats://u:{SECRET}@a", "ws://b"])
    assert_names(info.value, "cannot mix", "nats://u:***@a:4222")


def test_auth_combinations(tmp_path: Path) -> None:
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(password=SECRET)
    assert_names(info.value, "password is set but user is not")
    assert info.value.field == "user"
    assert info.value.value is None  # nothing to show for a missing value
    assert "None" not in str(info.value)
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(user="bob", token=SECRET)
    assert_names(info.value, "token", "either token or user/password", "'***'")
    with pytest.raises(NaqConfigError, match="either creds_file or nkeys_seed_file"):
        NatsConfig(creds_file=_file(tmp_path, "a.creds"), nkeys_seed_file=_file(tmp_path, "a.nk"))
    # a user alone is fine, and empty strings mean "not set"
    assert NatsConfig(user="bob").user == "bob"
    assert NatsConfig(user="", password="", token="").user is None


def test_paths_expand_user_and_accept_pathlike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _file(tmp_path, "u.creds")
    assert NatsConfig(creds_file="~/u.creds").creds_file == str(tmp_path / "u.creds")
    assert NatsConfig(creds_file=tmp_path / "u.creds").creds_file == str(tmp_path / "u.creds")
    assert NatsConfig(creds_file="").creds_file is None
    with pytest.raises(NaqConfigError, match="does not exist"):
        NatsConfig(creds_file=tmp_path)  # a directory is not a creds file


def test_creds_file_content_is_never_read_or_shown(tmp_path: Path) -> None:
    creds = _file(tmp_path, "u.creds", f"-----BEGIN USER NKEY SEED-----\n{SECRET}\n")
    cfg = NatsConfig(creds_file=creds)
    assert SECRET not in repr(cfg)
    assert creds in repr(cfg)


# -- TLS -----------------------------------------------------------------------------------------------


def test_tls_validation(tmp_path: Path) -> None:
    cert = _file(tmp_path, "c.pem")
    key = _file(tmp_path, "k.pem")
    with pytest.raises(NaqConfigError) as info:
        TLSConfig(cert_file=cert)
    assert_names(info.value, "tls.key_file", "tls.cert_file is set but tls.key_file is not")
    with pytest.raises(NaqConfigError) as info:
        TLSConfig(key_file=key)
    assert_names(info.value, "tls.cert_file", "tls.key_file is set but tls.cert_file is not")
    with pytest.raises(NaqConfigError) as info:
        TLSConfig(ca_file=tmp_path / "missing.pem")
    assert_names(info.value, "tls.ca_file", "missing.pem", "does not exist")
    with pytest.raises(TypeError, match=r"tls\.enabled must be true or false \(a bool\), got str"):
        TLSConfig(enabled="true")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tls\.handshake_first"):
        TLSConfig(handshake_first=1)  # type: ignore[arg-type]
    tls = TLSConfig(cert_file=cert, key_file=key)
    assert tls.configured
    assert not tls.enabled
    assert not TLSConfig().configured


def test_tls_from_mapping_and_scheme(tmp_path: Path) -> None:
    ca = _file(tmp_path, "ca.pem")
    cfg = NatsConfig(tls={"ca_file": ca})
    assert cfg.tls == TLSConfig(ca_file=ca)
    assert cfg.uses_tls
    assert NatsConfig(servers="tls://h").uses_tls
    assert NatsConfig(servers="wss://h").uses_tls
    assert not NatsConfig(servers="ws://h").uses_tls
    # handshake_first is fine with a tls:// server
    assert NatsConfig(servers="tls://h", tls={"handshake_first": True}).tls.handshake_first


def test_ssl_context_with_real_certificates(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("client@example.org")
    cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert_file))
    client.private_key_pem.write_to_path(str(key_file))

    context = NatsConfig(tls=TLSConfig(ca_file=ca_file, cert_file=cert_file, key_file=key_file)).ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert len(context.get_ca_certs()) == 1  # our CA only, not the system store

    default = NatsConfig(tls=TLSConfig(enabled=True)).ssl_context()
    assert isinstance(default, ssl.SSLContext)
    assert default.verify_mode == ssl.CERT_REQUIRED
    assert isinstance(NatsConfig(servers="tls://h").ssl_context(), ssl.SSLContext)


def test_ssl_context_bad_pem_files(tmp_path: Path) -> None:
    bad = _file(tmp_path, "bad.pem", "not a certificate")
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(tls={"ca_file": bad}).ssl_context()
    assert_names(info.value, "tls.ca_file", "bad.pem", "cannot load CA file")
    with pytest.raises(NaqConfigError) as info:
        NatsConfig(tls={"cert_file": bad, "key_file": bad}).ssl_context()
    assert_names(info.value, "tls.cert_file", "cannot load client certificate")


# -- repr / masking ------------------------------------------------------------------------------------


def test_repr_and_str_mask_secrets() -> None:
    cfg = NatsConfig(
        servers=[f"nats://bob:{SECRET}@a:1", f"nats://{SECRET}x@b:2"], user="bob", password=SECRET
    )
    for text in (repr(cfg), str(cfg), repr(Config(cfg, {"p": cfg})), str(Config(cfg))):
        assert SECRET not in text
        assert "password='***'" in text
        assert "nats://bob:***@a:1" in text
        assert "nats://***@b:2" in text
    token_cfg = NatsConfig(token=SECRET)
    assert SECRET not in repr(token_cfg)
    assert "token='***'" in repr(token_cfg)
    assert "password=None" in repr(token_cfg)


def test_redacted_servers_and_secret_values() -> None:
    cfg = NatsConfig(servers=["nats://bob:pw1@a:1", "nats://tok1@b:2", "c:3"], user="u", password="pw2")
    assert cfg.redacted_servers() == ("nats://bob:***@a:1", "nats://***@b:2", "nats://c:3")
    assert set(cfg.secret_values()) == {"pw1", "tok1", "pw2"}
    assert (
        cfg.redact("server said pw2 and tok1 via nats://x:pw3@h")
        == "server said *** and *** via nats://x:***@h"
    )
    assert NatsConfig(token="t0k").secret_values() == ("t0k",)


# -- immutability, equality, replace ---------------------------------------------------------------------


def test_frozen_hashable_and_equal() -> None:
    cfg = NatsConfig(servers="a:1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.client_name = "x"  # type: ignore[misc]
    assert cfg == NatsConfig(servers=["nats://a:1"])
    assert hash(cfg) == hash(NatsConfig(servers="nats://a:1"))
    assert {cfg: 1}[NatsConfig(servers="a:1")] == 1
    assert cfg != NatsConfig(servers="a:2")


def test_pickle_and_copy_round_trip() -> None:
    nats_cfg = NatsConfig(servers="a:1", user="u", password=SECRET, tls={"enabled": True})
    cfg = Config(nats_cfg, {"p": nats_cfg.replace(client_name="p")})
    for clone in (pickle.loads(pickle.dumps(cfg)), copy.copy(cfg), copy.deepcopy(cfg)):
        assert clone == cfg
        assert clone.profile("p").client_name == "p"
    assert pickle.loads(pickle.dumps(nats_cfg)) == nats_cfg
    assert copy.deepcopy(nats_cfg) == nats_cfg


def test_replace_is_validated(tmp_path: Path) -> None:
    cfg = NatsConfig(client_name="a")
    changed = cfg.replace(client_name="b", servers="x:1")
    assert (changed.client_name, changed.servers) == ("b", ("nats://x:1",))
    assert cfg.client_name == "a"
    with pytest.raises(NaqConfigError, match="connection_timeout"):
        cfg.replace(connection_timeout=0)
    with pytest.raises(TypeError, match="did you mean 'connection_timeout'"):
        cfg.replace(conection_timeout=1)
    ca = _file(tmp_path, "ca.pem")
    assert cfg.replace(tls={"ca_file": ca}).tls.ca_file == ca


# -- Config ------------------------------------------------------------------------------------------------


def test_config_profiles() -> None:
    a, b = NatsConfig(servers="a:1"), NatsConfig(servers="b:1")
    cfg = Config(a, {"beta": b, "alpha": a})
    assert cfg.profile("beta") is b
    assert cfg.profiles["alpha"] is a
    with pytest.raises(NaqConfigError) as info:
        cfg.profile("bta")
    message = str(info.value)
    assert "'bta'" in message
    assert "known profiles: 'alpha', 'beta'" in message
    assert "did you mean 'beta'" in message
    with pytest.raises(NaqConfigError, match="known profiles: none"):
        Config().profile("x")
    with pytest.raises(TypeError):
        cfg.profiles["new"] = a  # type: ignore[index]
    assert Config().nats == NatsConfig()
    assert Config(a, {"x": b}) == Config(a, {"x": b})
    assert hash(Config(a, {"x": b})) == hash(Config(a, {"x": b}))


def test_config_rejects_bad_members() -> None:
    with pytest.raises(TypeError, match="NatsConfig"):
        Config("nats://h")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="profile 'p'"):
        Config(NatsConfig(), {"p": "nats://h"})  # type: ignore[dict-item]
    with pytest.raises(NaqConfigError, match="profile names"):
        Config(NatsConfig(), {"": NatsConfig()})
