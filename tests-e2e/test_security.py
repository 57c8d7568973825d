"""Area 6 -- security: user/password, token, nkey and TLS end to end, and no secret ever leaks.

Every test here runs with logging at DEBUG (root and naq / nats loggers), records every connection
event, and at teardown scans every log record, every exception text it saw (with its chain), the
repr / str of every config, event and pool it used, the metrics export (``metrics_to_dict`` /
``metrics_to_json``: connections, operations and pool figures), the Prometheus exposition text, every
OpenTelemetry span (names, attributes, statuses, events) and metric point the instrumentation produced,
and captured stdout / stderr: none may contain a password, token or nkey seed -- not even the wrong
password a failing test used. Every connect here runs as a tracked operation, so failed operations
(with their error text) reach the operation metrics and spans too.
"""

from __future__ import annotations

import os
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nkeys
import pytest
import trustme
from naq_e2e_jwt import make_decentralised_auth
from naq_e2e_support import (
    assert_no_clients,
    bounded,
    capture_all_logs,
    exception_texts,
    find_secrets,
    unique,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from naq.connection import (
    Config,
    ConnectionPool,
    NaqConnectionError,
    NatsConfig,
    is_transient,
    nats_connection,
    nats_jetstream,
)
from naq.connection import events as naq_events
from naq.connection import utils as health  # health checks: health.test_nats_connection(...)
from naq.connection.config import TLSConfig, load_config
from naq.connection.decorators import retry_on_connection_failure, with_nats_connection
from naq.connection.utils import (
    ConnectionMonitor,
    enable_connection_monitoring,
    instrument_opentelemetry,
    metrics_to_dict,
    metrics_to_json,
    prometheus_text,
    uninstrument_opentelemetry,
)
from naq.testing import NatsServer, TLSOptions

pytestmark = pytest.mark.integration

USER = "alice"
PASSWORD = f"pw-{uuid.uuid4().hex}"
WRONG_PASSWORD = f"wrongpw-{uuid.uuid4().hex}"
TOKEN = f"tok-{uuid.uuid4().hex}"
WRONG_TOKEN = f"wrongtok-{uuid.uuid4().hex}"
NKEY_SEED = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
OTHER_SEED = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
CREDS = make_decentralised_auth()  # operator -> account -> user JWT chain, and the user's .creds
FOREIGN_CREDS = make_decentralised_auth()  # signed by another operator: the server must refuse it
SECRETS = [
    PASSWORD,
    WRONG_PASSWORD,
    TOKEN,
    WRONG_TOKEN,
    NKEY_SEED,
    OTHER_SEED,
    CREDS.user_seed,
    FOREIGN_CREDS.user_seed,
]
AUTH_TIMEOUT = 2.0
AUTH_LOOPS = 40  # the reset-after-ERR race shows up in roughly 1 connect in 20


def _public_key(seed: str) -> str:
    return nkeys.from_seed(bytearray(seed.encode())).public_key.decode()  # type: ignore[no-any-return]


# ---- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def password_server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True, user=USER, password=PASSWORD) as srv:
        yield srv


@pytest.fixture(scope="module")
def token_server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=False, token=TOKEN) as srv:
        yield srv


@pytest.fixture(scope="module")
def nkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    conf = tmp_path_factory.mktemp("nkey") / "nkey.conf"
    conf.write_text(f"authorization {{\n  users = [\n    {{ nkey: {_public_key(NKEY_SEED)} }}\n  ]\n}}\n")
    with NatsServer(jetstream=False, config_file=str(conf)) as srv:
        yield srv


@pytest.fixture(scope="module")
def creds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    conf = tmp_path_factory.mktemp("creds") / "operator.conf"
    conf.write_text(CREDS.server_config)
    with NatsServer(jetstream=False, config_file=str(conf)) as srv:
        yield srv


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": str(d / "ca.pem"), "cert": str(d / "server.pem"), "key": str(d / "server.key")}
    ca.cert_pem.write_to_path(paths["ca"])
    cert.private_key_pem.write_to_path(paths["key"])
    cert.cert_chain_pems[0].write_to_path(paths["cert"])
    return paths


