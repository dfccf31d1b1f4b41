"""Validation of certificate and key bytes: stable codes, hostile input only ever yields our own error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.tls import TlsMaterialError, connector_id_from_der, parse_profile, validate_chain_and_key
from fingress import pki

_PEM_NOISE = st.one_of(
    st.binary(max_size=512),
    st.builds(
        lambda label, body: f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode(),
        st.sampled_from(["CERTIFICATE", "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "X"]),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n", max_size=300),
    ),
)


@settings(max_examples=150, deadline=None)
@given(cert=_PEM_NOISE, key=_PEM_NOISE)
def test_garbage_only_ever_raises_tls_material_error(cert: bytes, key: bytes) -> None:
    with pytest.raises(TlsMaterialError) as caught:
        validate_chain_and_key(cert, key, now=datetime.now(UTC))
    assert caught.value.code in {"tls_cert_invalid", "tls_key_invalid", "tls_key_mismatch"}


@settings(max_examples=150, deadline=None)
@given(der=st.binary(max_size=1024))
def test_connector_identity_of_garbage_is_none(der: bytes) -> None:
    assert connector_id_from_der(der) is None


def test_chain_order_is_checked(tmp_path: pki.Path) -> None:
    dev = pki.ensure_dev_pki(tmp_path)
    leaf, ca = dev.server_cert_file.read_bytes(), dev.ca_file.read_bytes()
    key = dev.server_key_file.read_bytes()
    info = validate_chain_and_key(leaf + ca, key, now=datetime.now(UTC))
    assert info.subject == "CN=localhost"
    other = pki.ensure_dev_pki(tmp_path / "other")
    with pytest.raises(TlsMaterialError) as caught:
        validate_chain_and_key(leaf + other.ca_file.read_bytes(), key, now=datetime.now(UTC))
    assert caught.value.code == "tls_chain_invalid"


def test_not_yet_valid_certificate_is_refused(tmp_path: pki.Path) -> None:
    dev = pki.ensure_dev_pki(tmp_path)
    ca = pki.CertificateAuthority.load(tmp_path)
    future = datetime.now(UTC) + timedelta(days=2)
    issued = pki.issue_server(ca, tmp_path / "f.pem", tmp_path / "f.key", now=future)
    with pytest.raises(TlsMaterialError) as caught:
        validate_chain_and_key(
            issued.cert_file.read_bytes(), issued.key_file.read_bytes(), now=datetime.now(UTC)
        )
    assert caught.value.code == "tls_cert_not_yet_valid"
    assert dev.ca_file.exists()


def test_profiles_by_name() -> None:
    assert parse_profile("intermediate") == "intermediate"
    assert parse_profile("modern") == "modern"
    with pytest.raises(TlsMaterialError) as caught:
        parse_profile("old")
    assert caught.value.code == "tls_profile_unknown"
    assert "profile" in str(caught.value)
