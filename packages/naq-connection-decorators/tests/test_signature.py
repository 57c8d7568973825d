"""Metadata, signatures, methods and decoration-time rejection, for every decorator."""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any
from unittest.mock import call

import pytest

from naq.connection.decorators import (
    retry_on_connection_failure,
    with_connection_monitoring,
    with_jetstream_context,
    with_kv_store,
    with_nats_connection,
)

pytestmark = pytest.mark.unit

INJECTING = {
    "with_nats_connection": with_nats_connection(),
    "with_jetstream_context": with_jetstream_context(),
    "with_kv_store": with_kv_store("bucket"),
}
PLAIN = {
    "with_connection_monitoring": with_connection_monitoring,
    "with_connection_monitoring()": with_connection_monitoring(),
    "retry_on_connection_failure": retry_on_connection_failure,
    "retry_on_connection_failure()": retry_on_connection_failure(),
}
ALL = {**INJECTING, **PLAIN}


async def publish(conn: SimpleNamespace, subject: str, data: bytes = b"", *, timeout: float = 1.0) -> int:
    """Publish data on subject."""
    return 1


@pytest.mark.parametrize("name", list(INJECTING))
def test_injecting_decorators_keep_metadata_and_drop_the_injected_parameter(name: str) -> None:
    wrapped = INJECTING[name](publish)
    assert wrapped.__name__ == "publish"
    assert wrapped.__qualname__ == "publish"
    assert wrapped.__doc__ == "Publish data on subject."
    assert wrapped.__module__ == publish.__module__
    assert wrapped.__wrapped__ is publish
    expected = "(subject: 'str', data: 'bytes' = b'', *, timeout: 'float' = 1.0) -> 'int'"
    assert str(inspect.signature(wrapped)) == expected
    assert "conn" not in wrapped.__annotations__
    assert "conn" in publish.__annotations__  # the original is untouched
    assert inspect.iscoroutinefunction(wrapped)


@pytest.mark.parametrize("name", list(PLAIN))
def test_plain_decorators_keep_metadata_and_signature(name: str) -> None:
    wrapped = PLAIN[name](publish)
    assert wrapped.__name__ == "publish"
    assert wrapped.__qualname__ == "publish"
    assert wrapped.__doc__ == "Publish data on subject."
    assert wrapped.__wrapped__ is publish
    assert inspect.signature(wrapped) == inspect.signature(publish)
    assert inspect.iscoroutinefunction(wrapped)


def test_stacked_injections_remove_one_parameter_each() -> None:
    @with_connection_monitoring
    @with_nats_connection
    @with_kv_store("b")
    async def both(conn: Any, kv: Any, key: str) -> None:
        return None

    assert list(inspect.signature(both).parameters) == ["key"]
    assert typing.get_type_hints(both) == {"key": str, "return": type(None)}


def test_varargs_function_keeps_its_signature() -> None:
    async def anything(*args: Any, **kwargs: Any) -> None:
        return None

    wrapped = with_nats_connection(anything)
    assert inspect.signature(wrapped) == inspect.signature(anything)


async def test_varargs_function_receives_the_resource_first(patched_cms: SimpleNamespace) -> None:
    @with_nats_connection
    async def anything(*args: Any) -> tuple[Any, ...]:
        return args

    assert await anything(1, 2) == (patched_cms.conn, 1, 2)


# ---------------------------------------------------------------- rejection at decoration time


def sync_function(conn: Any) -> None:
    return None


async def async_generator(conn: Any) -> AsyncIterator[int]:
    yield 1


def generator(conn: Any) -> Iterator[int]:
    yield 1


@pytest.mark.parametrize("name", list(ALL))
def test_sync_function_rejected(name: str) -> None:
    with pytest.raises(TypeError, match=r"needs an `async def` function.*sync_function is not a coroutine"):
        ALL[name](sync_function)


@pytest.mark.parametrize("name", list(ALL))
def test_async_generator_rejected(name: str) -> None:
    with pytest.raises(TypeError, match="async generator"):
        ALL[name](async_generator)


@pytest.mark.parametrize("name", list(ALL))
def test_generator_rejected(name: str) -> None:
    with pytest.raises(TypeError, match="is a generator function"):
        ALL[name](generator)


@pytest.mark.parametrize("name", [n for n in ALL if n != "retry_on_connection_failure"])  # 42 = max_retries
def test_non_callable_rejected(name: str) -> None:
    decorator = ALL[name]
    with pytest.raises(TypeError, match="decorates async functions, got int"):
        decorator(42)


