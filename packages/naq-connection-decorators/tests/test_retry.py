"""retry_on_connection_failure: what is retried, how often, how long it waits, what it logs and raises."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any
from unittest.mock import AsyncMock

import nats.errors
import nats.js.errors
import pytest

import naq.connection.decorators as deco
from naq.connection.decorators import (
    _retry,
    is_retry_testing,
    retry_on_connection_failure,
    retry_testing,
    set_retry_testing,
)
from naq.connection.errors import NaqBucketNotFoundError, NaqConfigError, NaqConnectionError

pytestmark = pytest.mark.unit

LOGGER = "naq.connection.decorators"


def failing(*errors: BaseException, result: Any = "ok") -> tuple[AsyncMock, Any]:
    """An async function raising ``errors`` in turn, then returning ``result``; and its call recorder."""
    calls = AsyncMock(side_effect=[*errors, result])

    async def operation(*args: Any, **kwargs: Any) -> Any:
        return await calls(*args, **kwargs)

    return calls, operation


def connect_failure() -> NaqConnectionError:
    """What core raises when the initial connect fails: NaqConnectionError caused by NoServersError."""
    try:
        try:
            raise nats.errors.NoServersError()
        except nats.errors.NoServersError as cause:
            raise NaqConnectionError("could not connect to nats://127.0.0.1:1") from cause
    except NaqConnectionError as exc:
        return exc


# ---------------------------------------------------------------- counts, delays, identity


async def test_retries_then_succeeds_with_exact_backoff(sleep: AsyncMock) -> None:
    calls, op = failing(nats.errors.NoServersError(), connect_failure(), nats.errors.TimeoutError())
    wrapped = retry_on_connection_failure(3, 1.0, 2.0, jitter=False)(op)
    assert await wrapped("a", k=1) == "ok"
    assert calls.call_count == 4
    assert all(c.args == ("a",) and c.kwargs == {"k": 1} for c in calls.call_args_list)
    assert [c.args[0] for c in sleep.call_args_list] == [1.0, 2.0, 4.0]


async def test_gives_up_after_max_retries_reraising_the_same_object(sleep: AsyncMock) -> None:
    errors = [nats.errors.NoServersError() for _ in range(3)]
    calls, op = failing(*errors)
    wrapped = retry_on_connection_failure(max_retries=2, retry_delay=0.5, jitter=False)(op)
    with pytest.raises(nats.errors.NoServersError) as info:
        await wrapped()
    assert info.value is errors[2]
    assert calls.call_count == 3
    assert [c.args[0] for c in sleep.call_args_list] == [0.5, 1.0]


async def test_zero_retries_means_one_attempt(sleep: AsyncMock) -> None:
    calls, op = failing(nats.errors.NoServersError())
    with pytest.raises(nats.errors.NoServersError):
        await retry_on_connection_failure(0)(op)()
    assert calls.call_count == 1
    sleep.assert_not_called()


async def test_max_delay_caps_the_backoff(sleep: AsyncMock) -> None:
    _, op = failing(*[ConnectionRefusedError()] * 5)
    await retry_on_connection_failure(5, 1.0, 10.0, max_delay=5.0, jitter=False)(op)()
    assert [c.args[0] for c in sleep.call_args_list] == [1.0, 5.0, 5.0, 5.0, 5.0]


def test_backoff_overflow_is_capped() -> None:
    policy = _retry._Policy(10_000, 1.0, 10.0, 7.0, False, None, None)
    assert policy.backoff(5_000) == 7.0
    assert policy.backoff(1) == 1.0


async def test_equal_jitter_stays_within_half_and_full_delay(sleep: AsyncMock) -> None:
    _, op = failing(*[ConnectionResetError()] * 200)
    await retry_on_connection_failure(200, 1.0, 1.0, jitter=True)(op)()
    delays = [c.args[0] for c in sleep.call_args_list]
    assert len(delays) == 200
    assert all(0.5 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 100  # actually random
    assert min(delays) < 0.6
    assert max(delays) > 0.9


async def test_jitter_respects_max_delay(sleep: AsyncMock) -> None:
    _, op = failing(*[ConnectionResetError()] * 30)
    await retry_on_connection_failure(30, 1.0, 3.0, max_delay=2.0)(op)()
    assert all(0 < c.args[0] <= 2.0 for c in sleep.call_args_list)


async def test_sleep_is_looked_up_on_the_patch_surface_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    _, op = failing(ConnectionResetError())
    wrapped = retry_on_connection_failure(1, 0.25, jitter=False)(op)
    fake = AsyncMock()
    monkeypatch.setattr(deco.asyncio, "sleep", fake)  # after decoration
    assert await wrapped() == "ok"
    fake.assert_awaited_once_with(0.25)


async def test_next_attempts_exception_is_not_chained_to_the_previous(sleep: AsyncMock) -> None:
    second = nats.errors.NoServersError()
    _, op = failing(nats.errors.NoServersError(), second)
    with pytest.raises(nats.errors.NoServersError) as info:
        await retry_on_connection_failure(1, jitter=False)(op)()
    assert info.value is second
    assert info.value.__context__ is None


# ---------------------------------------------------------------- classification


@pytest.mark.parametrize(
    "error",
    [
        nats.errors.NoServersError(),
        connect_failure(),
        nats.errors.ConnectionClosedError(),
        nats.errors.StaleConnectionError(),
        nats.errors.TimeoutError(),
        asyncio.TimeoutError(),
        ConnectionRefusedError(),
        nats.js.errors.ServiceUnavailableError(),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_transient_errors_are_retried(sleep: AsyncMock, error: Exception) -> None:
    calls, op = failing(error)
    assert await retry_on_connection_failure(jitter=False)(op)() == "ok"
    assert calls.call_count == 2


@pytest.mark.parametrize(
    "error",
    [
        nats.errors.Error("nats: 'Authorization Violation'"),
        nats.errors.AuthorizationError(),
        nats.errors.BadSubjectError(),
        nats.errors.MaxPayloadError(),
        nats.js.errors.BucketNotFoundError(),
        nats.js.errors.NotFoundError(),
        nats.js.errors.BadRequestError(),
        NaqBucketNotFoundError("no bucket b", bucket="b"),
        NaqConfigError("bad config"),
        ValueError("the caller's own"),
        KeyError("k"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_permanent_and_callers_errors_are_not_retried(
    sleep: AsyncMock, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    calls, op = failing(error)
    with caplog.at_level(logging.DEBUG, logger=LOGGER), pytest.raises(type(error)) as info:
        await retry_on_connection_failure(5)(op)()
    assert info.value is error
    assert calls.call_count == 1
    sleep.assert_not_called()
    assert caplog.records == []


async def test_cancellation_is_never_retried(sleep: AsyncMock) -> None:
    calls, op = failing(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retry_on_connection_failure(5, retry_on=(Exception,))(op)()
    assert calls.call_count == 1


async def test_retry_on_replaces_the_classification(sleep: AsyncMock) -> None:
    calls, op = failing(ValueError("flaky"), ValueError("flaky"))
    assert await retry_on_connection_failure(retry_on=(ValueError,), jitter=False)(op)() == "ok"
    assert calls.call_count == 3
    calls, op = failing(nats.errors.NoServersError())
    with pytest.raises(nats.errors.NoServersError):
        await retry_on_connection_failure(retry_on=ValueError)(op)()  # a single class works too
    assert calls.call_count == 1


async def test_error_after_retries_that_is_not_retryable_logs_giving_up(
    sleep: AsyncMock, caplog: pytest.LogCaptureFixture
) -> None:
    denied = nats.errors.AuthorizationError()
    _, op = failing(nats.errors.NoServersError(), denied)
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER),
        pytest.raises(nats.errors.AuthorizationError) as info,
    ):
        await retry_on_connection_failure(3, jitter=False)(op)()
    assert info.value is denied
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "ERROR"]
    assert "attempt 2/4 failed with AuthorizationError" in caplog.records[1].getMessage()
    assert "giving up (not retryable)" in caplog.records[1].getMessage()


# ---------------------------------------------------------------- logging


async def test_one_warning_per_retry_and_one_error_when_giving_up(
    sleep: AsyncMock, caplog: pytest.LogCaptureFixture
) -> None:
    _, op = failing(*[nats.errors.NoServersError()] * 3)
    wrapped = retry_on_connection_failure(2, 1.5, 2.0, jitter=False)(op)
    with caplog.at_level(logging.DEBUG, logger=LOGGER), pytest.raises(nats.errors.NoServersError):
        await wrapped()
    records = [(r.levelname, r.getMessage()) for r in caplog.records]
    error = "NoServersError: nats: no servers available for connection"
    failed = f"{op.__qualname__}: attempt %d/3 failed with {error}"
    assert records == [
        ("WARNING", failed % 1 + "; retrying in 1.500s"),
        ("WARNING", failed % 2 + "; retrying in 3.000s"),
        ("ERROR", failed % 3 + "; giving up (no retries left)"),
    ]


async def test_logged_messages_are_redacted_and_one_line(
    sleep: AsyncMock, caplog: pytest.LogCaptureFixture
) -> None:
    secret = ConnectionRefusedError(
        "connect to nats://alice:s3cr3t@10.0.0.1:4222 failed\nsecond line" + "x" * 500
    )
    _, op = failing(secret, secret)
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(ConnectionRefusedError):
        await retry_on_connection_failure(1, jitter=False)(op)()
    assert len(caplog.records) == 2
    for record in caplog.records:
        message = record.getMessage()
        assert "s3cr3t" not in message
        assert "\n" not in message
        assert "connect to nats://alice:***@10.0.0.1:4222 failed second line" in message
        assert message.endswith(("...; retrying in 1.000s", "...; giving up (no retries left)"))
        assert len(message) < 500


# ---------------------------------------------------------------- max_elapsed


async def test_max_elapsed_stops_before_a_wait_that_would_exceed_it(
    sleep: AsyncMock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [100.0]
    monkeypatch.setattr(_retry, "monotonic", lambda: now[0])

    async def advance(delay: float) -> None:
        now[0] += delay

    sleep.side_effect = advance
    _, op = failing(*[ConnectionResetError()] * 10)
    wrapped = retry_on_connection_failure(10, 1.0, 2.0, jitter=False, max_elapsed=5.0)(op)
    with caplog.at_level(logging.ERROR, logger=LOGGER), pytest.raises(ConnectionResetError):
        await wrapped()
    # waits 1 (t=1), 2 (t=3); the next wait of 4 would end at t=7 > 5: give up
    assert [c.args[0] for c in sleep.call_args_list] == [1.0, 2.0]
    assert "giving up (max_elapsed=5s reached)" in caplog.text


# ---------------------------------------------------------------- bare use and testing mode


async def test_bare_decorator_uses_the_defaults(sleep: AsyncMock) -> None:
    calls, op = failing(*[nats.errors.NoServersError()] * 4)
    wrapped = retry_on_connection_failure(op)
    with pytest.raises(nats.errors.NoServersError):
        await wrapped()
    assert calls.call_count == 4  # 3 retries
    delays = [c.args[0] for c in sleep.call_args_list]
    assert len(delays) == 3
    assert 0.5 <= delays[0] <= 1.0
    assert 1.0 <= delays[1] <= 2.0
    assert 2.0 <= delays[2] <= 4.0


async def test_testing_mode_removes_waits_and_caps_retries(sleep: AsyncMock) -> None:
    assert not is_retry_testing()
    set_retry_testing(True)
    assert is_retry_testing()
    calls, op = failing(*[ConnectionResetError()] * 3)
    assert await retry_on_connection_failure(3, 10.0)(op)() == "ok"
    assert calls.call_count == 4
    sleep.assert_not_called()
    set_retry_testing(True, max_retries=1)
    calls, op = failing(*[ConnectionResetError()] * 3)
    with pytest.raises(ConnectionResetError):
        await retry_on_connection_failure(3, 10.0)(op)()
    assert calls.call_count == 2
    calls, op = failing(*[ConnectionResetError()] * 3)
    with pytest.raises(ConnectionResetError):
        await retry_on_connection_failure(0)(op)()  # a cap never adds retries
    assert calls.call_count == 1
    set_retry_testing(False)
    assert not is_retry_testing()


async def test_retry_testing_context_manager_restores_the_previous_mode(sleep: AsyncMock) -> None:
    with retry_testing(max_retries=0):
        assert is_retry_testing()
        calls, op = failing(ConnectionResetError())
        with pytest.raises(ConnectionResetError):
            await retry_on_connection_failure(op)()
        assert calls.call_count == 1
    assert not is_retry_testing()
    set_retry_testing(True)
    with retry_testing():
        pass
    assert is_retry_testing()


def test_set_retry_testing_validates() -> None:
    with pytest.raises(TypeError, match="True or False"):
        set_retry_testing("yes")  # type: ignore[arg-type]
    with pytest.raises(NaqConfigError, match="max_retries"):
        set_retry_testing(True, max_retries=-1)


# ---------------------------------------------------------------- argument validation


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"max_retries": -1}, NaqConfigError, r"max_retries=\.\.\.\) must be >= 0"),
        ({"max_retries": 2.5}, TypeError, "max_retries.*must be an int"),
        ({"max_retries": True}, TypeError, "max_retries.*must be an int"),
        ({"max_retries": "3"}, TypeError, "max_retries.*must be an int"),
        ({"retry_delay": -0.1}, NaqConfigError, "retry_delay"),
        ({"retry_delay": "1"}, TypeError, "retry_delay.*number of seconds"),
        ({"retry_delay": math.nan}, NaqConfigError, "retry_delay.*finite"),
        ({"backoff_factor": 0.5}, NaqConfigError, "backoff_factor.*>= 1"),
        ({"backoff_factor": None}, TypeError, r"backoff_factor.*number \(multiplier\)"),
        ({"max_delay": -1}, NaqConfigError, "max_delay"),
        ({"max_delay": math.inf}, NaqConfigError, "max_delay.*finite"),
        ({"jitter": 1}, TypeError, "jitter"),
        ({"retry_on": ()}, NaqConfigError, "retry_on.*at least one"),
        ({"retry_on": (ValueError, int)}, TypeError, "retry_on.*exception class"),
        ({"retry_on": "ValueError"}, TypeError, "retry_on"),
        ({"retry_on": (asyncio.CancelledError,)}, NaqConfigError, "CancelledError.*never retried"),
        ({"retry_on": KeyboardInterrupt}, NaqConfigError, "KeyboardInterrupt"),
        ({"max_elapsed": 0}, NaqConfigError, "max_elapsed.*> 0"),
        ({"max_elapsed": "5"}, TypeError, "max_elapsed"),
    ],
)
def test_bad_arguments_rejected_at_decoration(
    kwargs: dict[str, Any], exc: type[Exception], match: str
) -> None:
    with pytest.raises(exc, match=match):
        retry_on_connection_failure(**kwargs)


class Unprintable(ConnectionResetError):
    def __str__(self) -> str:
        raise RuntimeError("no str")


async def test_unprintable_exception_is_still_retried_and_logged(
    sleep: AsyncMock, caplog: pytest.LogCaptureFixture
) -> None:
    error = Unprintable()
    calls, op = failing(error)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert await retry_on_connection_failure(jitter=False)(op)() == "ok"
    assert calls.call_count == 2
    assert "failed with Unprintable: <unprintable>; retrying in 1.000s" in caplog.text
