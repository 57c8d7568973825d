"""The exceptions naq.connection raises, and :func:`is_transient`, the retry classification.

CONTRACT (fixed names; the core implementer fills in the bodies and may add attributes/subclasses):

- ``NaqConnectionError(Exception)``: base of everything we raise. A failed initial connect raises
  it (or a subclass) with the servers named (credentials redacted) and nats-py's error chained.
- ``NaqConfigError(NaqConnectionError, ValueError)``: bad configuration; names field, source, value.
- ``NaqBucketNotFoundError(NaqConnectionError, LookupError)``: a KV / object-store bucket is missing
  and creation was not requested; ``.bucket`` holds its name.
- ``is_transient(exc) -> bool``: True for retryable failures (no servers, stale/EOF, reconnecting,
  timeouts, refused/reset, JetStream 503), False otherwise (auth, bad subject, max payload,
  not found, bad request, config errors, the caller's own exceptions).
"""

from __future__ import annotations

__all__ = [
    "NaqBucketNotFoundError",
    "NaqConfigError",
    "NaqConnectionError",
    "is_transient",
]


class NaqConnectionError(Exception):
    """Base class of every error naq.connection raises."""


class NaqConfigError(NaqConnectionError, ValueError):
    """The configuration is invalid: the message names the field, where it came from and the value."""


class NaqBucketNotFoundError(NaqConnectionError, LookupError):
    """A KV or object-store bucket does not exist and creation was not requested."""

    def __init__(self, message: str, *, bucket: str) -> None:
        super().__init__(message)
        self.bucket = bucket


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the operation that raised ``exc`` can succeed."""
    raise NotImplementedError  # filled in by the core implementation
