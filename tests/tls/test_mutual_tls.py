"""Client certificates on a reloadable context: required, checked against the CA, also after a reload."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidHandshake, InvalidMessage

from edge.tls import ReloadableServerContext, connector_id_from_der
from fingress import pki
from tests.support.timing import seconds
from tests.tls.serving import client_context, hello_app, http_get, running_uvicorn

# What a client may see when the server refuses its certificate: under TLS 1.3 the refusal arrives after
# the client thinks the handshake is done, as an alert on the first read or a reset connection.
_REFUSED = (ssl.SSLError, ConnectionError, EOFError)


def _mtls_holder(dev_pki: pki.DevPki) -> ReloadableServerContext:
    return ReloadableServerContext(
        cert_file=dev_pki.server_cert_file, key_file=dev_pki.server_key_file, client_ca_file=dev_pki.ca_file
    )


async def _refused(port: int, context: ssl.SSLContext) -> bool:
    try:
        response = await http_get(port, context)
    except _REFUSED:
        return True
    return not response.startswith(b"HTTP/1.1 200")


async def _check_client_certificates(port: int, dev_pki: pki.DevPki, other_pki: pki.DevPki) -> None:
    issued_by_us = client_context(
        dev_pki.ca_file, cert_file=dev_pki.connector_cert_file, key_file=dev_pki.connector_key_file
    )
    response = await http_get(port, issued_by_us)
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(b"hello")
    assert await _refused(port, client_context(dev_pki.ca_file))
    assert await _refused(
        port,
        client_context(
            dev_pki.ca_file, cert_file=other_pki.connector_cert_file, key_file=other_pki.connector_key_file
        ),
    )


async def test_client_certificate_required_and_checked(dev_pki: pki.DevPki, other_pki: pki.DevPki) -> None:
    holder = _mtls_holder(dev_pki)
    assert holder.mutual_tls
    async with running_uvicorn(hello_app(), ssl_context_factory=holder.uvicorn_context_factory) as port:
        await _check_client_certificates(port, dev_pki, other_pki)


async def test_client_certificates_still_enforced_after_reload(
    dev_pki: pki.DevPki, other_pki: pki.DevPki
) -> None:
    """After a reload the handshake runs on the swapped-in context: it must still demand and verify."""
    holder = _mtls_holder(dev_pki)
    pki.rotate(
        pki.CertificateAuthority.load(dev_pki.ca_file.parent),
        dev_pki.server_cert_file,
        dev_pki.server_key_file,
    )
    assert holder.reload().installed
    async with running_uvicorn(hello_app(), ssl_context_factory=holder.uvicorn_context_factory) as port:
        await _check_client_certificates(port, dev_pki, other_pki)


async def test_without_client_ca_no_certificate_is_needed(dev_pki: pki.DevPki) -> None:
    holder = ReloadableServerContext(cert_file=dev_pki.server_cert_file, key_file=dev_pki.server_key_file)
    assert not holder.mutual_tls
    async with running_uvicorn(hello_app(), ssl_context_factory=holder.uvicorn_context_factory) as port:
        assert (await http_get(port, client_context(dev_pki.ca_file))).endswith(b"hello")


def test_unloadable_client_ca_is_a_clear_error(dev_pki: pki.DevPki) -> None:
    from edge.tls import TlsMaterialError

    bogus = dev_pki.ca_file.parent / "bogus-ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(TlsMaterialError) as caught:
        ReloadableServerContext(
            cert_file=dev_pki.server_cert_file, key_file=dev_pki.server_key_file, client_ca_file=bogus
        )
    assert caught.value.code == "tls_ca_invalid"


def test_connector_identity_is_read_from_the_uri_san(dev_pki: pki.DevPki) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(dev_pki.connector_cert_file.read_bytes()).public_bytes(Encoding.DER)
    assert connector_id_from_der(der) == "c1"
    server_der = x509.load_pem_x509_certificate(dev_pki.server_cert_file.read_bytes()).public_bytes(
        Encoding.DER
    )
    assert connector_id_from_der(server_der) is None


async def test_websockets_server_sees_the_connector_identity(
    dev_pki: pki.DevPki, other_pki: pki.DevPki
) -> None:
    """The tunnel listener's shape: the ``websockets`` server on the reloadable mTLS context reads the
    verified connector id from the TLS connection."""

    async def who_am_i(connection: ServerConnection) -> None:
        der = connection.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        await connection.send(connector_id_from_der(der) or "nobody")

    holder = _mtls_holder(dev_pki)
    async with serve(who_am_i, "127.0.0.1", 0, ssl=holder.context) as server:
        port = server.sockets[0].getsockname()[1]
        ours = client_context(
            dev_pki.ca_file, cert_file=dev_pki.connector_cert_file, key_file=dev_pki.connector_key_file
        )
        async with asyncio.timeout(seconds(5)), connect(f"wss://127.0.0.1:{port}", ssl=ours) as websocket:
            assert await websocket.recv() == "c1"
        foreign = client_context(
            dev_pki.ca_file, cert_file=other_pki.connector_cert_file, key_file=other_pki.connector_key_file
        )
        with pytest.raises((ssl.SSLError, ConnectionError, InvalidHandshake, InvalidMessage, EOFError)):
            async with (
                asyncio.timeout(seconds(5)),
                connect(f"wss://127.0.0.1:{port}", ssl=foreign) as websocket,
            ):
                await websocket.recv()