@pytest.mark.parametrize("name", list(INJECTING))
def test_nothing_to_inject_into_rejected(name: str) -> None:
    async def no_params() -> None:
        return None

    async def keyword_only(*, conn: Any) -> None:
        return None

    class Service:
        async def only_self(self) -> None:
            return None

    with pytest.raises(TypeError, match=r"as the first argument.*no positional parameter"):
        INJECTING[name](no_params)
    with pytest.raises(TypeError, match="no positional parameter"):
        INJECTING[name](keyword_only)
    with pytest.raises(TypeError, match=r"after `self`.*\(self, conn, \.\.\.\)"):
        INJECTING[name](Service.only_self)


# ---------------------------------------------------------------- methods


class Publisher:
    def __init__(self) -> None:
        self.prefix = "jobs"

    @with_nats_connection
    async def publish(self, conn: Any, subject: str) -> tuple[Any, Any, str]:
        """Instance method."""
        return self, conn, f"{self.prefix}.{subject}"

    @classmethod
    @with_nats_connection
    async def class_below(cls, conn: Any, x: int) -> tuple[Any, Any, int]:
        return cls, conn, x

    @with_nats_connection  # type: ignore[arg-type]
    @classmethod
    async def class_above(cls, conn: Any, x: int) -> tuple[Any, Any, int]:
        return cls, conn, x

    @staticmethod
    @with_nats_connection
    async def static_below(conn: Any, x: int) -> tuple[Any, int]:
        return conn, x

    @with_nats_connection  # type: ignore[arg-type]
    @staticmethod
    async def static_above(conn: Any, x: int) -> tuple[Any, int]:
        return conn, x

    @retry_on_connection_failure  # type: ignore[arg-type]
    @with_connection_monitoring  # type: ignore[arg-type]
    @classmethod
    @with_kv_store("b")
    async def monitored_class(cls, kv: Any) -> tuple[Any, Any]:
        return cls, kv


async def test_instance_method_gets_the_connection_after_self(patched_cms: SimpleNamespace) -> None:
    pub = Publisher()
    assert await pub.publish("x") == (pub, patched_cms.conn, "jobs.x")
    assert await Publisher.publish(pub, "y") == (pub, patched_cms.conn, "jobs.y")
    assert str(inspect.signature(pub.publish)) == "(subject: 'str') -> 'tuple[Any, Any, str]'"
    assert str(inspect.signature(Publisher.publish)).startswith("(self, subject: 'str')")
    assert Publisher.publish.__qualname__ == "Publisher.publish"


@pytest.mark.parametrize("name", ["class_below", "class_above"])
async def test_classmethod_either_order(patched_cms: SimpleNamespace, name: str) -> None:
    method = getattr(Publisher, name)
    assert await method(3) == (Publisher, patched_cms.conn, 3)
    assert await getattr(Publisher(), name)(4) == (Publisher, patched_cms.conn, 4)
    assert list(inspect.signature(method).parameters) == ["x"]


@pytest.mark.parametrize("name", ["static_below", "static_above"])
async def test_staticmethod_either_order(patched_cms: SimpleNamespace, name: str) -> None:
    assert await getattr(Publisher, name)(5) == (patched_cms.conn, 5)
    assert await getattr(Publisher(), name)(6) == (patched_cms.conn, 6)
    assert list(inspect.signature(getattr(Publisher, name)).parameters) == ["x"]


async def test_plain_decorators_over_a_classmethod_object(patched_cms: SimpleNamespace) -> None:
    assert await Publisher.monitored_class() == (Publisher, patched_cms.kv)
    assert list(inspect.signature(Publisher.monitored_class).parameters) == []


class SyncCallable:
    def __call__(self, conn: Any) -> None:
        return None

    def __repr__(self) -> str:
        return "<SyncCallable>"


@pytest.mark.parametrize("name", list(ALL))
def test_callable_object_that_is_not_async_is_rejected(name: str) -> None:
    with pytest.raises(TypeError, match="but <SyncCallable> is not a coroutine function"):
        ALL[name](SyncCallable())


async def test_pooled_method_gets_the_borrowed_resource_after_self(
    pool: Any, patched_cms: SimpleNamespace
) -> None:
    class Repo:
        @with_kv_store("b", pool=pool)
        async def get(self, kv: Any, key: str) -> tuple[Any, Any, str]:
            return self, kv, key

    repo = Repo()
    assert await repo.get("k") == (repo, patched_cms.kv, "k")
    assert patched_cms.nats_kv_store.call_args_list == [call("b", pool=pool)]
    assert list(inspect.signature(repo.get).parameters) == ["key"]
