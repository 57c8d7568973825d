"""Configuration files: layout, profiles, ${VAR} interpolation, unknown keys, JSON, missing PyYAML."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from naq.connection.config import NatsConfig, TLSConfig, load_config
from naq.connection.errors import NaqConfigError

pytestmark = pytest.mark.unit

SECRET = "File-S3cret-Value"


def write(tmp_path: Path, text: str, name: str = "naq.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path: Path, environ: dict[str, str] | None = None) -> NaqConfigError:
    with pytest.raises(NaqConfigError) as info:
        load_config(path, environ=environ or {})
    return info.value


def test_full_file_sets_every_key(tmp_path: Path) -> None:
    for name in ("ca.pem", "c.pem", "k.pem", "u.creds"):
        (tmp_path / name).write_text("x")
    path = write(
        tmp_path,
        f"""
        nats:
          servers: [a:1, "nats://b:2"]
          client_name: svc
          max_reconnect_attempts: 0
          reconnect_time_wait: 0.5
          connection_timeout: 3
          drain_timeout: 4
          flush_timeout: 1.5
          ping_interval: 9
          max_outstanding_pings: 4
          allow_reconnect: false
          user: bob
          password: {SECRET}
          creds_file: {tmp_path / "u.creds"}
          reuse_connections: true
          tls:
            enabled: true
            cert_file: {tmp_path / "c.pem"}
            key_file: {tmp_path / "k.pem"}
            ca_file: {tmp_path / "ca.pem"}
            handshake_first: true
        """,
    )
    cfg = load_config(path, environ={}).nats
    assert cfg == NatsConfig(
        servers=("nats://a:1", "nats://b:2"),
        client_name="svc",
        max_reconnect_attempts=0,
        reconnect_time_wait=0.5,
        connection_timeout=3.0,
        drain_timeout=4.0,
        flush_timeout=1.5,
        ping_interval=9.0,
        max_outstanding_pings=4,
        allow_reconnect=False,
        user="bob",
        password=SECRET,
        creds_file=str(tmp_path / "u.creds"),
        reuse_connections=True,
        tls=TLSConfig(
            enabled=True,
            cert_file=str(tmp_path / "c.pem"),
            key_file=str(tmp_path / "k.pem"),
            ca_file=str(tmp_path / "ca.pem"),
            handshake_first=True,
        ),
    )
    assert SECRET not in repr(cfg)


def test_token_and_nkeys_from_file(tmp_path: Path) -> None:
    (tmp_path / "u.nk").write_text("x")
    path = write(tmp_path, f"nats:\n  token: {SECRET}\n  nkeys_seed_file: {tmp_path / 'u.nk'}\n")
    cfg = load_config(path, environ={}).nats
    assert cfg.token == SECRET
    assert cfg.nkeys_seed_file == str(tmp_path / "u.nk")


def test_servers_as_one_string_and_numeric_password(tmp_path: Path) -> None:
    path = write(tmp_path, "nats:\n  servers: nats://a:1,nats://b:2\n  user: u\n  password: 12345\n")
    cfg = load_config(path, environ={}).nats
    assert cfg.servers == ("nats://a:1", "nats://b:2")
    assert cfg.password == "12345"


def test_empty_file_and_empty_sections_give_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), environ={}).nats == NatsConfig()
    assert load_config(write(tmp_path, "nats:\nprofiles:\n"), environ={}).nats == NatsConfig()
    assert load_config(write(tmp_path, "nats:\n  tls:\n"), environ={}).nats == NatsConfig()


# -- interpolation -----------------------------------------------------------------------------------


def test_interpolation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        nats:
          servers: ["nats://${HOST}:${PORT:4333}", "${OTHER:-b}:1"]
          client_name: "svc-${SUFFIX:}$${LITERAL}"
          connection_timeout: ${TIMEOUT:7}
          allow_reconnect: ${RECONNECT:off}
          user: ${NAQ_USER}
          password: ${NAQ_PW}
        """,
    )
    env = {"HOST": "h", "NAQ_USER": "bob", "NAQ_PW": SECRET, "TIMEOUT": ""}
    cfg = load_config(path, environ=env).nats
    assert cfg.servers == ("nats://h:4333", "nats://b:1")
    assert cfg.client_name == "svc-${LITERAL}"
    assert cfg.connection_timeout == 7.0  # an empty variable takes the default
    assert cfg.allow_reconnect is False
    assert (cfg.user, cfg.password) == ("bob", SECRET)
    assert SECRET not in repr(cfg)
    assert SECRET not in str(load_config(path, environ=env))
    env.update(PORT="1", OTHER="c", SUFFIX="x", TIMEOUT="2", RECONNECT="yes")
    cfg = load_config(path, environ=env).nats
    assert cfg.servers == ("nats://h:1", "nats://c:1")
    assert cfg.client_name == "svc-x${LITERAL}"
    assert (cfg.connection_timeout, cfg.allow_reconnect) == (2.0, True)


