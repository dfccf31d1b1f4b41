"""Key-exchange groups: exactly X25519, P-256 and P-384 are accepted, whatever the client offers."""

from __future__ import annotations

import ssl

import pytest

from edge.tls import ReloadableServerContext
from edge.tls.groups import restrict_groups
from fingress import pki
from tests.tls.serving import client_context, hello_app, http_get, running_uvicorn


def _accepted_groups() -> set[str]:
    how = restrict_groups(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    return {"prime256v1"} if how == "p256_only" else {"X25519", "prime256v1", "secp384r1"}


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_only_the_mozilla_groups_complete_a_handshake(
    dev_pki: pki.DevPki, version: ssl.TLSVersion
) -> None:
    holder = ReloadableServerContext(cert_file=dev_pki.server_cert_file, key_file=dev_pki.server_key_file)
    accepted = _accepted_groups()
    if version == ssl.TLSVersion.TLSv1_2:
        # In TLS 1.2 the client's group list also names the curves it accepts for the server's ECDSA
        # certificate (RFC 8422), so a one-group client gets in only when that group is the certificate's.
        accepted &= {"prime256v1"}
    async with running_uvicorn(hello_app(), ssl_context_factory=holder.uvicorn_context_factory) as port:
        for group in ("X25519", "prime256v1", "secp384r1", "secp521r1", "X448"):
            client = client_context(dev_pki.ca_file)
            client.minimum_version = client.maximum_version = version
            client.set_ecdh_curve(group)  # the client offers this one group only
            try:
                completed = (await http_get(port, client)).endswith(b"hello")
            except (ssl.SSLError, ConnectionError):
                completed = False
            assert completed == (group in accepted), group
