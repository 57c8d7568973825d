"""NatsConfig.ssl_context() against a real nats-server that requires mutual TLS."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import nats
import pytest
import trustme

from naq.connection.config import NatsConfig, TLSConfig
from naq.connection.errors import is_transient

pytestmark = pytest.mark.integration


async def _quiet(_exc: Exception) -> None:
    """nats-py's default error callback prints a traceback per failed attempt."""


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.org")
    files = {
        "ca": tmp_path / "ca.pem",
        "server_cert": tmp_path / "server.pem",
        "server_key": tmp_path / "server.key",
        "client_cert": tmp_path / "client.pem",
        "client_key": tmp_path / "client.key",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["server_cert"]))
    server.private_key_pem.write_to_path(str(files["server_key"]))
    client.cert_chain_pems[0].write_to_path(str(files["client_cert"]))
    client.private_key_pem.write_to_path(str(files["client_key"]))
    return {name: str(path) for name, path in files.items()}


@pytest.fixture
def tls_server(nats_server_factory: Any, pki: dict[str, str]) -> Any:
    from naq.testing import TLSOptions

    return nats_server_factory(
        jetstream=False,
        tls=TLSOptions(
            cert_file=pki["server_cert"], key_file=pki["server_key"], ca_file=pki["ca"], verify=True
        ),
    )


async def _connect(url: str, cfg: NatsConfig) -> Any:
    return await asyncio.wait_for(
        nats.connect(
            url,
            tls=cfg.ssl_context(),
            error_cb=_quiet,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            connect_timeout=3,
        ),
        timeout=15,
    )


async def _connect_and_close(url: str, cfg: NatsConfig) -> None:
    nc = await _connect(url, cfg)
    await nc.close()


async def test_ssl_context_connects_with_client_certificate(tls_server: Any, pki: dict[str, str]) -> None:
    cfg = NatsConfig(
        servers=tls_server.url,
        tls=TLSConfig(ca_file=pki["ca"], cert_file=pki["client_cert"], key_file=pki["client_key"]),
    )
    nc = await _connect(tls_server.url, cfg)
    try:
        assert nc.is_connected
        await asyncio.wait_for(nc.rtt(), timeout=5)
    finally:
        await nc.close()


async def test_ssl_context_without_client_certificate_is_refused(
    tls_server: Any, pki: dict[str, str]
) -> None:
    cfg = NatsConfig(servers=tls_server.url, tls=TLSConfig(ca_file=pki["ca"]))
    # With TLS 1.3 the server rejects the missing certificate after the client's handshake is done:
    # the client sees the "certificate required" alert or a reset / broken connection, depending on timing.
    with pytest.raises((ssl.SSLError, ConnectionError)) as info:
        await _connect_and_close(tls_server.url, cfg)
    if isinstance(info.value, ssl.SSLError):
        assert "certificate required" in str(info.value).lower()
        assert is_transient(info.value) is False


async def test_ssl_context_with_system_store_rejects_test_ca(tls_server: Any, pki: dict[str, str]) -> None:
    # Without ca_file the system trust store is used: our test CA is unknown there.
    cfg = NatsConfig(
        servers=tls_server.url,
        tls=TLSConfig(cert_file=pki["client_cert"], key_file=pki["client_key"]),
    )
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        await _connect_and_close(tls_server.url, cfg)
    assert is_transient(info.value) is False
