"""The exceptions naq.connection raises, and :func:`is_transient`, the retry classification.

- ``NaqError(Exception)``: base of everything naq.connection raises.
- ``NaqConnectionError(NaqError)``: talking to NATS failed. A failed initial connect raises it (or a
  subclass) with the servers named (credentials redacted) and nats-py's error chained as
  ``__cause__``; ``.servers`` holds the redacted server URLs when known.
- ``NaqConfigError(NaqError, ValueError)``: bad configuration (deliberately not a
  ``NaqConnectionError``: ``except NaqConnectionError`` must not swallow a typo in a setting); the
  message names the field, where the value came from (argument, environment variable, file and
  key) and the value, secrets masked. ``.field``, ``.source`` and ``.value`` (the masked value as
  shown) hold the same parts.
- ``NaqBucketNotFoundError(NaqConnectionError, LookupError)``: a KV / object-store bucket is missing
  and creation was not requested; ``.bucket`` holds its name.
- ``is_transient(exc) -> bool``: whether retrying (on a new connection) can succeed.
"""

from __future__ import annotations

import asyncio
import errno

import nats.errors
import nats.js.errors

__all__ = [
    "NaqError",
    "NaqBucketNotFoundError",
    "NaqConfigError",
    "NaqConnectionError",
    "is_transient",
]


class NaqError(Exception):
    """Base class of every error naq.connection raises."""


class NaqConnectionError(NaqError):
    """Connecting to NATS, or using a connection, JetStream or a bucket failed.

    ``servers`` (keyword-only, optional) are the servers involved, already redacted by the raiser.
    """

    def __init__(self, *args: object, servers: tuple[str, ...] = ()) -> None:
        super().__init__(*args)
        self.servers = tuple(servers)


class NaqConfigError(NaqError, ValueError):
    """The configuration is invalid: the message names the field, where it came from and the value.

    ``field`` (e.g. ``"connection_timeout"``, ``"tls.ca_file"``), ``source`` (e.g. ``"environment
    variable NAQ_NATS_CONNECTION_TIMEOUT"``, ``"/etc/naq.yaml: nats.tls.ca_file"``) and ``value``
    (the offending value as shown in the message, secrets masked) are ``None`` when not applicable.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        source: str | None = None,
        value: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.source = source
        self.value = value


class NaqBucketNotFoundError(NaqConnectionError, LookupError):
    """A KV or object-store bucket does not exist and creation was not requested."""

    def __init__(self, message: str, *, bucket: str) -> None:
        super().__init__(message)
        self.bucket = bucket


# Retryable: the server is (momentarily) unreachable, the connection broke, or an operation timed out.
# ConnectionClosedError / ConnectionDrainingError count as transient because our context managers and
# decorators open a fresh connection per attempt; on a connection you hold yourself they are not.
# OutboundBufferLimitError means the client buffered too much while disconnected.
_TRANSIENT_NATS: tuple[type[BaseException], ...] = (
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,  # includes UnexpectedEOF
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.TimeoutError,  # includes FlushTimeoutError, DrainTimeoutError, js FetchTimeoutError
    nats.js.errors.ServiceUnavailableError,  # JetStream 503 (no leader yet, JetStream starting)
    # A JetStream publish nobody answered (a 503 "no responders" status): the stream's leader is being
    # elected after a node died, or the server is restarting. A stream that does not exist at all
    # gives the same error; retrying it costs only the retry budget before the error surfaces.
    nats.js.errors.NoStreamResponseError,
)
# Never retryable: retrying cannot fix credentials, a bad subject, an oversized payload, a missing
# stream/bucket/key or a rejected request. Checked before anything else.
_PERMANENT_NATS: tuple[type[BaseException], ...] = (
    nats.errors.AuthorizationError,
    nats.errors.BadSubjectError,
    nats.errors.MaxPayloadError,
    nats.errors.SecureConnFailedError,
    nats.errors.SecureConnRequiredError,
    nats.errors.SecureConnWantedError,
    nats.errors.InvalidUserCredentialsError,
    nats.js.errors.NotFoundError,  # includes BucketNotFoundError, KeyNotFoundError, ObjectNotFoundError
    nats.js.errors.BadRequestError,
)
# Server error messages that mean "your credentials are wrong": nats-py raises a plain
# nats.errors.Error("nats: 'Authorization Violation'") when reconnect is off.
_AUTH_MARKERS = ("authorization violation", "authentication expired", "authentication revoked")
# OSErrors, by errno, that mean "the network is temporarily in the way" (not ConnectionError subclasses).
_TRANSIENT_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, "ENETUNREACH", None),
        getattr(errno, "EHOSTUNREACH", None),
        getattr(errno, "ENETDOWN", None),
        getattr(errno, "ETIMEDOUT", None),
    )
    if code is not None
)
_MAX_CAUSE_DEPTH = 10


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the operation that raised ``exc`` (on a new connection) can succeed.

    True: nats-py ``NoServersError``, ``StaleConnectionError`` / ``UnexpectedEOF``,
    ``ConnectionReconnectingError``, ``ConnectionClosedError`` and ``ConnectionDrainingError`` (a new
    connection fixes them: retry decorators open one per attempt), ``OutboundBufferLimitError``, every
    timeout (nats-py's ``TimeoutError`` family incl. ``FlushTimeoutError``, ``asyncio.TimeoutError``,
    builtin ``TimeoutError``), ``ConnectionError`` (refused, reset, aborted, broken pipe), ``OSError``
    with ENETUNREACH / EHOSTUNREACH / ENETDOWN / ETIMEDOUT, JetStream ``ServiceUnavailableError``,
    ``NoStreamResponseError`` (a JetStream publish nobody answered: a stream leader election or a
    restarting server) and any JetStream ``APIError`` with code 503, and a
    :class:`NaqConnectionError` whose ``__cause__`` is transient (a failed connect wrapping
    ``NoServersError``).

    False: authorization failures (``AuthorizationError``, any nats-py error whose text contains
    'Authorization Violation'), TLS setup errors, ``BadSubjectError``, ``MaxPayloadError``, JetStream
    ``NotFoundError`` (bucket, key, object, stream) and ``BadRequestError``, ``NoRespondersError`` (nobody
    serves that subject: usually a deployment error), :class:`NaqConfigError`,
    :class:`NaqBucketNotFoundError`, cancellation, and anything else -- including the caller's own
    exceptions.
    """
    return _is_transient(exc, _MAX_CAUSE_DEPTH)


def _is_transient(exc: BaseException, depth: int) -> bool:
    if isinstance(exc, (NaqConfigError, NaqBucketNotFoundError)):
        return False
    if isinstance(exc, NaqConnectionError):
        cause = exc.__cause__
        return cause is not None and depth > 0 and _is_transient(cause, depth - 1)
    if isinstance(exc, _PERMANENT_NATS):
        return False
    if isinstance(exc, nats.errors.Error) and _is_auth_failure(exc):
        return False
    if isinstance(exc, _TRANSIENT_NATS):
        return True
    if isinstance(exc, nats.js.errors.APIError):
        return getattr(exc, "code", None) == 503  # some subclasses never set .code
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _TRANSIENT_ERRNOS
    return False


def _is_auth_failure(exc: BaseException) -> bool:
    try:
        text = str(exc).lower()
    except Exception:  # a broken __str__ must not break classification
        return False
    return any(marker in text for marker in _AUTH_MARKERS)
