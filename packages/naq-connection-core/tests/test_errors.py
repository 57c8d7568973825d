"""The error hierarchy and is_transient, on real nats-py exception instances."""

from __future__ import annotations

import asyncio
import errno
import socket

import nats.errors
import nats.js.errors
import pytest

from naq.connection.errors import (
    NaqBucketNotFoundError,
    NaqConfigError,
    NaqConnectionError,
    NaqError,
    is_transient,
)

pytestmark = pytest.mark.unit


def _wrapped(cause: BaseException) -> NaqConnectionError:
    """A NaqConnectionError raised ``from cause``, as the context managers raise it."""
    try:
        raise NaqConnectionError("could not connect to nats://h:4222") from cause
    except NaqConnectionError as exc:
        return exc


class _CodelessAPIError(nats.js.errors.APIError):
    """Like nats-py's KeyNotFoundError: an APIError whose __init__ never sets ``.code``."""

    def __init__(self) -> None:
        pass


TRANSIENT = [
    nats.errors.NoServersError(),
    nats.errors.StaleConnectionError(),
    nats.errors.UnexpectedEOF(),
    nats.errors.ConnectionReconnectingError(),
    nats.errors.ConnectionClosedError(),
    nats.errors.ConnectionDrainingError(),
    nats.errors.OutboundBufferLimitError(),
    nats.errors.TimeoutError(),
    nats.errors.FlushTimeoutError(),
    nats.errors.DrainTimeoutError(),
    nats.js.errors.FetchTimeoutError(),
    asyncio.TimeoutError(),
    TimeoutError(),
    ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    ConnectionResetError(),
    BrokenPipeError(),
    ConnectionAbortedError(),
    OSError(errno.ENETUNREACH, "network unreachable"),
    OSError(errno.EHOSTUNREACH, "no route to host"),
    nats.js.errors.ServiceUnavailableError(),
    nats.js.errors.NoStreamResponseError(),
    nats.js.errors.APIError(code=503, description="JetStream not ready"),
    _wrapped(nats.errors.NoServersError()),
    _wrapped(asyncio.TimeoutError()),
    _wrapped(_wrapped(ConnectionRefusedError())),
]

PERMANENT = [
    nats.errors.AuthorizationError(),
    nats.errors.Error("nats: 'Authorization Violation'"),
    nats.errors.Error("nats: 'authorization violation'"),
    nats.errors.Error("nats: 'Authentication Expired'"),
    nats.errors.BadSubjectError(),
    nats.errors.MaxPayloadError(),
    nats.errors.NoRespondersError(),
    nats.errors.SecureConnFailedError(),
    nats.errors.InvalidUserCredentialsError(),
    nats.errors.Error("nats: something else"),
    nats.js.errors.NotFoundError(code=404),
    nats.js.errors.BucketNotFoundError(),
    nats.js.errors.KeyNotFoundError(),
    nats.js.errors.ObjectNotFoundError(),
    nats.js.errors.BadRequestError(code=400, err_code=10058),
    nats.js.errors.KeyWrongLastSequenceError("wrong last sequence"),
    nats.js.errors.KeyDeletedError(),
    nats.js.errors.NoKeysError(),
    nats.js.errors.KeyHistoryTooLargeError(),
    nats.js.errors.BadBucketError(),
    _CodelessAPIError(),
    nats.js.errors.APIError(code=500),
    nats.js.errors.APIError(),
    NaqConfigError("bad config"),
    NaqBucketNotFoundError("no bucket b", bucket="b"),
    NaqConnectionError("no cause"),
    _wrapped(nats.errors.AuthorizationError()),
    _wrapped(nats.errors.Error("nats: 'Authorization Violation'")),
    ValueError("caller's own"),
    RuntimeError("caller's own"),
    KeyError("k"),
    OSError(errno.ENOENT, "no such file"),
    FileNotFoundError(),
    socket.gaierror(socket.EAI_NONAME, "name not known"),
    asyncio.CancelledError(),
    KeyboardInterrupt(),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc) is True


@pytest.mark.parametrize("exc", PERMANENT, ids=lambda e: type(e).__name__)
def test_not_transient(exc: BaseException) -> None:
    assert is_transient(exc) is False


def test_cause_cycle_terminates() -> None:
    first = NaqConnectionError("a")
    second = NaqConnectionError("b")
    first.__cause__ = second
    second.__cause__ = first
    assert is_transient(first) is False


def test_deep_cause_chain_is_bounded() -> None:
    exc: BaseException = nats.errors.NoServersError()
    for _ in range(50):
        exc = _wrapped(exc)
    assert is_transient(exc) is False  # beyond the depth limit: not retried blindly
    assert is_transient(_wrapped(_wrapped(nats.errors.NoServersError()))) is True


def test_authorization_text_beats_a_transient_type() -> None:
    class AuthStale(nats.errors.StaleConnectionError):
        def __str__(self) -> str:
            return "nats: 'Authorization Violation'"

    assert is_transient(AuthStale()) is False


def test_error_with_broken_str_is_classified() -> None:
    class Weird(nats.errors.Error):
        def __str__(self) -> str:
            raise RuntimeError("broken")

    assert is_transient(Weird()) is False


def test_hierarchy_and_attributes() -> None:
    config_error = NaqConfigError("msg", field="f", source="s", value="'v'")
    assert not isinstance(config_error, NaqConnectionError)  # a typo in a setting is not a connection error
    assert isinstance(config_error, NaqError)
    assert isinstance(config_error, ValueError)
    assert (config_error.field, config_error.source, config_error.value) == ("f", "s", "'v'")
    assert str(config_error) == "msg"
    plain = NaqConfigError("only a message")
    assert (plain.field, plain.source, plain.value) == (None, None, None)

    bucket = NaqBucketNotFoundError("bucket 'b' not found", bucket="b")
    assert isinstance(bucket, LookupError)
    assert isinstance(bucket, NaqConnectionError)
    assert isinstance(NaqConnectionError("x"), NaqError)
    assert bucket.bucket == "b"
    assert bucket.servers == ()

    conn = NaqConnectionError("failed", servers=("nats://h:4222",))
    assert conn.servers == ("nats://h:4222",)
    assert conn.args == ("failed",)