def test_interpolated_server_list(tmp_path: Path) -> None:
    path = write(tmp_path, 'nats:\n  servers: ["${NATS_URLS}"]\n')
    cfg = load_config(path, environ={"NATS_URLS": "a:1,nats://b:2"}).nats
    assert cfg.servers == ("nats://a:1", "nats://b:2")


def test_unset_variable_without_default(tmp_path: Path) -> None:
    path = write(tmp_path, "nats:\n  user: bob\n  password: ${NAQ_PW}\n")
    err = load_error(path)
    message = str(err)
    assert "${NAQ_PW}" in message
    assert "environment variable NAQ_PW is not set" in message
    assert "nats.password" in message
    assert str(path) in message
    assert err.field == "nats.password"


def test_interpolated_value_errors_name_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "nats:\n  connection_timeout: ${T}\n")
    err = load_error(path, {"T": "soon"})
    assert f"{path}: nats.connection_timeout" in str(err)
    assert "'soon'" in str(err)


@pytest.mark.parametrize("value", ["'${1BAD}'", "'${}'", "'${UNCLOSED'", "'a ${B C}'"])
def test_malformed_interpolation(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"nats:\n  client_name: {value}\n")
    err = load_error(path)
    assert "malformed interpolation" in str(err)
    assert "nats.client_name" in str(err)


def test_non_string_values_are_not_interpolated(tmp_path: Path) -> None:
    path = write(tmp_path, "nats:\n  max_reconnect_attempts: 3\n  client_name: plain\n")
    cfg = load_config(path, environ={}).nats
    assert (cfg.max_reconnect_attempts, cfg.client_name) == (3, "plain")


