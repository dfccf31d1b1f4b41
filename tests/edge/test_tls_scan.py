"""The real edge (EdgeServer with the reloadable Mozilla-intermediate context) scanned by a real scanner:
sslyze's Mozilla checker finds it compliant, and its public responses carry HSTS (issue 5, done-when)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sslyze.mozilla_tls_profile.tls_config_checker import (
    MozillaTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

from edge.server import EdgeServer
from edge.tls import ReloadableServerContext
from fingress import pki
from tests.edge.conftest import loopback_edge_config
from tests.edge.fakes import FakeUpstream
from tests.edge.servers import IdentityProvider
from tests.support.timing import seconds
from tests.tls.test_mozilla_profiles import _scan

# sslyze's bundled trust stores hold a root with a negative serial; cryptography warns while loading it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning"
)


@pytest.fixture
async def scanned_edge(
    idp: IdentityProvider, ca_file: Path, tmp_path: Path
) -> AsyncIterator[tuple[EdgeServer, pki.DevPki]]:
    """The edge serving its public listener with the intermediate profile and a dev PKI certificate
    (localhost, 127.0.0.1), in front of a fake upstream."""
    dev_pki = pki.ensure_dev_pki(tmp_path / "pki", connector_id="c1")
    tls = ReloadableServerContext(
        cert_file=dev_pki.server_cert_file, key_file=dev_pki.server_key_file, profile="intermediate"
    )
    config = loopback_edge_config(idp, ca_file, tmp_path, policy_poll_s=60)
    server = EdgeServer(config=config, upstream=FakeUpstream(), ssl_context_factory=tls.context_factory)
    async with server:
        yield server, dev_pki


async def test_the_edge_is_mozilla_intermediate_compliant(
    scanned_edge: tuple[EdgeServer, pki.DevPki],
) -> None:
    server, dev_pki = scanned_edge
    async with asyncio.timeout(seconds(60)):
        result = await asyncio.to_thread(_scan, server.public_port, dev_pki.ca_file)
    # Raises ServerNotCompliantWithTlsConfiguration naming each issue (protocols, ciphers, curves, ...).
    check_server_against_tls_configuration(
        result, MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
    )
    assert result.scan_result is not None
    tls_1_1 = result.scan_result.tls_1_1_cipher_suites.result
    tls_1_2 = result.scan_result.tls_1_2_cipher_suites.result
    assert tls_1_1 is not None
    assert tls_1_2 is not None
    assert not tls_1_1.accepted_cipher_suites, "TLS 1.1 must be refused"
    assert tls_1_2.accepted_cipher_suites, "TLS 1.2 must be offered (intermediate, not modern)"


async def test_public_responses_carry_hsts(scanned_edge: tuple[EdgeServer, pki.DevPki]) -> None:
    server, dev_pki = scanned_edge
    client_context = ssl.create_default_context(cafile=str(dev_pki.ca_file))
    async with (
        httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{server.public_port}", verify=client_context, timeout=seconds(5)
        ) as client,
        asyncio.timeout(seconds(10)),
    ):
        unauthenticated = await client.get("/api/v1/agent")
        openapi = await client.get("/api/v1/openapi.json")
    assert unauthenticated.status_code == 401
    assert openapi.status_code == 200
    for response in (unauthenticated, openapi):
        assert response.headers["strict-transport-security"] == "max-age=31536000"
