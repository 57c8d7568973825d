"""Bind a KV or object-store bucket: argument checks, lookup, creation, the creation race, errors.

The one place that does, for ``nats_kv_store`` / ``nats_object_store`` and the pool's
``kv_store`` / ``object_store``, so both take the same arguments, reject the same mistakes before
any connect, and raise the same errors:

- a bucket name that is not a ``str`` is a ``TypeError``; an invalid name (empty, or anything but
  letters, digits, ``-`` and ``_``) and bucket options without ``create=True`` (they only apply when
  the bucket is created) are a ``NaqConfigError``;
- a missing bucket is a ``NaqBucketNotFoundError`` unless ``create`` is true;
- two clients creating the same bucket with different options race (JetStream error 10058): the
  loser uses the bucket that exists;
- JetStream's 503 (not enabled, or a cluster still electing a leader) is a ``NaqConnectionError``
  naming the servers, with nats-py's error chained so ``is_transient`` sees the 503.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

import nats.js.errors as js_errors

from naq.connection.errors import NaqBucketNotFoundError, NaqConfigError, NaqConnectionError

if TYPE_CHECKING:
    from nats.js import JetStreamContext

__all__ = ["KV", "OBJECT_STORE", "BucketKind", "bind_bucket", "check_bucket_args", "jetstream_unavailable"]

BucketKind = Literal["KV", "object-store"]
KV: BucketKind = "KV"
OBJECT_STORE: BucketKind = "object-store"

STREAM_EXISTS_ERR_CODE = 10058
"""JetStream: stream name already in use with a different configuration."""

_BUCKET_NAME = re.compile(r"[A-Za-z0-9_-]+")


def check_bucket_args(kind: BucketKind, bucket: object, create: bool, options: dict[str, Any]) -> str:
    """The bucket name, checked; raises before any connect (see the module docstring)."""
    if not isinstance(bucket, str):
        raise TypeError(f"{kind} bucket name must be a str, got {type(bucket).__name__}")
    if _BUCKET_NAME.fullmatch(bucket) is None:
        raise NaqConfigError(
            f"invalid {kind} bucket name {bucket!r}: use letters, digits, '-' and '_' only",
            field="bucket",
            source="argument",
            value=repr(bucket),
        )
    if not isinstance(create, bool):
        raise TypeError(f"create must be True or False, got {type(create).__name__}")
    if options and not create:
        raise NaqConfigError(
            f"{kind} bucket options {sorted(options)} only apply when the bucket is created: "
            "pass create=True, or drop them",
            field="create",
            source="argument",
        )
    return bucket


async def bind_bucket(
    js: JetStreamContext,
    kind: BucketKind,
    bucket: str,
    *,
    create: bool,
    options: dict[str, Any],
    servers: tuple[str, ...],
) -> Any:
    """The handle of ``bucket`` (``js.key_value`` / ``js.object_store``), created first if asked to.

    ``servers`` (redacted) name where JetStream was unavailable, in that error.
    """
    try:
        try:
            return await _lookup(js, kind, bucket)
        except js_errors.BucketNotFoundError as exc:
            if not create:
                raise NaqBucketNotFoundError(
                    f"JetStream {kind} bucket {bucket!r} does not exist: create it first, or pass "
                    "create=True to create it",
                    bucket=bucket,
                ) from exc
        try:
            if kind == KV:
                return await js.create_key_value(bucket=bucket, **options)
            return await js.create_object_store(bucket=bucket, **options)
        except js_errors.BadRequestError as exc:
            if exc.err_code != STREAM_EXISTS_ERR_CODE:
                raise
            # created concurrently with another configuration: use the bucket that exists
            return await _lookup(js, kind, bucket)
    except js_errors.ServiceUnavailableError as exc:
        raise jetstream_unavailable(servers) from exc


async def _lookup(js: JetStreamContext, kind: BucketKind, bucket: str) -> Any:
    if kind == KV:
        return await js.key_value(bucket)
    return await js.object_store(bucket)


def jetstream_unavailable(servers: tuple[str, ...]) -> NaqConnectionError:
    """The error for a JetStream 503 (``ServiceUnavailableError``); ``servers`` already redacted."""
    where = ", ".join(servers) if servers else "<unknown servers>"
    return NaqConnectionError(
        f"JetStream is not available on the NATS server at {where}: enable it (nats-server -js, or a "
        "jetstream {} block in the server config); a clustered JetStream may also still be electing "
        "a leader",
        servers=servers,
    )