# -- unknown keys and bad shapes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("nats:\n  conection_timeout: 3\n", "nats.conection_timeout", "did you mean 'connection_timeout'"),
        ("nats:\n  tls:\n    ca_fle: x\n", "nats.tls.ca_fle", "did you mean 'ca_file'"),
        ("nat:\n  servers: a\n", "nat", "did you mean 'nats'"),
        ("nats: {}\nprofile: {}\n", "profile", "did you mean 'profiles'"),
        ("nats: {}\nservers: a\n", "servers", "move it under 'nats:'"),
        ("nats: {}\nzzzzzz: 1\n", "zzzzzz", "known keys: nats, profiles"),
        ("profiles:\n  p:\n    pasword: x\n", "profiles.p.pasword", "did you mean 'password'"),
        ("profiles:\n  p:\n    tls: {enabld: true}\n", "profiles.p.tls.enabld", "did you mean 'enabled'"),
    ],
)
def test_unknown_keys_name_file_and_key_path(tmp_path: Path, text: str, key: str, hint: str) -> None:
    path = write(tmp_path, text)
    err = load_error(path)
    assert f"unknown key {key!r}" in str(err)
    assert str(path) in str(err)
    assert hint in str(err)
    assert err.field == key


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- a\n- b\n", "the top level must be a mapping"),
        ("nats: [a]\n", "nats: must be a mapping"),
        ("nats:\n  tls: yes\n", "nats.tls: must be a mapping"),
        ("profiles: [a]\n", "profiles: must be a mapping"),
        ("profiles:\n  1: {}\n", "profile names must be non-empty strings"),
        ("profiles:\n  p: 5\n", "profiles.p: must be a mapping"),
        ("nats:\n  servers: {a: 1}\n", "must be a URL string or a list"),
        ("nats:\n  servers: [a, 1]\n", "must be a URL string or a list"),
        ("nats:\n  connection_timeout: [1]\n", "finite number"),
        ("nats:\n  connection_timeout: .nan\n", "finite number"),
        ("nats:\n  max_reconnect_attempts: 1.5\n", "must be an integer"),
        ("nats:\n  max_reconnect_attempts: true\n", "must be an integer"),
        ("nats:\n  allow_reconnect: maybe\n", "must be a boolean"),
        ("nats:\n  allow_reconnect: 1\n", "must be a boolean"),
        ("nats:\n  client_name: true\n", "must be a string"),
        ("nats:\n  client_name: [a]\n", "must be a string"),
        ("nats:\n  connection_timeout: 0\n", "must be > 0"),
        ("nats:\n  tls:\n    ca_file: /nonexistent/ca.pem\n", "does not exist"),
    ],
)
def test_bad_shapes_and_values(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    err = load_error(path)
    assert fragment in str(err)
    assert str(path) in str(err)


def test_value_errors_carry_file_and_key_as_source(tmp_path: Path) -> None:
    path = write(tmp_path, "nats:\n  connection_timeout: -2\n")
    err = load_error(path)
    assert err.source == f"{path}: nats.connection_timeout"
    assert err.field == "connection_timeout"
    assert err.value == "-2.0"
    path = write(tmp_path, "profiles:\n  p:\n    drain_timeout: 0\n")
    err = load_error(path)
    assert err.source == f"{path}: profiles.p.drain_timeout"


def test_secrets_masked_in_file_errors(tmp_path: Path) -> None:
    path = write(tmp_path, f"nats:\n  password: {SECRET}\n")
    err = load_error(path)  # password without user
    assert "nats.password" in str(err)
    assert SECRET not in str(err)
    path = write(tmp_path, f"nats:\n  servers: http://u:{SECRET}@h:1\n")
    err = load_error(path)
    assert "http://u:***@h:1" in str(err)
    assert SECRET not in str(err)


def test_yaml_syntax_error_gives_position_not_content(tmp_path: Path) -> None:
    path = write(tmp_path, f'nats:\n  user: bob\n  password: "{SECRET}\n  client_name: x\n  : : :\n')
    err = load_error(path)
    assert "invalid YAML" in str(err)
    assert "line" in str(err)
    assert str(path) in str(err)
    assert SECRET not in str(err)


# -- legacy flat shape ---------------------------------------------------------------------------------


def test_legacy_flat_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "servers: [a:1]\nclient_name: legacy\ntls: {enabled: true}\n")
    cfg = load_config(path, environ={})
    assert cfg.nats.servers == ("nats://a:1",)
    assert cfg.nats.client_name == "legacy"
    assert cfg.nats.tls.enabled
    assert dict(cfg.profiles) == {}


# -- profiles ------------------------------------------------------------------------------------------


