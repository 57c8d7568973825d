"""The table of configurable fields, shared by the environment and file loaders, and value coercion.

A *layer* is what one source (defaults, a file section, the environment) sets: a mapping from a
dotted field name (``"connection_timeout"``, ``"tls.ca_file"``) to ``(value, source)``, where
``source`` says where the value came from for error messages. Layers are merged with ``dict.update``
in precedence order and turned into a ``NatsConfig`` by :mod:`naq.connection.config`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from naq.connection._redact import MASK, redact_url
from naq.connection.errors import NaqConfigError

__all__ = [
    "ENV_PREFIX",
    "FIELDS",
    "FIELDS_BY_NAME",
    "SECRET_FIELDS",
    "FieldSpec",
    "Layer",
    "coerce",
    "config_error",
    "show_value",
]

Kind = Literal["servers", "str", "optional_str", "path", "int", "float", "bool"]
Layer = dict[str, tuple[Any, str]]

ENV_PREFIX = "NAQ_NATS_"
SECRET_FIELDS = frozenset({"password", "token"})


@dataclass(frozen=True)
class FieldSpec:
    """One configurable field: dotted name, value kind and environment variable."""

    name: str
    kind: Kind
    env: str


def _spec(name: str, kind: Kind) -> FieldSpec:
    env = "NAQ_NATS_URL" if name == "servers" else ENV_PREFIX + name.replace(".", "_").upper()
    return FieldSpec(name, kind, env)


FIELDS: tuple[FieldSpec, ...] = (
    _spec("servers", "servers"),
    _spec("client_name", "str"),
    _spec("max_reconnect_attempts", "int"),
    _spec("reconnect_time_wait", "float"),
    _spec("connection_timeout", "float"),
    _spec("drain_timeout", "float"),
    _spec("flush_timeout", "float"),
    _spec("ping_interval", "float"),
    _spec("max_outstanding_pings", "int"),
    _spec("allow_reconnect", "bool"),
    _spec("user", "optional_str"),
    _spec("password", "optional_str"),
    _spec("token", "optional_str"),
    _spec("creds_file", "path"),
    _spec("nkeys_seed_file", "path"),
    _spec("reuse_connections", "bool"),
    _spec("tls.enabled", "bool"),
    _spec("tls.cert_file", "path"),
    _spec("tls.key_file", "path"),
    _spec("tls.ca_file", "path"),
    _spec("tls.handshake_first", "bool"),
)
FIELDS_BY_NAME = {spec.name: spec for spec in FIELDS}

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def show_value(field: str, value: object) -> str:
    """How a value of ``field`` may appear in a message: secrets masked, URL credentials redacted."""
    if field.rsplit(".", 1)[-1] in SECRET_FIELDS and value not in (None, ""):
        return repr(MASK)
    if isinstance(value, str):
        return repr(redact_url(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(field, item) for item in value) + "]"
    return repr(value)


def config_error(field: str, source: str, value: object, problem: str) -> NaqConfigError:
    """Build the one message shape every config error has: field, problem, value (masked), source."""
    if value is None:  # a missing value (cross-field checks): nothing to show
        return NaqConfigError(f"invalid {field} (from {source}): {problem}", field=field, source=source)
    shown = show_value(field, value)
    return NaqConfigError(
        f"invalid {field} {shown} (from {source}): {problem}",
        field=field,
        source=source,
        value=shown,
    )


def coerce(spec: FieldSpec, raw: object, source: str) -> Any:
    """Turn a raw value from the environment (a string) or a file (any YAML scalar) into the field's
    Python type. Range and cross-field checks happen later, in ``NatsConfig``."""
    kind = spec.kind
    if kind == "servers":
        if isinstance(raw, str):
            return raw
        if isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw):
            return tuple(raw)
        raise config_error(spec.name, source, raw, "must be a URL string or a list of URL strings")
    if kind == "bool":
        return _coerce_bool(spec, raw, source)
    if kind == "int":
        return _coerce_int(spec, raw, source)
    if kind == "float":
        return _coerce_float(spec, raw, source)
    # str, optional_str, path
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise config_error(spec.name, source, raw, "must be a string")
    return str(raw)


def _coerce_bool(spec: FieldSpec, raw: object, source: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise config_error(spec.name, source, raw, "must be a boolean: true/false, 1/0, yes/no or on/off")


def _coerce_int(spec: FieldSpec, raw: object, source: str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise config_error(spec.name, source, raw, "must be an integer")


def _coerce_float(spec: FieldSpec, raw: object, source: str) -> float:
    value: float | None = None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            value = None
    if value is None or not math.isfinite(value):
        raise config_error(spec.name, source, raw, "must be a finite number of seconds")
    return value
