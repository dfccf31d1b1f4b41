"""Changing certificate paths as part of a policy reload: validate first (veto), then swap."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.tls import ReloadableServerContext, TlsMaterialError, TlsPolicyParticipant
from edge.tunnel.errors import ConfigError
from fingress import pki
from tests.tls.serving import client_context, handshake_fingerprint, hello_app, running_uvicorn


@dataclass(frozen=True)
class _Tls:
    cert_file: Path | None
    key_file: Path | None
    profile: str = "intermediate"


@dataclass(frozen=True)
class _Policy:
    tls: _Tls


def _holder(dev_pki: pki.DevPki) -> ReloadableServerContext:
    return ReloadableServerContext(cert_file=dev_pki.server_cert_file, key_file=dev_pki.server_key_file)


async def test_new_paths_apply_only_on_commit(dev_pki: pki.DevPki) -> None:
    holder = _holder(dev_pki)
    ca = pki.CertificateAuthority.load(dev_pki.ca_file.parent)
    elsewhere = dev_pki.ca_file.parent / "next"
    issued = pki.issue_server(ca, elsewhere / "edge.pem", elsewhere / "edge.key", dns_names=["edge.example"])
    participant = TlsPolicyParticipant(tls=holder)
    client = client_context(dev_pki.ca_file)
    async with running_uvicorn(hello_app(), ssl_context_factory=holder.uvicorn_context_factory) as port:
        old = await handshake_fingerprint(port, client)
        commit = participant.prepare(_Policy(_Tls(issued.cert_file, issued.key_file)))
        assert await handshake_fingerprint(port, client) == old  # prepared, not yet live
        commit()
        assert await handshake_fingerprint(port, client) == issued.fingerprint_sha256
    assert holder.cert_file == issued.cert_file
    assert not holder.files_changed()  # polling now watches the new paths


@pytest.mark.parametrize(
    ("tls", "code"),
    [
        (_Tls(Path("/nonexistent/edge.pem"), Path("/nonexistent/edge.key")), "tls_file_unreadable"),
        (_Tls(Path("/nonexistent/edge.pem"), None), "tls_key_missing"),
        (_Tls(None, None), None),
        (_Tls(None, None, profile="modern"), "tls_profile_fixed"),
        ("same-files-modern", "tls_profile_fixed"),
        ("same-files-bogus-profile", "tls_profile_unknown"),
    ],
)
def test_vetoes_are_config_errors_and_change_nothing(
    dev_pki: pki.DevPki, tls: object, code: str | None
) -> None:
    holder = _holder(dev_pki)
    before = holder.certificate
    if tls == "same-files-modern":
        tls = _Tls(dev_pki.server_cert_file, dev_pki.server_key_file, profile="modern")
    elif tls == "same-files-bogus-profile":
        tls = _Tls(dev_pki.server_cert_file, dev_pki.server_key_file, profile="old")
    assert isinstance(tls, _Tls)
    participant = TlsPolicyParticipant(tls=holder)
    if code is None:
        participant.prepare(_Policy(tls))()  # no paths in the policy: nothing to do
    else:
        with pytest.raises(ConfigError) as caught:
            participant.prepare(_Policy(tls))
        assert isinstance(caught.value, TlsMaterialError)
        assert caught.value.code == code
    assert holder.certificate == before
    assert holder.cert_file == dev_pki.server_cert_file