def test_profiles_inherit_and_override(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        nats:
          servers: main:4222
          client_name: svc
          user: bob
          password: pw
          tls: {enabled: true}
        profiles:
          analytics:
            servers: [analytics:4222]
            tls: {handshake_first: true}
          tokens:
            user: ~
            password: ~
            token: t0k
          same:
        """,
    )
    cfg = load_config(path, environ={})
    assert cfg.nats.servers == ("nats://main:4222",)
    analytics = cfg.profile("analytics")
    assert analytics.servers == ("nats://analytics:4222",)
    assert analytics.client_name == "svc"
    assert (analytics.user, analytics.password) == ("bob", "pw")
    assert analytics.tls == TLSConfig(enabled=True, handshake_first=True)  # tls merged key by key
    tokens = cfg.profile("tokens")
    assert (tokens.user, tokens.password, tokens.token) == (None, None, "t0k")
    assert cfg.profile("same") == cfg.nats
    assert sorted(cfg.profiles) == ["analytics", "same", "tokens"]


def test_profile_keys_beat_environment_which_beats_nats_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        """
        nats: {client_name: file, connection_timeout: 4}
        profiles:
          p: {client_name: profile}
        """,
    )
    env = {"NAQ_NATS_CLIENT_NAME": "env", "NAQ_NATS_CONNECTION_TIMEOUT": "6"}
    cfg = load_config(path, environ=env)
    assert cfg.nats.client_name == "env"
    assert cfg.nats.connection_timeout == 6.0
    assert cfg.profile("p").client_name == "profile"
    assert cfg.profile("p").connection_timeout == 6.0  # inherited from the effective base


def test_null_in_nats_section_means_default(tmp_path: Path) -> None:
    path = write(tmp_path, "nats:\n  client_name: ~\n  servers: ~\n")
    assert load_config(path, environ={}).nats == NatsConfig()


# -- JSON, file selection, PyYAML missing -----------------------------------------------------------------


def test_json_file(tmp_path: Path) -> None:
    path = write(tmp_path, '{"nats": {"servers": ["a:1"], "client_name": "${N:js}"}}', name="naq.json")
    cfg = load_config(path, environ={})
    assert cfg.nats.servers == ("nats://a:1",)
    assert cfg.nats.client_name == "js"
    assert load_config(write(tmp_path, "  ", name="empty.json"), environ={}).nats == NatsConfig()


@pytest.mark.parametrize(
    ("name", "text", "key", "line", "first"),
    [
        ("dup.yaml", "nats:\n  servers: a:1\n  client_name: x\n  servers: b:1\n", "servers", 4, 2),
        ("dup.yaml", "nats:\n  tls: {enabled: true, enabled: false}\n", "enabled", 2, 2),
        ("dup.yaml", "nats: {}\nprofiles: {}\nnats: {}\n", "nats", 3, 1),
        (
            "dup.json",
            '{"nats": {"servers": "a:1",\n "tls": {"enabled": true},\n "servers": "b:1"}}',
            "servers",
            3,
            1,
        ),
        (
            "dup.json",
            '{"nats": {},\n "profiles": {"p": {"user": "u"}, "q": {"user": "v",\n "user": "w"}}}',
            "user",
            3,
            2,
        ),
    ],
)
def test_duplicate_keys_name_the_key_and_line(
    tmp_path: Path, name: str, text: str, key: str, line: int, first: int
) -> None:
    err = load_error(write(tmp_path, text, name=name))
    assert f"duplicate key {key!r} at line {line} (first set at line {first})" in str(err)
    assert err.field == key


def test_the_same_key_in_different_mappings_is_fine(tmp_path: Path) -> None:
    text = (
        '{"nats": {"user": "a", "tls": {"enabled": false}},\n'
        ' "profiles": {"p": {"user": "b"}, "q": {"user": "c"}}}'
    )
    assert load_config(write(tmp_path, text, name="ok.json"), environ={}).profile("q").user == "c"
    yaml_text = "nats: {user: a}\nprofiles:\n  p: {user: b}\n  q: {user: c, servers: [x:1, x:1]}\n"
    assert load_config(write(tmp_path, yaml_text), environ={}).profile("p").user == "b"


def test_invalid_json(tmp_path: Path) -> None:
    path = write(tmp_path, f'{{"nats": {{"password": "{SECRET}",}}}}', name="bad.JSON")
    err = load_error(path)
    assert "invalid JSON" in str(err)
    assert SECRET not in str(err)


def test_missing_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` raise ImportError
    err = load_error(write(tmp_path, "nats: {}\n"))
    assert "pip install 'naq-connection-core[yaml]'" in str(err)
    assert "naq.yaml" in str(err)
    # JSON needs no PyYAML
    assert load_config(write(tmp_path, "{}", name="c.json"), environ={}).nats == NatsConfig()


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    err = load_error(tmp_path / "nope.yaml")
    assert "does not exist" in str(err)
    assert "nope.yaml" in str(err)
    assert "load_config(path)" in str(err)
    err = load_error(tmp_path)  # a directory
    assert "cannot read config file" in str(err)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert "cannot read config file" in str(load_error(binary))


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "nats:\n  client_name: from-file\n")
    monkeypatch.setenv("NAQ_CONFIG_FILE", str(path))
    assert load_config().nats.client_name == "from-file"
    # an explicit path wins over NAQ_CONFIG_FILE
    other = write(tmp_path, "nats:\n  client_name: explicit\n", name="other.yaml")
    assert load_config(other).nats.client_name == "explicit"
    monkeypatch.setenv("NAQ_CONFIG_FILE", str(tmp_path / "missing.yaml"))
    with pytest.raises(NaqConfigError) as info:
        load_config()
    assert "environment variable NAQ_CONFIG_FILE" in str(info.value)
    assert "missing.yaml" in str(info.value)
    monkeypatch.setenv("NAQ_CONFIG_FILE", "")
    assert load_config().nats == NatsConfig()
