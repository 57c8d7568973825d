"""Typed, validated, immutable configuration for NATS connections, and the process-wide config.

Precedence, lowest to highest: defaults < config file (``load_config(path)``, else ``NAQ_CONFIG_FILE``)
< environment (``NAQ_NATS_URL``, ``NAQ_NATS_<FIELD>``) < :func:`set_config`.

The global config is cached: the first :func:`get_config` call reads the file and the environment
once; later changes to either are not seen until :func:`reset_config` (which also drops a
:func:`set_config` override). :func:`load_config` always builds a fresh :class:`Config` and never
touches the cache.

Every invalid value raises :class:`~naq.connection.errors.NaqConfigError` naming the field, the
source (argument, environment variable, or file and key) and the value, with secrets masked.
``repr()``/``str()`` of every config object mask passwords, tokens and URL credentials.

Fields (file key under ``nats:`` / environment variable / default):

=========================  ===================================  =========================
servers                    NAQ_NATS_URL (comma-separated)       ("nats://localhost:4222",)
client_name                NAQ_NATS_CLIENT_NAME                 "naq-client"
max_reconnect_attempts     NAQ_NATS_MAX_RECONNECT_ATTEMPTS      60 (0 or -1: forever)
reconnect_time_wait        NAQ_NATS_RECONNECT_TIME_WAIT         2.0 s (>= 0)
connection_timeout         NAQ_NATS_CONNECTION_TIMEOUT          10.0 s (> 0)
drain_timeout              NAQ_NATS_DRAIN_TIMEOUT               30.0 s (> 0)
flush_timeout              NAQ_NATS_FLUSH_TIMEOUT               5.0 s (> 0)
ping_interval              NAQ_NATS_PING_INTERVAL               120.0 s (> 0)
max_outstanding_pings      NAQ_NATS_MAX_OUTSTANDING_PINGS       2 (>= 1)
allow_reconnect            NAQ_NATS_ALLOW_RECONNECT             true
user / password            NAQ_NATS_USER / NAQ_NATS_PASSWORD    none
token                      NAQ_NATS_TOKEN                       none
creds_file                 NAQ_NATS_CREDS_FILE                  none
nkeys_seed_file            NAQ_NATS_NKEYS_SEED_FILE             none
reuse_connections          NAQ_NATS_REUSE_CONNECTIONS           false
tls.enabled                NAQ_NATS_TLS_ENABLED                 false
tls.cert_file / key_file   NAQ_NATS_TLS_CERT_FILE / _KEY_FILE   none
tls.ca_file                NAQ_NATS_TLS_CA_FILE                 none (system trust store)
tls.handshake_first        NAQ_NATS_TLS_HANDSHAKE_FIRST         false
=========================  ===================================  =========================

``NAQ_CONFIG_FILE`` names the config file; see :mod:`naq.connection._file` for its layout and
:mod:`naq.connection._env` for how variables are read.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import ssl
import threading
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from naq.connection._env import read_env
from naq.connection._fields import Layer, config_error
from naq.connection._file import read_config_file
from naq.connection._redact import MASK, redact, redact_url, register_secrets
from naq.connection._validate import (
    PathLike,
    check_number,
    check_optional_str,
    check_path,
    source_of,
    split_servers,
    wrong_type,
)
from naq.connection.errors import NaqConfigError

__all__ = [
    "DEFAULT_SERVER",
    "Config",
    "NatsConfig",
    "TLSConfig",
    "get_config",
    "load_config",
    "redact",
    "redact_url",
    "reset_config",
    "resolve_nats_config",
    "set_config",
]

DEFAULT_SERVER = "nats://localhost:4222"
CONFIG_FILE_ENV = "NAQ_CONFIG_FILE"
_SSL_SOURCE = "NatsConfig.ssl_context()"


@dataclass(frozen=True, init=False)
class TLSConfig:
    """TLS settings. TLS is used when ``enabled`` is true, when any file is set, or when a server URL
    uses ``tls://`` or ``wss://``. ``cert_file`` and ``key_file`` (client certificate) go together;
    ``ca_file`` replaces the system trust store; ``handshake_first`` does the TLS handshake before the
    NATS INFO exchange (servers configured with ``handshake_first``)."""

    enabled: bool
    cert_file: str | None
    key_file: str | None
    ca_file: str | None
    handshake_first: bool

    def __init__(
        self,
        enabled: bool = False,
        cert_file: PathLike | None = None,
        key_file: PathLike | None = None,
        ca_file: PathLike | None = None,
        handshake_first: bool = False,
        *,
        _sources: Mapping[str, str] | None = None,
    ) -> None:
        for name, flag in (("tls.enabled", enabled), ("tls.handshake_first", handshake_first)):
            if not isinstance(flag, bool):
                raise wrong_type(name, source_of(_sources, name), flag, "true or false (a bool)")
        cert = check_path("tls.cert_file", cert_file, _sources)
        key = check_path("tls.key_file", key_file, _sources)
        if (cert is None) != (key is None):
            missing, given = (
                ("tls.key_file", "tls.cert_file") if key is None else ("tls.cert_file", "tls.key_file")
            )
            raise config_error(
                missing,
                source_of(_sources, given),
                None,
                f"{given} is set but {missing} is not: a client certificate needs both",
            )
        object.__setattr__(self, "enabled", enabled)
        object.__setattr__(self, "cert_file", cert)
        object.__setattr__(self, "key_file", key)
        object.__setattr__(self, "ca_file", check_path("tls.ca_file", ca_file, _sources))
        object.__setattr__(self, "handshake_first", handshake_first)

    @property
    def configured(self) -> bool:
        """True when TLS was asked for here (``enabled`` or any file set)."""
        return self.enabled or any((self.cert_file, self.key_file, self.ca_file))

    def __repr__(self) -> str:
        return (
            f"TLSConfig(enabled={self.enabled!r}, cert_file={self.cert_file!r}, key_file={self.key_file!r}, "
            f"ca_file={self.ca_file!r}, handshake_first={self.handshake_first!r})"
        )


@dataclass(frozen=True, init=False)
class NatsConfig:
    """How to connect to NATS. Immutable and validated on construction; see the module docstring.

    ``servers`` accepts one URL, a comma-separated string or a list, and is stored as a tuple of
    normalised URLs (``host:port`` gets ``nats://``; nats:// and tls:// get port 4222 when none is
    given). ``max_reconnect_attempts`` (default 60, nats-py's own: with ``reconnect_time_wait`` 2 s a
    held client rides out about two minutes of outage) of 0 or -1 means "retry forever" in nats-py
    (after a successful connect; nats-py checks the limit only when it is > 0; initial connects are
    bounded by ``connection_timeout``). ``reconnect_time_wait`` may be 0;
    every other duration must be > 0 seconds. ``user``/``password`` and ``token`` are alternatives;
    ``creds_file`` and ``nkeys_seed_file`` are paths (their content is never read here or printed).
    ``reuse_connections`` lets the context managers share a per-event-loop pooled connection.
    """

    servers: tuple[str, ...]
    client_name: str
    max_reconnect_attempts: int
    reconnect_time_wait: float
    connection_timeout: float
    drain_timeout: float
    flush_timeout: float
    ping_interval: float
    max_outstanding_pings: int
    allow_reconnect: bool
    user: str | None
    password: str | None
    token: str | None
    creds_file: str | None
    nkeys_seed_file: str | None
    tls: TLSConfig
    reuse_connections: bool

    def __init__(
        self,
        servers: str | Sequence[str] = (DEFAULT_SERVER,),
        client_name: str = "naq-client",
        max_reconnect_attempts: int = 60,
        reconnect_time_wait: float = 2.0,
        connection_timeout: float = 10.0,
        drain_timeout: float = 30.0,
        flush_timeout: float = 5.0,
        ping_interval: float = 120.0,
        max_outstanding_pings: int = 2,
        allow_reconnect: bool = True,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        creds_file: PathLike | None = None,
        nkeys_seed_file: PathLike | None = None,
        tls: TLSConfig | Mapping[str, Any] | None = None,
        reuse_connections: bool = False,
        *,
        _sources: Mapping[str, str] | None = None,
    ) -> None:
        src = _sources
        set_ = object.__setattr__
        set_(self, "servers", split_servers(servers, source_of(src, "servers")))
        if not isinstance(client_name, str):
            raise wrong_type("client_name", source_of(src, "client_name"), client_name, "a string")
        if not client_name.strip():
            raise config_error(
                "client_name", source_of(src, "client_name"), client_name, "must be a non-empty string"
            )
        set_(self, "client_name", client_name)
        set_(
            self,
            "max_reconnect_attempts",
            check_number(
                "max_reconnect_attempts",
                max_reconnect_attempts,
                src,
                integer=True,
                minimum=-1,
                inclusive=True,
                meaning="0 or -1 retry forever",
            ),
        )
        set_(
            self,
            "reconnect_time_wait",
            check_number(
                "reconnect_time_wait",
                reconnect_time_wait,
                src,
                integer=False,
                minimum=0,
                inclusive=True,
                meaning="seconds between reconnect attempts",
            ),
        )
        for name, value in (
            ("connection_timeout", connection_timeout),
            ("drain_timeout", drain_timeout),
            ("flush_timeout", flush_timeout),
            ("ping_interval", ping_interval),
        ):
            set_(
                self,
                name,
                check_number(name, value, src, integer=False, minimum=0, inclusive=False, meaning="seconds"),
            )
        set_(
            self,
            "max_outstanding_pings",
            check_number(
                "max_outstanding_pings",
                max_outstanding_pings,
                src,
                integer=True,
                minimum=1,
                inclusive=True,
                meaning="unanswered pings before the connection counts as stale",
            ),
        )
        for name, flag in (("allow_reconnect", allow_reconnect), ("reuse_connections", reuse_connections)):
            if not isinstance(flag, bool):
                raise wrong_type(name, source_of(src, name), flag, "true or false (a bool)")
            set_(self, name, flag)
        set_(self, "user", check_optional_str("user", user, src))
        set_(self, "password", check_optional_str("password", password, src))
        set_(self, "token", check_optional_str("token", token, src))
        if self.password is not None and self.user is None:
            raise config_error("user", source_of(src, "password"), None, "password is set but user is not")
        if self.token is not None and self.user is not None:
            raise config_error(
                "token", source_of(src, "token"), self.token, "use either token or user/password, not both"
            )
        register_secrets(self.secret_values())  # so that redact() masks them wherever they turn up
        set_(self, "creds_file", check_path("creds_file", creds_file, src))
        set_(self, "nkeys_seed_file", check_path("nkeys_seed_file", nkeys_seed_file, src))
        if self.creds_file is not None and self.nkeys_seed_file is not None:
            raise config_error(
                "nkeys_seed_file",
                source_of(src, "nkeys_seed_file"),
                self.nkeys_seed_file,
                "use either creds_file or nkeys_seed_file, not both",
            )
        set_(self, "tls", _make_tls(tls, src))
        if self.tls.handshake_first and not self.uses_tls:
            raise config_error(
                "tls.handshake_first",
                source_of(src, "tls.handshake_first"),
                True,
                "needs TLS: set tls.enabled or use tls:// servers",
            )

    # -- derived views -------------------------------------------------------------------------------

    @property
    def uses_tls(self) -> bool:
        """True when connections use TLS (TLSConfig says so, or a server URL is tls:// or wss://)."""
        return self.tls.configured or any(s.startswith(("tls://", "wss://")) for s in self.servers)

    def redacted_servers(self) -> tuple[str, ...]:
        """The server URLs with credentials masked: safe to log, raise and export."""
        return tuple(redact_url(s) for s in self.servers)

    def secret_values(self) -> tuple[str, ...]:
        """Every secret this config holds (password, token, URL passwords/tokens), for :func:`redact`."""
        found = [value for value in (self.password, self.token) if value]
        for server in self.servers:
            parts = urlsplit(server)
            if parts.password:
                found.append(parts.password)
            elif parts.username:
                found.append(parts.username)  # nats-py sends a lone user part as a token
        return tuple(found)

    def redact(self, text: str) -> str:
        """:func:`redact` with this config's secrets: use it on any message about this connection."""
        return redact(text, secrets=self.secret_values())

    def replace(self, **changes: Any) -> NatsConfig:
        """A copy with ``changes`` applied, validated like a new config (``tls`` may be a mapping)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            hints = [
                f"{name!r}{_did_you_mean(name, (f.name for f in dataclasses.fields(self)))}"
                for name in unknown
            ]
            raise TypeError(f"NatsConfig has no field {', '.join(hints)}")
        return dataclasses.replace(self, **changes)

    def ssl_context(self) -> ssl.SSLContext | None:
        """An ``ssl.SSLContext`` for nats-py's ``tls=`` keyword, or None when TLS is not used.

        Verifies the server against ``tls.ca_file`` (else the system trust store) and presents
        ``tls.cert_file``/``tls.key_file`` when set. A file that is not valid PEM raises NaqConfigError.
        """
        if not self.uses_tls:
            return None
        tls = self.tls
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise config_error(
                "tls.ca_file", _SSL_SOURCE, tls.ca_file, f"cannot load CA file: {exc}"
            ) from None
        if tls.cert_file and tls.key_file:
            try:
                context.load_cert_chain(tls.cert_file, tls.key_file)
            except (ssl.SSLError, OSError) as exc:
                raise config_error(
                    "tls.cert_file",
                    _SSL_SOURCE,
                    tls.cert_file,
                    f"cannot load client certificate/key ({tls.key_file!r}): {exc}",
                ) from None
        return context

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "servers":
                shown = repr(self.redacted_servers())
            elif f.name in ("password", "token") and value is not None:
                shown = repr(MASK)
            else:
                shown = repr(value)
            parts.append(f"{f.name}={shown}")
        return f"NatsConfig({', '.join(parts)})"

    __str__ = __repr__


def _make_tls(value: TLSConfig | Mapping[str, Any] | None, sources: Mapping[str, str] | None) -> TLSConfig:
    if value is None:
        return TLSConfig()
    if isinstance(value, TLSConfig):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in dataclasses.fields(TLSConfig)}
        unknown = sorted(set(value) - known)
        if unknown:
            name = str(unknown[0])
            raise config_error(
                f"tls.{name}",
                source_of(sources, "tls"),
                value[name],
                f"unknown TLS setting{_did_you_mean(name, known)}",
            )
        return TLSConfig(**value, _sources=sources)
    raise wrong_type("tls", source_of(sources, "tls"), value, "a TLSConfig or a mapping")


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True, init=False)
class Config:
    """The whole configuration: the default connection (``nats``) plus named ``profiles``.

    Profiles are complete :class:`NatsConfig` objects (in files they inherit every key they do not set
    from ``nats:``); the decorators' ``config_key`` picks one with :meth:`profile`.
    """

    nats: NatsConfig
    profiles: Mapping[str, NatsConfig]

    def __init__(
        self, nats: NatsConfig | None = None, profiles: Mapping[str, NatsConfig] | None = None
    ) -> None:
        if nats is None:
            nats = NatsConfig()
        if not isinstance(nats, NatsConfig):
            raise TypeError(f"Config.nats must be a NatsConfig, got {type(nats).__name__}")
        given: object = profiles  # checked at run time: callers are not always type-checked
        if given is not None and not isinstance(given, Mapping):
            kind = type(given).__name__
            raise TypeError(f"Config.profiles must be a mapping of profile name -> NatsConfig, got {kind}")
        frozen: dict[str, NatsConfig] = {}
        for name, profile in (profiles or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"Config.profiles names must be strings, got {type(name).__name__}")
            if not name:
                raise config_error(
                    "profiles", "Config argument", name, "profile names must be non-empty strings"
                )
            if not isinstance(profile, NatsConfig):
                raise TypeError(f"profile {name!r} must be a NatsConfig, got {type(profile).__name__}")
            frozen[name] = profile
        object.__setattr__(self, "nats", nats)
        object.__setattr__(self, "profiles", types.MappingProxyType(frozen))

    def profile(self, name: str) -> NatsConfig:
        """The profile called ``name``; NaqConfigError listing the known names when there is none."""
        try:
            return self.profiles[name]
        except (KeyError, TypeError):
            known = ", ".join(repr(n) for n in sorted(self.profiles)) or "none"
            raise NaqConfigError(
                f"unknown connection profile {name!r}{_did_you_mean(str(name), self.profiles)}; "
                f"known profiles: {known}. Define profiles under 'profiles:' in the config file.",
                field="profiles",
                value=repr(name),
            ) from None

    def __hash__(self) -> int:
        return hash((self.nats, tuple(sorted(self.profiles.items()))))

    def __reduce__(self) -> tuple[type[Config], tuple[NatsConfig, dict[str, NatsConfig]]]:
        # the read-only profiles view cannot be pickled or copied as is
        return (Config, (self.nats, dict(self.profiles)))

    def __repr__(self) -> str:
        return f"Config(nats={self.nats!r}, profiles={dict(self.profiles)!r})"

    __str__ = __repr__


# -- building from layers ------------------------------------------------------------------------------


def _build_nats(layer: Layer) -> NatsConfig:
    """A NatsConfig from a merged layer; defaults fill what the layer does not set."""
    values: dict[str, Any] = {}
    tls: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (value, source) in layer.items():
        if value is None:  # explicitly "the default" (a null in a file)
            continue
        sources[name] = source
        if name.startswith("tls."):
            tls[name[4:]] = value
        else:
            values[name] = value
    if tls:
        sources.setdefault("tls", next(iter(sources[f"tls.{k}"] for k in tls)))
        values["tls"] = TLSConfig(**tls, _sources=sources)
    return NatsConfig(**values, _sources=sources)


def load_config(path: PathLike | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Build a fresh :class:`Config` from defaults, a config file and the environment.

    ``path`` is the YAML (or JSON) file; without it ``NAQ_CONFIG_FILE`` names one; without either only
    defaults and the environment count. ``environ`` replaces ``os.environ`` (for tests and tools).
    The global cache is neither read nor written.
    """
    env = os.environ if environ is None else environ
    base: Layer = {}
    profile_layers: dict[str, Layer] = {}
    if path is None and env.get(CONFIG_FILE_ENV):
        path = env[CONFIG_FILE_ENV]
        file_source = f"environment variable {CONFIG_FILE_ENV}"
    else:
        file_source = "load_config(path)"
    if path is not None:
        base, profile_layers = read_config_file(path, env, file_source)
    base.update(read_env(env))
    nats = _build_nats(base)
    profiles = {}
    for name, layer in profile_layers.items():
        profiles[name] = _build_nats({**base, **layer})
    return Config(nats, profiles)


# -- the process-wide config ------------------------------------------------------------------------------

_lock = threading.Lock()
_cached: Config | None = None
_override: Config | None = None


def get_config() -> Config:
    """The process-wide config: the :func:`set_config` override if any, else :func:`load_config()`
    built once and cached. Call :func:`reset_config` after changing the environment or the file."""
    global _cached
    override = _override
    if override is not None:
        return override
    cached = _cached
    if cached is not None:
        return cached
    with _lock:
        if _cached is None:
            _cached = load_config()
        return _cached


def set_config(config: Config | NatsConfig | None) -> None:
    """Make ``config`` the process-wide config (highest precedence). A NatsConfig becomes
    ``Config(nats=config)`` with no profiles -- pass a Config to keep profiles. None removes the override."""
    global _override
    if config is None or isinstance(config, Config):
        _override = config
    elif isinstance(config, NatsConfig):
        _override = Config(config)
    else:
        raise TypeError(
            f"set_config() takes a Config, a NatsConfig or None (to remove the override), "
            f"got {type(config).__name__}"
        )


def reset_config() -> None:
    """Forget the cached config and any :func:`set_config` override; the next :func:`get_config`
    reads the file and the environment again."""
    global _cached, _override
    with _lock:
        _cached = None
        _override = None


def resolve_nats_config(config: Config | NatsConfig | str | None) -> NatsConfig:
    """The NatsConfig a connection helper should use for its ``config`` argument.

    None -> ``get_config().nats``; a Config -> its ``nats``; a NatsConfig -> itself; a string -> one URL
    or comma-separated URLs applied over ``get_config().nats`` (every other setting kept).
    """
    if config is None:
        return get_config().nats
    if isinstance(config, NatsConfig):
        return config
    if isinstance(config, Config):
        return config.nats
    if isinstance(config, str):
        base = get_config().nats
        return NatsConfig(
            **{**_field_values(base), "servers": config}, _sources={"servers": "config argument"}
        )
    raise config_type_error(config)


def config_type_error(config: object) -> TypeError:
    """The error for a ``config`` argument of the wrong type, naming the accepted types.

    Shared by :func:`resolve_nats_config`, the context managers and ``ConnectionPool``: a value of
    the wrong *type* is a ``TypeError`` everywhere; a bad *value* is a ``NaqConfigError``.
    """
    return TypeError(
        "config must be a Config, a NatsConfig, a server URL string (or comma-separated URLs) or None, "
        f"got {type(config).__name__}"
    )


def _field_values(config: NatsConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
