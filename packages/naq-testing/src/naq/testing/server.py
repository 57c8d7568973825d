"""``NatsServer``: one real nats-server for tests, synchronous, usable inside or outside pytest.

Backends:

* ``"binary"`` (default): the nats-server executable (see ``naq.testing._binary``) as a child
  process on random loopback ports, a temporary JetStream store, output in a log file.
* ``"docker"``: a testcontainers NATS container; when the ``[docker]`` extra is missing or too old,
  or no Docker engine answers, it falls back to the binary and logs one line saying which.
* ``"external"``: a server somebody else runs (``url=`` / ``monitor_url=``); fault injection is
  not available there.

Fault injection: ``kill()`` (SIGKILL), ``restart()`` (same ports and same store, so clients
reconnect to the same URL and JetStream data survives), ``pause()`` / ``resume()`` (SIGSTOP /
SIGCONT: the server is frozen, TCP stays open) and ``lame_duck()`` (SIGUSR2). These are
synchronous and return before any client has noticed; ``await arestart()`` / ``await aresume()``
also wait until every client the toolkit made for the server works again (``naq.testing.reconnect``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import tempfile
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from naq.testing import _monitor
from naq.testing._binary import find_nats_server
from naq.testing._constants import BACKENDS
from naq.testing._docker import DEFAULT_IMAGE, DockerProcess, DockerUnavailable
from naq.testing._ports import free_port
from naq.testing._process import BinaryProcess
from naq.testing.errors import NatsServerError
from naq.testing.reconnect import DEFAULT_RECONNECT_TIMEOUT, wait_clients_of

__all__ = ["BACKENDS", "Backend", "NatsServer", "TLSOptions", "live_servers"]

logger = logging.getLogger("naq.testing")

Backend = Literal["binary", "docker", "external"]

_PORT_ATTEMPTS = 5
_fallback_logged = False
_LIVE: weakref.WeakSet[NatsServer] = weakref.WeakSet()


def live_servers() -> list[NatsServer]:
    """Every ``NatsServer`` of this process that was started and not stopped (used by leak checks)."""
    return [server for server in list(_LIVE) if server.running]


def _quote(value: str) -> str:
    """A nats-server config string literal (JSON quoting; quoted values are not variable-expanded)."""
    return json.dumps(value)


class _PortInUse(NatsServerError):
    """The server exited because a port was taken between probing and binding (a retryable race)."""


@dataclass(frozen=True)
class TLSOptions:
    """TLS for the client port of a test server.

    ``cert_file`` / ``key_file``: the server's certificate and key. ``ca_file``: the CA that signed
    it (clients use it to verify the server) and, with ``verify=True``, the CA client certificates
    must chain to. ``client_cert_file`` / ``client_key_file``: what ``connect_options()`` presents
    when ``verify`` is on.
    """

    cert_file: str
    key_file: str
    ca_file: str | None = None
    verify: bool = False
    client_cert_file: str | None = None
    client_key_file: str | None = None

    def client_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` a nats-py client can pass as ``tls=`` to reach this server."""
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.client_cert_file:
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
        return context


def _log_fallback(reason: str) -> None:
    """Log the docker-to-binary fallback once per process (one line, not one per server)."""
    global _fallback_logged
    if not _fallback_logged:
        _fallback_logged = True
        logger.warning("naq-testing: no usable Docker (%s); using the nats-server binary instead", reason)


