"""The fixtures and hooks of the pytest plugin, registered by ``naq.testing.plugin`` at
``pytest_configure`` (so this module and what it imports load after pytest-cov has started).

Fixtures: ``nats_server`` (session, synchronous), ``nats_url``, ``nats_server_factory``,
``nats_client`` / ``nats_client_factory`` (function scope, async, closed after the test),
``nats_jetstream``, ``nats_cluster`` / ``nats_cluster_factory``, ``nats_leak_check``,
``nats_names``, ``fake_nats``, ``nats_settings``. Async fixtures use ``pytest_asyncio.fixture``
without a loop scope, so they follow the project's ``asyncio_default_fixture_loop_scope`` and
work in strict and auto mode. Options: see ``naq.testing._options.OPTIONS``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from naq.testing._settings import Settings, settings_from_config
from naq.testing.clients import NatsClientFactory
from naq.testing.cluster import NatsCluster
from naq.testing.leaks import LeakCheck
from naq.testing.names import NatsNames
from naq.testing.server import NatsServer

__all__ = [
    "FIXTURES",
    "NatsClusterFactory",
    "NatsServerFactory",
    "fake_nats",
    "nats_client",
    "nats_client_factory",
    "nats_cluster",
    "nats_cluster_factory",
    "nats_jetstream",
    "nats_leak_check",
    "nats_module_cluster",
    "nats_names",
    "nats_server",
    "nats_server_factory",
    "nats_settings",
    "nats_url",
    "place_leak_check_first",
    "pytest_collection_modifyitems",
    "pytest_pycollect_makeitem",
    "session_server",
]


# The fixtures of this plugin: a coroutine test using one of them (directly or through another
# fixture) is run by pytest-asyncio even in strict mode, so `async def test_x(nats_client)` works
# without configuration.
FIXTURES = frozenset(
    {
        "fake_nats",
        "nats_client",
        "nats_client_factory",
        "nats_cluster",
        "nats_cluster_factory",
        "nats_jetstream",
        "nats_leak_check",
        "nats_module_cluster",
        "nats_names",
        "nats_server",
        "nats_server_factory",
        "nats_settings",
        "nats_url",
    }
)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Collector, name: str, obj: object
) -> Generator[None, Any, Any]:
    """Mark coroutine tests that use naq-testing fixtures with ``pytest.mark.asyncio``.

    ``trylast`` makes this the innermost wrapper, so pytest-asyncio's wrapper (which turns marked
    coroutine tests into asyncio items) sees the marker.
    """
    result = yield
    if inspect.iscoroutinefunction(obj) and result:
        for node in result if isinstance(result, list) else [result]:
            if (
                isinstance(node, pytest.Function)
                and node.get_closest_marker("asyncio") is None
                and FIXTURES.intersection(node.fixturenames)
            ):
                node.add_marker(pytest.mark.asyncio)
    return result


def _settings(config: pytest.Config) -> Settings:
    cached: Settings | None = getattr(config, "_naq_testing_settings", None)
    if cached is None:
        cached = settings_from_config(config)
        config._naq_testing_settings = cached  # type: ignore[attr-defined]
    return cached


@pytest.fixture(scope="session")
def nats_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved naq-testing options (ini keys / ``--nats-*`` flags)."""
    return _settings(pytestconfig)


def session_server(settings: Settings) -> NatsServer:
    """The (not yet started) server the ``nats_server`` fixture runs for these settings."""
    if settings.backend == "external":
        return NatsServer(
            backend="external",
            url=settings.url,
            monitor_url=settings.monitor_url,
            jetstream=settings.jetstream,
        )
    return NatsServer(
        jetstream=settings.jetstream,
        args=settings.server_args,
        backend=settings.backend,
        binary=settings.server_bin,
        startup_timeout=settings.startup_timeout,
        docker_image=settings.docker_image,
    )


@pytest.fixture(scope="session")
def nats_server(nats_settings: Settings) -> Iterator[NatsServer]:
    """One nats-server for the whole session (per xdist worker), JetStream on, stopped at the end."""
    with session_server(nats_settings) as server:
        yield server


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """Client URL of the session server, e.g. ``nats://127.0.0.1:40123``."""
    return nats_server.url


