"""Bucket arguments and bucket-lookup errors, shared by the context managers and the pool.

``nats_kv_store`` / ``nats_object_store`` and ``pool.kv_store`` / ``pool.object_store`` take the same
arguments and must reject the same mistakes the same way, before any connect:

- :func:`check_bucket_args` -- a bucket name that is not a ``str`` is a ``TypeError``; an invalid
  name (empty, or anything but letters, digits, ``-`` and ``_``) is a ``NaqConfigError``; bucket
  options (``history``, ``ttl``, ...) without ``create=True`` are a ``NaqConfigError`` (they only
  apply when the bucket is created, so passing them otherwise is a mistake, not a no-op).
- :func:`jetstream_unavailable` -- the ``NaqConnectionError`` for nats-py's
  ``ServiceUnavailableError`` (503: JetStream is not enabled, or a cluster has no leader yet),
  naming the servers.

Names are checked on every call of those functions, which the pool's borrow helpers run per borrow:
a name seen valid once is remembered (a bounded set), so the check is one set lookup.
"""

from __future__ import annotations

import re
from typing import Any

from naq.connection.errors import NaqConfigError, NaqConnectionError

__all__ = [
    "KV_LABEL",
    "OBJECT_STORE_LABEL",
    "check_bucket",
    "check_bucket_args",
    "checked_names",
    "jetstream_unavailable",
]

KV_LABEL = "KV"
OBJECT_STORE_LABEL = "object-store"

_BUCKET_NAME = re.compile(r"[A-Za-z0-9_-]+")
checked_names: set[str] = set()
"""Bucket names already found valid (exact ``str`` only), so hot paths can skip the check with one
set lookup. Cleared in place (never rebound) when it reaches :data:`_VALID_LIMIT`."""
_VALID_LIMIT = 1024


def check_bucket(bucket: object, label: str) -> str:
    """``bucket`` if it is a valid bucket name; ``TypeError`` for a non-``str``, else ``NaqConfigError``."""
    if bucket.__class__ is str and bucket in checked_names:
        return bucket
    if not isinstance(bucket, str):
        raise TypeError(f"{label} bucket name must be a str, got {type(bucket).__name__}")
    if _BUCKET_NAME.fullmatch(bucket) is None:
        raise NaqConfigError(
            f"invalid {label} bucket name {bucket!r}: use letters, digits, '-' and '_' only",
            field="bucket",
            source="argument",
            value=repr(bucket),
        )
    if bucket.__class__ is str:
        if len(checked_names) >= _VALID_LIMIT:
            checked_names.clear()
        checked_names.add(bucket)
    return bucket


def check_bucket_args(label: str, bucket: object, create: bool, options: dict[str, Any]) -> str:
    """The checked bucket name; bucket ``options`` without ``create`` are a ``NaqConfigError``."""
    name = check_bucket(bucket, label)
    if options and not create:
        raise NaqConfigError(
            f"{label} bucket options {sorted(options)} only apply when the bucket is created: "
            "pass create=True, or drop them",
            field="create",
            source="argument",
        )
    return name


def jetstream_unavailable(servers: tuple[str, ...]) -> NaqConnectionError:
    """The error for a JetStream 503 (``ServiceUnavailableError``); ``servers`` already redacted.

    The caller chains nats-py's error (``raise jetstream_unavailable(...) from exc``), so
    ``is_transient`` sees the 503 (retrying helps while a cluster elects a leader).
    """
    where = ", ".join(servers) if servers else "<unknown servers>"
    return NaqConnectionError(
        f"JetStream is not available on the NATS server at {where}: enable it (nats-server -js, or a "
        "jetstream {} block in the server config); a clustered JetStream may also still be electing "
        "a leader",
        servers=servers,
    )
