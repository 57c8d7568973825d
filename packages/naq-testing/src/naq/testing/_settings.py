"""Resolve the plugin options (see ``naq.testing._options``) into a validated ``Settings``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

import pytest

from naq.testing._constants import BACKENDS, DEFAULT_IMAGE
from naq.testing._options import flag as _flag

__all__ = ["Settings", "settings_from_config"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(config: pytest.Config, name: str) -> str:
    value = config.getoption(name, default=None)
    if value is None:
        value = config.getini(name)
    return str(value).strip()


def _bool(config: pytest.Config, name: str) -> bool:
    raw = _raw(config, name).lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise pytest.UsageError(f"{_flag(name)} / {name}: expected true or false, got {raw!r}")


def _number(config: pytest.Config, name: str, kind: type[Any], minimum: float) -> Any:
    raw = _raw(config, name)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise pytest.UsageError(f"{_flag(name)} / {name}: expected a number >= {minimum:g}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """The resolved options (see ``OPTIONS``)."""

    backend: str = "binary"
    url: str | None = None
    monitor_url: str | None = None
    server_bin: str | None = None
    server_args: tuple[str, ...] = ()
    jetstream: bool = True
    startup_timeout: float = 10.0
    connect_timeout: float = 5.0
    docker_image: str = DEFAULT_IMAGE
    cluster_size: int = 3
    leak_check: bool = False
    leak_timeout: float = 2.0


def settings_from_config(config: pytest.Config) -> Settings:
    """Resolve and validate every option; a bad value is a ``pytest.UsageError`` naming the option."""
    backend = _raw(config, "nats_backend").lower()
    if backend not in BACKENDS:
        raise pytest.UsageError(
            f"--nats-backend / nats_backend: expected one of {', '.join(BACKENDS)}, got {backend!r}"
        )
    url = _raw(config, "nats_url") or None
    if backend == "external" and not url:
        raise pytest.UsageError("--nats-backend=external needs --nats-url (or the nats_url ini key)")
    try:
        server_args = tuple(shlex.split(_raw(config, "nats_server_args")))
    except ValueError as exc:
        raise pytest.UsageError(f"--nats-server-args / nats_server_args: {exc}") from exc
    return Settings(
        backend=backend,
        url=url,
        monitor_url=_raw(config, "nats_monitor_url") or None,
        server_bin=_raw(config, "nats_server_bin") or None,
        server_args=server_args,
        jetstream=_bool(config, "nats_jetstream"),
        startup_timeout=_number(config, "nats_startup_timeout", float, 0.1),
        connect_timeout=_number(config, "nats_connect_timeout", float, 0.1),
        docker_image=_raw(config, "nats_docker_image") or DEFAULT_IMAGE,
        cluster_size=_number(config, "nats_cluster_size", int, 1),
        leak_check=_bool(config, "nats_leak_check"),
        leak_timeout=_number(config, "nats_leak_timeout", float, 0),
    )