class NatsServerFactory:
    """``nats_server_factory(**NatsServer_kwargs) -> started NatsServer``; all stopped at teardown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.servers: list[NatsServer] = []

    def __call__(self, **kwargs: Any) -> NatsServer:
        backend = "docker" if self.settings.backend == "docker" else "binary"
        kwargs.setdefault("backend", backend)
        kwargs.setdefault("binary", self.settings.server_bin)
        kwargs.setdefault("startup_timeout", self.settings.startup_timeout)
        kwargs.setdefault("docker_image", self.settings.docker_image)
        server = NatsServer(**kwargs)
        self.servers.append(server)
        return server.start()

    def stop_all(self) -> None:
        """Stop every server made (newest first)."""
        servers, self.servers = self.servers, []
        for server in reversed(servers):
            server.stop()


@pytest.fixture
def nats_server_factory(nats_settings: Settings) -> Iterator[NatsServerFactory]:
    """Start extra servers with other options (auth, TLS, no JetStream, ...) for one test."""
    factory = NatsServerFactory(nats_settings)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest_asyncio.fixture
async def nats_client_factory(
    request: pytest.FixtureRequest,
    nats_settings: Settings,
    nats_server_factory: NatsServerFactory,
    nats_cluster_factory: NatsClusterFactory,
) -> AsyncIterator[NatsClientFactory]:
    """``await nats_client_factory(server_or_url=None, **connect_options)``; clients closed after the test.

    Without a target it connects to the session ``nats_server`` (started on first use). It depends
    on the server and cluster factories only for the teardown order: its clients are closed while
    the servers those factories started are still up (no reconnect attempts at teardown).
    """

    _check_loop_scope(request)

    def default_server() -> NatsServer:
        server: NatsServer = request.getfixturevalue("nats_server")
        return server

    factory = NatsClientFactory(default_server, timeout=nats_settings.connect_timeout)
    try:
        yield factory
    finally:
        await factory.aclose()


@pytest_asyncio.fixture
async def nats_client(nats_client_factory: NatsClientFactory) -> Any:
    """A nats-py client connected to the session server, closed after the test."""
    return await nats_client_factory()


@pytest_asyncio.fixture
async def nats_jetstream(nats_client: Any) -> Any:
    """A JetStream context (``nats_client.jetstream()``) on the session server."""
    return nats_client.jetstream()


# -- loop scopes -----------------------------------------------------------------------------------
def _ini(config: pytest.Config, name: str) -> str:
    try:
        value = config.getini(name)
    except ValueError:  # a pytest-asyncio without this option
        return ""
    return str(value or "")


def _loop_scopes(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(test loop scope, loop scope of this plugin's async fixtures)`` as pytest-asyncio sets them.

    The test's: ``loop_scope=`` of its ``asyncio`` marker, else ``asyncio_default_test_loop_scope``
    (default ``function``). The fixtures': ``asyncio_default_fixture_loop_scope``, else their own
    scope (``function``): they are declared without a loop scope on purpose.
    """
    marker = request.node.get_closest_marker("asyncio")
    kwargs = marker.kwargs if marker is not None else {}
    test_scope = (
        kwargs.get("loop_scope")
        or kwargs.get("scope")
        or _ini(request.config, "asyncio_default_test_loop_scope")
    )
    fixture_scope = _ini(request.config, "asyncio_default_fixture_loop_scope")
    if fixture_scope in ("", "fixture-scope"):
        fixture_scope = "function"
    return str(test_scope or "function"), fixture_scope


def _check_loop_scope(request: pytest.FixtureRequest) -> None:
    """Fail at once when the test runs in another event loop than the client fixtures.

    A nats-py client works only in the loop that made it; in another loop its first request or
    flush hangs until it times out, with nothing pointing at the cause.
    """
    __tracebackhide__ = True
    if request.node.get_closest_marker("asyncio") is None:
        return  # a synchronous test: it cannot use the client anyway
    test_scope, fixture_scope = _loop_scopes(request)
    if test_scope != fixture_scope:
        pytest.fail(
            f"naq-testing: {request.node.nodeid} runs in a {test_scope!r}-scoped event loop, but "
            f"nats_client / nats_client_factory make their clients in the {fixture_scope!r}-scoped loop "
            "and a nats-py client works only in the loop that made it. Set "
            f"asyncio_default_fixture_loop_scope = {test_scope} in your pytest configuration "
            f"(or give the test loop_scope={fixture_scope!r}).",
            pytrace=False,
        )


# -- leak check ------------------------------------------------------------------------------------
LEAK_CHECK = "nats_leak_check"


def _scope_of(item: pytest.Item, name: str) -> str:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.get(name) if info is not None else None
    return str(defs[-1].scope) if defs else "function"