@pytest.fixture(scope="module")
def tls_server(tls_files: dict[str, str]) -> Iterator[NatsServer]:
    opts = TLSOptions(cert_file=tls_files["cert"], key_file=tls_files["key"], ca_file=tls_files["ca"])
    with NatsServer(jetstream=False, tls=opts) as srv:
        yield srv


# ---- the secret scan around every test -----------------------------------------------------


class Scan:
    """Everything a test produced that a user or operator could see."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.objects: list[Any] = []
        self.monitor = ConnectionMonitor()
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])

    def telemetry_texts(self) -> list[str]:
        """Every span and metric point the OpenTelemetry instrumentation produced, as JSON text."""
        texts = [span.to_json() for span in self.spans.get_finished_spans()]
        data = self.metric_reader.get_metrics_data()
        if data is not None:
            texts.append(data.to_json())
        return texts

    def exc(self, exc: BaseException) -> BaseException:
        self.texts.extend(exception_texts(exc))
        return exc

    def obj(self, obj: Any) -> Any:
        self.objects.append(obj)
        return obj


@pytest.fixture(autouse=True)
def scan(capfd: pytest.CaptureFixture[str]) -> Iterator[Scan]:
    s = Scan()
    events: list[Any] = []
    remove = naq_events.add_listener(events.append)
    enable_connection_monitoring()  # the default monitor, which the exporters read
    enable_connection_monitoring(monitor=s.monitor)
    instrument_opentelemetry(s.monitor, tracer_provider=s.tracer_provider, meter_provider=s.meter_provider)
    with capture_all_logs() as logs:
        yield s
    remove()
    telemetry = s.telemetry_texts()
    uninstrument_opentelemetry(s.monitor)
    out, err = capfd.readouterr()
    texts = [*logs.texts, *s.texts, out, err]
    texts += [repr(o) for o in s.objects] + [str(o) for o in s.objects]
    texts += [repr(e) for e in events] + [str(e.error_message) for e in events]
    texts += [repr(metrics_to_dict()), metrics_to_json(), prometheus_text()]
    texts += [repr(metrics_to_dict(s.monitor.get_metrics())), prometheus_text(s.monitor)]
    texts += telemetry
    hits = find_secrets(texts, SECRETS)
    assert not hits, f"secrets leaked into logs / errors / reprs / metrics / spans: {hits[:5]}"
    assert telemetry, "no span or metric was produced: the telemetry scan checked nothing"
    # the scan saw real material (it would be vacuous otherwise)
    assert logs.texts or events, "nothing was logged and no event seen: the scan checked nothing"


def _url_with(user_info: str, server: NatsServer) -> str:
    return f"nats://{user_info}@127.0.0.1:{server.port}"


def _keep(cfg: Any, scan: Scan) -> None:
    """Scan configs' repr/str; a plain URL string is the caller's own text, not our output."""
    if not isinstance(cfg, str):
        scan.obj(cfg)


async def _works(cfg: Any, scan: Scan) -> None:
    _keep(cfg, scan)
    subject = unique("sec")
    with scan.monitor.track_operation("publish", destination=subject):
        async with nats_connection(cfg) as nc:
            await nc.publish(subject, b"x")
            await nc.rtt()
            assert nc.is_connected


async def _connect_error(cfg: Any, scan: Scan, limit: float = AUTH_TIMEOUT + 1.0) -> NaqConnectionError:
    """Connecting must fail with NaqConnectionError within ``limit`` (and never hang)."""
    _keep(cfg, scan)

    async def attempt() -> None:
        with scan.monitor.track_operation("connect"):  # a failed operation: its error reaches spans
            async with nats_connection(cfg):
                pass

    _, err, _ = await bounded(attempt(), limit)
    assert err is not None, "connected, but must have been refused"
    scan.exc(err)
    assert isinstance(err, NaqConnectionError), repr(err)
    return err


async def _auth_fails(cfg: Any, scan: Scan) -> BaseException:
    """Connecting must fail with a typed, non-transient authorization error, within the timeout."""
    err = await _connect_error(cfg, scan)
    assert "authoriz" in str(err).lower(), str(err)
    assert not is_transient(err), (
        f"an authorization failure classified as transient: {err!r} <- {err.__cause__!r}"
    )
    return err


# ---- user / password -----------------------------------------------------------------------


async def test_user_password_connects_by_fields_and_by_url(password_server: NatsServer, scan: Scan) -> None:
    await _works(NatsConfig(servers=password_server.url, user=USER, password=PASSWORD), scan)
    url = _url_with(f"{USER}:{PASSWORD}", password_server)
    await _works(url, scan)  # a URL string with credentials
    await _works(NatsConfig(servers=url), scan)
    cfg = scan.obj(Config(nats=NatsConfig(servers=url), profiles={"secure": NatsConfig(servers=url)}))
    async with nats_jetstream(cfg) as (_nc, js):
        await js.account_info()
    async with scan.obj(ConnectionPool(NatsConfig(servers=url))) as pool, pool.connection() as nc:
        await nc.rtt()
    assert scan.monitor.get_metrics().successful_connections == 5
    await assert_no_clients(password_server)


async def test_wrong_password_fails_fast_and_is_not_retried(password_server: NatsServer, scan: Scan) -> None:
    cfg = NatsConfig(
        servers=password_server.url, user=USER, password=WRONG_PASSWORD, connection_timeout=AUTH_TIMEOUT
    )
    err = await _auth_fails(cfg, scan)
    chain = exception_texts(err)
    assert any("Authorization Violation" in t for t in chain), chain

    calls = 0

    @retry_on_connection_failure(max_retries=3, retry_delay=0.05)
    @with_nats_connection(config=cfg)
    async def op(nc: Any) -> None:
        nonlocal calls
        calls += 1

    # Repeated: the server closes the socket right after '-ERR Authorization Violation', and a
    # second connect attempt sometimes sees only the reset -- that must not make it "transient".
    attempts: list[Any] = []
    remove = naq_events.add_listener(
        lambda e: attempts.append(e) if e.kind is naq_events.ConnectionEventKind.CONNECTING else None
    )
    try:
        for i in range(AUTH_LOOPS):
            _, exc, _ = await bounded(op(), AUTH_TIMEOUT + 1.0)
            assert isinstance(exc, NaqConnectionError), repr(exc)
            scan.exc(exc)
            assert len(attempts) == i + 1, (
                f"call {i}: the retry decorator retried an authorization failure "
                f"({len(attempts) - i} connects); cause chain: {exception_texts(exc)[:4]}"
            )
    finally:
        remove()
    assert calls == 0  # the body never ran: the connect itself failed
    # the wrong password in a URL too
    await _auth_fails(_url_with(f"{USER}:{WRONG_PASSWORD}", password_server), scan)
    await assert_no_clients(password_server)


async def test_health_check_with_wrong_password_is_false_and_quiet(
    password_server: NatsServer, scan: Scan
) -> None:
    cfg = scan.obj(
        NatsConfig(servers=password_server.url, user=USER, password=WRONG_PASSWORD, connection_timeout=1.0)
    )
    assert await health.test_nats_connection(cfg, timeout=1.0) is False
    good = scan.obj(NatsConfig(servers=password_server.url, user=USER, password=PASSWORD))
    assert await health.test_nats_connection(good, timeout=2.0) is True
    await assert_no_clients(password_server)


# ---- token ---------------------------------------------------------------------------------


async def test_token_auth(token_server: NatsServer, scan: Scan) -> None:
    await _works(NatsConfig(servers=token_server.url, token=TOKEN), scan)
    await _works(_url_with(TOKEN, token_server), scan)
    await _auth_fails(
        NatsConfig(servers=token_server.url, token=WRONG_TOKEN, connection_timeout=AUTH_TIMEOUT), scan
    )
    await _auth_fails(NatsConfig(servers=token_server.url, connection_timeout=AUTH_TIMEOUT), scan)  # no token
    await assert_no_clients(token_server)


# ---- nkey ----------------------------------------------------------------------------------


async def test_nkey_seed_file_auth(nkey_server: NatsServer, scan: Scan, tmp_path: Path) -> None:
    good = tmp_path / "user.nk"
    good.write_text(NKEY_SEED + "\n")
    bad = tmp_path / "other.nk"
    bad.write_text(OTHER_SEED + "\n")
    await _works(NatsConfig(servers=nkey_server.url, nkeys_seed_file=str(good)), scan)
    await _auth_fails(
        NatsConfig(servers=nkey_server.url, nkeys_seed_file=str(bad), connection_timeout=AUTH_TIMEOUT), scan
    )
    # the same from a YAML file, with the seed path interpolated from the environment
    cfg_file = tmp_path / "naq.yaml"
    cfg_file.write_text(f"nats:\n  servers: ['{nkey_server.url}']\n  nkeys_seed_file: {good}\n")
    cfg = load_config(str(cfg_file))
    await _works(cfg, scan)
    await assert_no_clients(nkey_server)


# ---- creds (decentralised JWT auth) --------------------------------------------------------


async def test_creds_file_auth(creds_server: NatsServer, scan: Scan, tmp_path: Path) -> None:
    good = CREDS.write_creds(tmp_path / "user.creds")
    foreign = FOREIGN_CREDS.write_creds(tmp_path / "foreign.creds")
    await _works(NatsConfig(servers=creds_server.url, creds_file=str(good)), scan)

    @with_nats_connection(config=NatsConfig(servers=creds_server.url, creds_file=str(good)))
    async def rtt(nc: Any) -> float:
        return float(await nc.rtt())

    assert await rtt() >= 0
    await _auth_fails(
        NatsConfig(servers=creds_server.url, creds_file=str(foreign), connection_timeout=AUTH_TIMEOUT), scan
    )
    # no credentials at all against an operator-mode server
    await _auth_fails(NatsConfig(servers=creds_server.url, connection_timeout=AUTH_TIMEOUT), scan)
    await assert_no_clients(creds_server)


# ---- TLS -----------------------------------------------------------------------------------


async def test_tls_with_generated_ca(tls_server: NatsServer, tls_files: dict[str, str], scan: Scan) -> None:
    assert tls_server.url.startswith("tls://")
    cfg = NatsConfig(servers=tls_server.url, tls=TLSConfig(enabled=True, ca_file=tls_files["ca"]))
    await _works(cfg, scan)
    async with nats_connection(cfg) as nc:
        await nc.rtt()
        conns = tls_server.connz()["connections"]
        assert len(conns) == 1, conns
        assert conns[0].get("tls_version"), conns  # the server sees TLS
    await assert_no_clients(tls_server)


async def test_tls_without_the_ca_fails_with_certificate_error(tls_server: NatsServer, scan: Scan) -> None:
    cfg = NatsConfig(servers=tls_server.url, tls=TLSConfig(enabled=True), connection_timeout=AUTH_TIMEOUT)
    err = await _connect_error(cfg, scan)
    chain = []
    cur: BaseException | None = err
    while cur is not None:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    assert any(isinstance(c, ssl.SSLCertVerificationError) for c in chain), chain
    assert "certificate" in str(err).lower(), f"the message should say it is a certificate problem: {err}"
    assert not is_transient(err)
    await assert_no_clients(tls_server)


async def test_plain_client_against_tls_server_is_refused(tls_server: NatsServer, scan: Scan) -> None:
    plain = NatsConfig(servers=f"nats://127.0.0.1:{tls_server.port}", connection_timeout=AUTH_TIMEOUT)
    err = await _connect_error(plain, scan)
    assert not is_transient(err)
    await assert_no_clients(tls_server)


async def test_certificate_failure_fails_fast_not_as_a_timeout(tls_server: NatsServer, scan: Scan) -> None:
    """A certificate that cannot be verified is a definite answer: no reason to wait out the budget.

    nats-py's connect loop (``allow_reconnect=True``, which core's fail-fast walk uses) does not
    return after an ``SSLCertVerificationError``; the error must still surface at once, reported as
    a certificate problem rather than as "timed out after N s".
    """
    cfg = NatsConfig(servers=tls_server.url, tls=TLSConfig(enabled=True), connection_timeout=5.0)
    err = await _connect_error(cfg, scan, limit=1.5)
    assert "certificate" in str(err).lower()
    assert "timed out" not in str(err), str(err)
    await assert_no_clients(tls_server)
