"""The docker backend: nats-server in a testcontainers NATS container.

The stock image's ``-js`` command turns monitoring off, so the command is replaced with one that
enables both. Host ports are chosen by us and bound explicitly, so a container restart keeps the
same URL, and the JetStream store lives in the container, so a restart keeps the data.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DEFAULT_IMAGE",
    "TESTCONTAINERS_FLOOR",
    "DockerProcess",
    "DockerUnavailable",
    "docker_unavailable_errors",
]

from naq.testing._constants import DEFAULT_IMAGE

logger = logging.getLogger("naq.testing")

CLIENT_PORT = 4222
MONITOR_PORT = 8222


# The first testcontainers release with ``testcontainers.community.nats`` (checked against the
# published wheels: 4.14.2 has only ``testcontainers.nats``). Keep in step with the [docker] extra.
TESTCONTAINERS_FLOOR = "4.15"


class DockerUnavailable(Exception):
    """Docker cannot be used: the ``[docker]`` extra is missing or too old, or no engine answers
    (the caller falls back to the binary). The message says which."""


def docker_unavailable_errors() -> tuple[type[BaseException], ...]:
    """Exception types meaning "no Docker engine answers": ``docker.errors.DockerException`` when
    the docker package is importable, else none."""
    try:
        from docker.errors import DockerException
    except ImportError:
        return ()
    return (DockerException,)


def _extra_missing(exc: ImportError) -> DockerUnavailable:
    return DockerUnavailable(
        f"the [docker] extra is missing or too old ({type(exc).__name__}: {exc}); the docker backend "
        f"needs testcontainers>={TESTCONTAINERS_FLOOR} (testcontainers.community.nats): "
        "pip install -U 'naq-testing[docker]'"
    )


def _container_class() -> Any:
    with warnings.catch_warnings():  # testcontainers warns about its own deprecated decorators
        warnings.simplefilter("ignore", DeprecationWarning)
        from testcontainers.community.nats import NatsContainer

    return NatsContainer


class DockerProcess:
    """Same interface as ``BinaryProcess`` (launch / alive / pause / resume / terminate / kill)."""

    def __init__(
        self,
        image: str,
        client_port: int,
        monitor_port: int,
        server_args: Sequence[str],
    ) -> None:
        self.image = image
        self.client_port = client_port
        self.monitor_port = monitor_port
        self.server_args = list(server_args)
        self.container: Any = None
        self.paused = False
        self.host = "127.0.0.1"

    def create(self) -> None:
        """Build the container object; raises ``DockerUnavailable`` when Docker cannot be used."""
        try:
            container_class = _container_class()
        except ImportError as exc:
            raise _extra_missing(exc) from exc
        try:
            container = container_class(image=self.image, jetstream=False)
        except ImportError as exc:  # testcontainers imports docker-py lazily
            raise _extra_missing(exc) from exc
        except docker_unavailable_errors() as exc:
            raise DockerUnavailable(
                f"no Docker engine answers ({type(exc).__name__}: {exc}); start Docker or set DOCKER_HOST"
            ) from exc
        command = ["-m", str(MONITOR_PORT), *self.server_args]
        container.with_command(" ".join(command))
        container.with_bind_ports(CLIENT_PORT, self.client_port)
        container.with_bind_ports(MONITOR_PORT, self.monitor_port)
        self.container = container

    def launch(self) -> None:
        if self.container is None:
            self.create()
        self.container.start()
        host = str(self.container.get_container_host_ip())
        self.host = "127.0.0.1" if host == "localhost" else host
        self.paused = False

    @property
    def pid(self) -> int | None:
        return None

    def _wrapped(self) -> Any:
        return self.container.get_wrapped_container()

    def alive(self) -> bool:
        if self.container is None or self._wrapped() is None:
            return False
        wrapped = self._wrapped()
        wrapped.reload()
        return bool(wrapped.status in ("running", "paused"))

    def returncode(self) -> int | None:
        return None

    def send(self, sig: int) -> None:
        self._wrapped().kill(signal=int(sig))

    def pause(self) -> None:
        self._wrapped().pause()
        self.paused = True

    def resume(self) -> None:
        self._wrapped().unpause()
        self.paused = False

    def restart(self) -> None:
        """Start the stopped/killed container again (same bound ports, same filesystem)."""
        self._wrapped().start()
        self.paused = False

    def terminate(self, timeout: float = 10.0) -> None:
        """Stop and remove the container."""
        if self.container is None:
            return
        if self.paused:
            self.resume()
        self.container.stop()
        self.container = None

    def stop_keep(self, timeout: float = 10.0) -> None:
        """Stop the container but keep it (and its store) for a restart."""
        if self.paused:
            self.resume()
        self._wrapped().stop(timeout=int(timeout))

    def kill(self) -> None:
        self._wrapped().kill()
        self.paused = False

    def wait_exit(self, timeout: float) -> bool:
        self._wrapped().wait(timeout=timeout)
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            raw = self._wrapped().logs(tail=lines)
        except Exception:
            return ""
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