class NatsServer:
    """A nats-server for tests. ``with NatsServer() as srv: ... srv.url ...``."""

    def __init__(
        self,
        jetstream: bool = True,
        port: int | None = None,
        args: Sequence[str] = (),
        config_file: str | None = None,
        backend: str = "binary",
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        tls: TLSOptions | None = None,
        *,
        monitor_port: int | None = None,
        name: str | None = None,
        binary: str | None = None,
        store_dir: str | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 10.0,
        lame_duck_duration: float | None = None,
        cluster_name: str | None = None,
        cluster_port: int | None = None,
        routes: Sequence[str] = (),
        url: str | None = None,
        monitor_url: str | None = None,
        docker_image: str = DEFAULT_IMAGE,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        for label, value in (("port", port), ("monitor_port", monitor_port), ("cluster_port", cluster_port)):
            if value is not None and not (isinstance(value, int) and 0 < value < 65536):
                raise ValueError(f"{label} must be an int in 1..65535 or None; got {value!r}")
        if (user is None) != (password is None):
            raise ValueError("user and password go together: pass both or neither")
        if token is not None and user is not None:
            raise ValueError("pass either token or user/password, not both")
        if isinstance(args, str):
            raise ValueError("args must be a sequence of strings such as ['-D'], not one string")
        if tls is not None and not isinstance(tls, TLSOptions):
            raise ValueError(f"tls must be a naq.testing.TLSOptions; got {type(tls).__name__}")
        if tls is not None and backend == "docker":
            raise ValueError(
                "tls= needs backend='binary' (certificate files are not mounted into containers)"
            )
        if lame_duck_duration is not None and config_file is not None:
            raise ValueError(
                "lame_duck_duration cannot be combined with config_file: set it in your config file"
            )
        if lame_duck_duration is not None and lame_duck_duration < 30:
            raise ValueError(
                f"lame_duck_duration must be >= 30 seconds (nats-server minimum); got {lame_duck_duration!r}"
            )
        if backend == "external" and not url:
            raise ValueError("backend='external' needs url= (and monitor_url= for connz/jsz/leak checks)")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be > 0; got {startup_timeout!r}")
        self.jetstream = jetstream
        self.args = tuple(args)
        self.config_file = config_file
        self.requested_backend = backend
        self.backend = backend
        self.user = user
        self.password = password
        self.token = token
        self.tls = tls
        self.host = "127.0.0.1"
        self.port = port
        self.monitor_port = monitor_port
        self.cluster_port = cluster_port
        self.cluster_name = cluster_name
        self.routes = tuple(routes)
        self.name = name
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.lame_duck_duration = lame_duck_duration
        self.docker_image = docker_image
        self._fixed_ports = port is not None and monitor_port is not None
        self._user_ports = {
            label
            for label, value in (
                ("port", port),
                ("monitor_port", monitor_port),
                ("cluster_port", cluster_port),
            )
            if value is not None
        }
        self._user_store_dir = store_dir
        self._tmpdir: str | None = None
        self._runner: BinaryProcess | DockerProcess | None = None
        self._external_url = url
        self._external_monitor_url = monitor_url
        self._external_running = False

    # -- addresses -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Client URL, e.g. ``nats://127.0.0.1:40123`` (``tls://`` with TLS). Never contains secrets."""
        if self._external_url is not None:
            return self._external_url
        if self.port is None:
            raise NatsServerError("the server has no port yet: call start() first")
        scheme = "tls" if self.tls is not None else "nats"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """Monitoring base URL, e.g. ``http://127.0.0.1:40124``."""
        if self.backend == "external":
            if not self._external_monitor_url:
                raise NatsServerError(
                    "this external server has no monitoring URL: pass monitor_url= (--nats-monitor-url)"
                )
            return self._external_monitor_url.rstrip("/")
        if self.monitor_port is None:
            raise NatsServerError("the server has no monitoring port yet: call start() first")
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def store_dir(self) -> str | None:
        """The JetStream store directory (binary backend), kept across restart(), removed on stop()."""
        if self._user_store_dir is not None:
            return self._user_store_dir
        return os.path.join(self._tmpdir, "jetstream") if self._tmpdir else None

    @property
    def log_path(self) -> str | None:
        """The server's log file (binary backend)."""
        return os.path.join(self._tmpdir, "nats-server.log") if self._tmpdir else None

    @property
    def pid(self) -> int | None:
        return self._runner.pid if self._runner is not None else None

    @property
    def running(self) -> bool:
        """True while the server process (or container) is alive; an external server once started."""
        if self.backend == "external":
            return self._external_running
        return self._runner is not None and self._runner.alive()

    @property
    def paused(self) -> bool:
        return self._runner is not None and self._runner.paused

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect(**srv.connect_options())`` (servers, auth, tls)."""
        options: dict[str, Any] = {"servers": [self.url]}
        if self.user is not None:
            options["user"] = self.user
            options["password"] = self.password
        if self.token is not None:
            options["token"] = self.token
        if self.tls is not None:
            options["tls"] = self.tls.client_context()
        return options

    def __repr__(self) -> str:
        where = self._external_url or (f"{self.host}:{self.port}" if self.port else "not started")
        return f"<NatsServer {self.backend} {where} running={self.running}>"

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, wait: bool = True) -> NatsServer:
        """Start the server and (with ``wait``) block until ``/healthz`` answers OK.

        Raises ``NatsServerError`` with the tail of the server log when it does not come up
        within ``startup_timeout`` seconds. Random ports are re-chosen if another process took
        one in the meantime.
        """
        if self.running:
            raise NatsServerError(f"{self!r} is already running; stop() it first or use restart()")
        if self.backend == "external":
            self._check_external()
            _LIVE.add(self)
            return self
        attempts = 1 if self._fixed_ports else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self._prepare()
            try:
                self._launch()
                if wait:
                    self.wait_ready()
                _LIVE.add(self)
                return self
            except _PortInUse:
                self._discard_runner()
                if attempt == attempts:
                    self._cleanup_dir()
                    raise
                logger.debug("naq-testing: port race on %s, retrying with new ports", self)
                self._release_auto_ports()
            except BaseException:
                self._discard_runner()
                self._cleanup_dir()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until ``/healthz`` answers 200 (bounded), or raise ``NatsServerError`` with the log tail."""
        runner = self._require_runner("wait_ready")
        timeout = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            if not runner.alive():
                tail = runner.log_tail()
                cls = (
                    _PortInUse
                    if "address already in use" in tail and not self._fixed_ports
                    else NatsServerError
                )
                raise cls(
                    f"nats-server exited during startup (exit code {runner.returncode()}); "
                    f"log tail ({self.log_path}):\n{tail}"
                )
            if _monitor.healthz(self.monitor_url):
                return
            if time.monotonic() >= deadline:
                raise NatsServerError(
                    f"nats-server did not report healthy at {self.monitor_url}/healthz within {timeout:g}s; "
                    f"log tail ({self.log_path}):\n{runner.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate (bounded wait, then SIGKILL), reap, and remove the temporary store. Idempotent."""
        _LIVE.discard(self)
        if self.backend == "external":
            self._external_running = False
            return
        self._discard_runner()
        self._cleanup_dir()

    def kill(self) -> None:
        """SIGKILL the server (a crash). The store is kept: ``restart()`` brings it back."""
        self._require_runner("kill").kill()

    def restart(self, *, kill: bool = False, wait: bool = True) -> NatsServer:
        """Stop (or with ``kill=True`` SIGKILL) and start again on the same ports with the same store."""
        runner = self._require_runner("restart")
        if runner.alive():
            if kill:
                runner.kill()
            elif isinstance(runner, DockerProcess):
                runner.stop_keep(self.stop_timeout)
            else:
                runner.terminate(self.stop_timeout)
        if isinstance(runner, DockerProcess):
            runner.restart()
        else:
            runner.launch()
        if wait:
            self.wait_ready()
        return self

    async def arestart(self, *, kill: bool = False, timeout: float = DEFAULT_RECONNECT_TIMEOUT) -> NatsServer:
        """``restart(kill=kill)``, then wait until every client the toolkit made for this server
        (``nats_client``, ``nats_client_factory``) has a working connection again.

        The restart runs in a worker thread, so the event loop (your clients, your background
        tasks) keeps running meanwhile. Raises ``NatsServerError`` naming a client that has no
        working connection after ``timeout`` seconds. For other clients: ``wait_reconnected(nc)``.
        """
        await asyncio.to_thread(self.restart, kill=kill)
        await wait_clients_of([self], timeout)
        return self

    async def aresume(self, *, timeout: float = DEFAULT_RECONNECT_TIMEOUT) -> None:
        """``resume()``, then wait until every client the toolkit made for this server works again
        (a client may have given up on the frozen connection and be reconnecting)."""
        self.resume()
        await wait_clients_of([self], timeout)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing is answered."""
        self._require_alive("pause").pause()

    def resume(self) -> None:
        """Unfreeze a paused server (SIGCONT)."""
        self._require_runner("resume").resume()

    def lame_duck(self, wait: float | None = None) -> None:
        """Put the server in lame-duck mode (SIGUSR2): it stops accepting clients, evicts them, exits.

        ``wait``: seconds to wait for the process to exit (None: return at once). The exit takes
        ``lame_duck_duration`` (nats-server default 2 minutes; set ``lame_duck_duration=`` to shorten).
        """
        runner = self._require_alive("lame_duck")
        runner.send(signal.SIGUSR2)
        if wait is not None and not runner.wait_exit(wait):
            raise NatsServerError(f"nats-server still running {wait:g}s after lame-duck mode started")

    # -- monitoring ------------------------------------------------------------------------------
    def monitor(self, path: str, timeout: float = 5.0, **params: Any) -> Any:
        """GET a monitoring endpoint (``/connz``, ``/jsz``, ``/routez``, ...) and return its JSON."""
        try:
            return _monitor.get_json(self.monitor_url, path, params or None, timeout=timeout)
        except OSError as exc:
            raise NatsServerError(f"monitoring request {self.monitor_url}{path} failed: {exc}") from exc

    def connz(self, **params: Any) -> dict[str, Any]:
        """``/connz``: open client connections (pass e.g. ``state="all"``, ``subs=1``)."""
        result: dict[str, Any] = self.monitor("/connz", **params)
        return result

    def client_count(self) -> int:
        """Number of client connections open right now."""
        return int(self.connz().get("total", 0))

    def jsz(self, **params: Any) -> dict[str, Any]:
        """``/jsz``: JetStream state (streams, meta leader with a cluster)."""
        result: dict[str, Any] = self.monitor("/jsz", **params)
        return result

    def varz(self) -> dict[str, Any]:
        """``/varz``: server configuration and counters."""
        result: dict[str, Any] = self.monitor("/varz")
        return result

    def healthz(self, **params: Any) -> bool:
        """True when ``/healthz`` answers 200."""
        return _monitor.healthz(self.monitor_url, params or None)

    # -- internals -------------------------------------------------------------------------------
    def _require_runner(self, action: str) -> BinaryProcess | DockerProcess:
        if self.backend == "external":
            raise NatsServerError(
                f"{action}() is not possible with backend='external': the server is not ours"
            )
        if self._runner is None:
            raise NatsServerError(f"{action}() needs a started server: call start() first")
        return self._runner

    def _require_alive(self, action: str) -> BinaryProcess | DockerProcess:
        runner = self._require_runner(action)
        if not runner.alive():
            raise NatsServerError(f"{action}() needs a running server, but it has exited")
        return runner

    def _check_external(self) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        try:
            socket.create_connection((host, port), timeout=self.startup_timeout).close()
        except OSError as exc:
            raise NatsServerError(
                f"external nats-server at {host}:{port} is not reachable ({exc}); start it or fix --nats-url"
            ) from exc
        self._external_running = True

    def _prepare(self) -> None:
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="naq-nats-")
        if self.port is None:
            self.port = free_port()
        if self.monitor_port is None:
            self.monitor_port = free_port()
        if self.cluster_name is not None and self.cluster_port is None:
            self.cluster_port = free_port()

    def _release_auto_ports(self) -> None:
        """Forget the ports the user did not fix so the next attempt draws new ones."""
        self.port = None if self._auto("port") else self.port
        self.monitor_port = None if self._auto("monitor_port") else self.monitor_port
        self.cluster_port = None if self._auto("cluster_port") else self.cluster_port

    def _auto(self, attr: str) -> bool:
        return attr not in self._user_ports

    def server_args(self, store_dir: str | None, auth_flags: bool = True) -> list[str]:
        """nats-server flags for this configuration (without binary, host, ports and monitoring).

        ``auth_flags=False`` leaves user/password/token out (the binary backend puts them in a
        private config file instead, so they do not show in ``ps`` output).
        """
        argv: list[str] = []
        if self.name:
            argv += ["--name", self.name]
        if self.jetstream:
            argv += ["-js"]
            if store_dir:
                argv += ["-sd", store_dir]
        if auth_flags and self.user is not None:
            argv += ["--user", self.user, "--pass", str(self.password)]
        if auth_flags and self.token is not None:
            argv += ["--auth", self.token]
        if self.tls is not None:
            argv += ["--tls", "--tlscert", self.tls.cert_file, "--tlskey", self.tls.key_file]
            if self.tls.ca_file:
                argv += ["--tlscacert", self.tls.ca_file]
            if self.tls.verify:
                argv += ["--tlsverify"]
        if self.cluster_name is not None:
            argv += [
                "--cluster_name",
                self.cluster_name,
                "--cluster",
                f"nats://{self.host}:{self.cluster_port}",
            ]
            if self.routes:
                argv += ["--routes", ",".join(self.routes)]
        return argv

    def _binary_argv(self) -> list[str]:
        assert self._tmpdir is not None
        argv = [
            find_nats_server(self.binary),
            "-a",
            self.host,
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
        ]
        config = self.config_file
        lines = self._generated_config_lines()
        if lines:
            config = os.path.join(self._tmpdir, "naq.conf")
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
        if config:
            argv += ["-c", config]
        return (
            argv + self.server_args(self.store_dir, auth_flags=self.config_file is not None) + list(self.args)
        )

    def _generated_config_lines(self) -> list[str]:
        """Settings that have no flag (lame duck timing) and credentials (kept out of argv).

        Only used without ``config_file`` (nats-server takes one config file; with yours, the
        credentials go on the command line).
        """
        if self.config_file is not None:
            return []
        lines: list[str] = []
        if self.lame_duck_duration is not None:
            grace = 1.0  # clients hear about lame duck mode after the grace period: keep tests quick
            lines += [
                f'lame_duck_duration: "{self.lame_duck_duration:g}s"',
                f'lame_duck_grace_period: "{grace:g}s"',
            ]
        if self.user is not None:
            lines.append(
                f"authorization {{ user: {_quote(self.user)}, password: {_quote(str(self.password))} }}"
            )
        if self.token is not None:
            lines.append(f"authorization {{ token: {_quote(self.token)} }}")
        return lines

    def _launch(self) -> None:
        assert self.log_path is not None
        if self.backend == "docker":
            docker = DockerProcess(
                self.docker_image,
                int(self.port or 0),
                int(self.monitor_port or 0),
                self.server_args("/data" if self.jetstream else None) + list(self.args),
            )
            try:
                docker.create()
            except DockerUnavailable as exc:
                _log_fallback(str(exc))
                self.backend = "binary"
            else:
                self._runner = docker
                docker.launch()
                self.host = docker.host
                return
        runner = BinaryProcess(self._binary_argv(), self.log_path)
        self._runner = runner
        runner.launch()
        logger.debug("naq-testing: started nats-server pid %s at %s", runner.pid, self.url)

    def _discard_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.terminate(self.stop_timeout)

    def _cleanup_dir(self) -> None:
        tmpdir, self._tmpdir = self._tmpdir, None
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
