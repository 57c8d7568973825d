"""Validation and normalisation of single config values, shared by NatsConfig and TLSConfig.

Every failure is a :class:`~naq.connection.errors.NaqConfigError` built by ``config_error`` (field,
source, masked value, problem), except a value of the wrong type passed as a constructor argument in
code: that is a ``TypeError`` naming the argument (see :func:`wrong_type`). ``sources`` maps a dotted
field name to where its value came from; fields missing there were passed as constructor arguments.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Union
from urllib.parse import urlsplit

from naq.connection._fields import config_error

__all__ = [
    "ARGUMENT",
    "PathLike",
    "check_number",
    "check_optional_str",
    "check_path",
    "normalise_server",
    "source_of",
    "split_servers",
    "wrong_type",
]

ARGUMENT = "NatsConfig argument"
SCHEMES = ("nats", "tls", "ws", "wss")
DEFAULT_PORT = 4222

PathLike = Union[str, "os.PathLike[str]"]


def source_of(sources: Mapping[str, str] | None, field: str) -> str:
    if sources and field in sources:
        return sources[field]
    return ARGUMENT


def wrong_type(field: str, source: str, value: object, expected: str) -> Exception:
    """The error for ``value`` not being ``expected``: a ``TypeError`` naming the argument when code
    passed it, else (a file value) a ``NaqConfigError`` naming the file and key."""
    if source == ARGUMENT:
        return TypeError(f"{field} must be {expected}, got {type(value).__name__}")
    return config_error(field, source, value, f"must be {expected}")


def check_path(field: str, value: PathLike | None, sources: Mapping[str, str] | None) -> str | None:
    """Normalise an optional file path (``~`` expanded) and check that the file exists."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise wrong_type(field, source_of(sources, field), value, "a file path")
    text = os.path.expanduser(os.fspath(value))
    if text == "":
        return None
    if not os.path.isfile(text):
        raise config_error(field, source_of(sources, field), text, "file does not exist (or is not a file)")
    return text


def split_servers(value: object, source: str) -> tuple[str, ...]:
    """One URL, comma-separated URLs or a list of them -> a tuple of normalised URLs (see below)."""
    if isinstance(value, str):
        items: Sequence[object] = value.split(",")
    elif isinstance(value, (list, tuple)):
        # a list item may itself be comma-separated (e.g. an interpolated "${NATS_URLS}")
        items = [part for item in value for part in (item.split(",") if isinstance(item, str) else [item])]
    else:
        raise wrong_type("servers", source, value, "a URL string or a list of URL strings")
    servers = []
    for item in items:
        if not isinstance(item, str):
            raise wrong_type("servers", source, item, "URL strings (every item)")
        if item.strip():
            servers.append(normalise_server(item.strip(), source))
    if not servers:
        raise config_error("servers", source, value, "at least one server URL is required")
    websocket = {urlsplit(s).scheme in ("ws", "wss") for s in servers}
    if len(websocket) > 1:
        raise config_error(
            "servers",
            source,
            servers,
            "cannot mix ws:// / wss:// with nats:// / tls:// servers (nats-py refuses)",
        )
    return tuple(servers)


def normalise_server(url: str, source: str) -> str:
    """``host`` / ``host:port`` get ``nats://``; nats:// and tls:// get the default port 4222."""
    if any(ch.isspace() for ch in url):
        raise config_error("servers", source, url, "a server URL cannot contain whitespace")
    if "://" not in url:
        url = f"nats://{url}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise config_error("servers", source, url, f"malformed URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise config_error(
            "servers", source, url, f"unknown scheme {parts.scheme!r}: use nats://, tls://, ws:// or wss://"
        )
    if not parts.hostname:
        raise config_error("servers", source, url, "malformed URL: no host name")
    netloc = parts.netloc
    if port is None and scheme in ("nats", "tls"):
        netloc = f"{netloc.rstrip(':')}:{DEFAULT_PORT}"
    return parts._replace(scheme=scheme, netloc=netloc).geturl()


def check_number(
    field: str,
    value: object,
    sources: Mapping[str, str] | None,
    *,
    integer: bool,
    minimum: float,
    inclusive: bool,
    meaning: str,
) -> Any:
    source = source_of(sources, field)
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise wrong_type(field, source, value, "an integer" if integer else "a number")
    assert isinstance(value, (int, float))
    if not math.isfinite(value):
        raise config_error(field, source, value, "must be a finite number")
    if value < minimum or (not inclusive and value == minimum):
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        raise config_error(field, source, value, f"must be {bound} ({meaning})")
    return value if integer else float(value)


def check_optional_str(field: str, value: object, sources: Mapping[str, str] | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise wrong_type(field, source_of(sources, field), value, "a string")
    return value
