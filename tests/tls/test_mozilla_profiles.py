"""A real scanner (sslyze, Mozilla's TLS configuration checker) against a real uvicorn server."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanResult,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

from edge.tls import ReloadableServerContext
from edge.tls.groups import restrict_groups
from fingress import pki
from tests.support.timing import seconds
from tests.tls.serving import hello_app, running_uvicorn

# sslyze's bundled trust stores hold a root with a negative serial; cryptography warns while loading it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning"
)

_PROFILES = {
    "intermediate": TlsConfigurationEnum.MOZILLA_INTERMEDIATE,
    "modern": TlsConfigurationEnum.MOZILLA_MODERN,
}


def _scan(port: int, ca_file: Path) -> ServerScanResult:
    request = ServerScanRequest(
        server_location=ServerNetworkLocation(hostname="localhost", port=port, ip_address="127.0.0.1"),
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca_file)
        ),
    )
    scanner = Scanner(per_server_concurrent_connections_limit=4, concurrent_server_scans_limit=1)
    scanner.queue_scans([request])
    return next(iter(scanner.get_results()))


async def _scan_server(factory: Any, ca_file: Path) -> ServerScanResult:
    async with (
        running_uvicorn(hello_app(), ssl_context_factory=factory) as port,
        asyncio.timeout(seconds(30)),
    ):
        return await asyncio.to_thread(_scan, port, ca_file)


def _supported_curves(result: ServerScanResult) -> set[str]:
    assert result.scan_result is not None
    curves = result.scan_result.elliptic_curves.result
    assert curves is not None
    return {curve.name for curve in curves.supported_curves or []}


@pytest.mark.parametrize("profile", ["intermediate", "modern"])
async def test_edge_context_is_mozilla_compliant(dev_pki: pki.DevPki, profile: Any) -> None:
    holder = ReloadableServerContext(
        cert_file=dev_pki.server_cert_file, key_file=dev_pki.server_key_file, profile=profile
    )
    result = await _scan_server(holder.uvicorn_context_factory, dev_pki.ca_file)

    check_server_against_tls_configuration(result, MozillaTlsConfiguration.get(_PROFILES[profile]))
    expected_curves = {"X25519", "secp256r1", "secp384r1"}
    if restrict_groups(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)) == "p256_only":
        expected_curves = {"secp256r1"}
    assert _supported_curves(result) == expected_curves


async def test_the_checker_does_flag_a_default_python_server_context(dev_pki: pki.DevPki) -> None:
    """The scan is able to fail: uvicorn's usual context (Python defaults) is not intermediate-compliant."""

    def default_factory(config: Any, default: Any) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(dev_pki.server_cert_file), str(dev_pki.server_key_file))
        return context

    result = await _scan_server(default_factory, dev_pki.ca_file)
    with pytest.raises(ServerNotCompliantWithTlsConfiguration) as caught:
        check_server_against_tls_configuration(
            result, MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
        )
    assert {"tls_curves", "ciphers"} & set(caught.value.issues)
