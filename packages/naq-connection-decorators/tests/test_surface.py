"""The patch surface and public names of naq.connection.decorators."""

from __future__ import annotations

import asyncio
import logging

import pytest

import naq.connection.decorators as deco
from naq.connection import config, context_managers, utils

pytestmark = pytest.mark.unit


def test_patch_points_are_the_real_objects() -> None:
    assert deco.nats_connection is context_managers.nats_connection
    assert deco.nats_jetstream is context_managers.nats_jetstream
    assert deco.nats_kv_store is context_managers.nats_kv_store
    assert deco.get_config is config.get_config
    assert deco.connection_monitor is utils.connection_monitor
    assert deco.asyncio is asyncio
    assert isinstance(deco.logger, logging.Logger)
    assert deco.logger.name == "naq.connection.decorators"


def test_public_names() -> None:
    assert deco.__all__ == [
        "with_nats_connection",
        "with_jetstream_context",
        "with_kv_store",
        "with_connection_monitoring",
        "retry_on_connection_failure",
        "set_retry_testing",
        "is_retry_testing",
        "retry_testing",
    ]
    for name in deco.__all__:
        assert callable(getattr(deco, name)), name