def place_leak_check_first(item: pytest.Item, add: bool = False) -> None:
    """Move ``nats_leak_check`` in front of the item's other function-scoped fixtures.

    Fixtures are torn down in reverse setup order, so the leak check, set up first among the
    function-scoped fixtures, is torn down last: after ``nats_client`` and the user's own client
    fixtures have closed their connections. It is an async fixture, so pytest-asyncio tears it
    down before the event loop is closed and leftover tasks are cancelled: a connection left open
    by the test is still open when the check looks at ``/connz``. Higher-scoped fixtures (the
    session server, a module cluster) stay in front so the baseline sees them running.
    """
    names: list[str] | None = getattr(item, "fixturenames", None)
    if names is None:
        return
    if LEAK_CHECK in names:
        names.remove(LEAK_CHECK)
    elif not add:
        return
    position = next((i for i, name in enumerate(names) if _scope_of(item, name) == "function"), len(names))
    names.insert(position, LEAK_CHECK)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    add = _settings(config).leak_check
    for item in items:
        place_leak_check_first(item, add=add and isinstance(item, pytest.Function))


@pytest_asyncio.fixture
async def nats_leak_check(
    request: pytest.FixtureRequest,
    nats_settings: Settings,
    nats_server_factory: NatsServerFactory,
    nats_cluster_factory: NatsClusterFactory,
) -> AsyncIterator[LeakCheck]:
    """Fail the test (an error at teardown) if connections it opened are still open on any server
    of this process (checked through ``/connz``). See ``place_leak_check_first`` for the ordering.

    It depends on the server and cluster factories only for the teardown order: the check runs
    while the servers and clusters they started are still up, so their connections are seen."""
    __tracebackhide__ = True
    check = LeakCheck(timeout=nats_settings.leak_timeout)
    check.snapshot()
    yield check
    await check.assert_no_leaks(request.node.nodeid)


# -- names -----------------------------------------------------------------------------------------
@pytest_asyncio.fixture
async def nats_names(nats_server: NatsServer, nats_settings: Settings) -> AsyncIterator[NatsNames]:
    """Unique stream / bucket / subject names for this test; after it, every stream, KV bucket and
    object store whose name came from them is deleted from the session server."""
    names = NatsNames()
    yield names
    if not names.issued or not nats_server.jetstream or not nats_server.running:
        return
    cleaner = NatsClientFactory(timeout=nats_settings.connect_timeout)
    try:
        client = await cleaner(nats_server)
        await names.cleanup(client.jetstream())
    finally:
        await cleaner.aclose()


# -- clusters --------------------------------------------------------------------------------------
class NatsClusterFactory:
    """``nats_cluster_factory(size=3, jetstream=True, **NatsCluster_kwargs) -> started NatsCluster``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clusters: list[NatsCluster] = []

    def __call__(self, size: int | None = None, **kwargs: Any) -> NatsCluster:
        kwargs.setdefault("binary", self.settings.server_bin)
        kwargs.setdefault("startup_timeout", max(self.settings.startup_timeout, 30.0))
        cluster = NatsCluster(self.settings.cluster_size if size is None else size, **kwargs)
        self.clusters.append(cluster)
        return cluster.start()

    def stop_all(self) -> None:
        clusters, self.clusters = self.clusters, []
        for cluster in reversed(clusters):
            cluster.stop()


@pytest.fixture
def nats_cluster_factory(nats_settings: Settings) -> Iterator[NatsClusterFactory]:
    """Start clusters with other options for one test; all stopped at teardown."""
    factory = NatsClusterFactory(nats_settings)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def nats_module_cluster(pytestconfig: pytest.Config) -> Iterator[NatsCluster]:
    """The cluster behind ``nats_cluster``: started once per test module, stopped after it."""
    factory = NatsClusterFactory(_settings(pytestconfig))
    cluster = factory()
    try:
        yield cluster
    finally:
        factory.stop_all()


@pytest.fixture
def nats_cluster(nats_module_cluster: NatsCluster) -> NatsCluster:
    """A JetStream cluster (``nats_cluster_size`` nodes, default 3) shared by the tests of a module.

    Nodes a previous test killed, stopped or paused are restarted / resumed first.
    """
    nats_module_cluster.heal()
    return nats_module_cluster


# -- the fake --------------------------------------------------------------------------------------
@pytest.fixture
def fake_nats() -> Iterator[Any]:
    """``nats.connect`` patched with the in-memory fake (``naq.testing.fake``) for this test."""
    # Imported here: the fake is optional for everything else in the plugin.
    fake_module = importlib.import_module("naq.testing.fake")
    with fake_module.patch_nats_connect() as fake:
        yield fake
