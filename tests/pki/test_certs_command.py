"""``fingress certs`` produces a working mTLS setup, and rotates atomically."""

from __future__ import annotations

import ssl
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from edge.tls import ReloadableServerContext
from fingress import pki
from tests.pki.cli import run_certs
from tests.support.need import need_binary
from tests.tls.serving import client_context, handshake_fingerprint, hello_app, http_get, running_uvicorn


@pytest.fixture
def made_by_cli(tmp_path: Path) -> Path:
    """A PKI made only through the command line: CA, edge server certificate, connector ``lan-1``."""
    directory = tmp_path / "pki"
    assert run_certs("init", "--dir", str(directory)) == 0
    assert (
        run_certs("issue", "server", "--dir", str(directory), "--dns", "localhost", "--ip", "127.0.0.1") == 0
    )
    assert run_certs("issue", "connector", "--dir", str(directory), "--id", "lan-1") == 0
    return directory


def _plain_mtls_factory(directory: Path) -> Any:
    """A stock Python server context (not edge.tls): the files must work with any TLS stack."""

    def factory(config: Any, default: Any) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(directory / "edge.pem"), str(directory / "edge.key"))
        context.load_verify_locations(cafile=str(directory / "ca.pem"))
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    return factory


async def _accepted(port: int, context: ssl.SSLContext) -> bool:
    try:
        response = await http_get(port, context)
    except (ssl.SSLError, ConnectionError, EOFError):
        return False
    return response.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("server_kind", ["stock_python", "edge_tls"])
async def test_issued_files_make_a_working_mtls_setup(
    made_by_cli: Path, tmp_path: Path, server_kind: str
) -> None:
    foreign = tmp_path / "foreign"
    assert run_certs("init", "--dir", str(foreign)) == 0
    assert run_certs("issue", "connector", "--dir", str(foreign), "--id", "lan-1") == 0
    if server_kind == "edge_tls":
        factory = ReloadableServerContext(
            cert_file=made_by_cli / "edge.pem",
            key_file=made_by_cli / "edge.key",
            client_ca_file=made_by_cli / "ca.pem",
        ).uvicorn_context_factory
    else:
        factory = _plain_mtls_factory(made_by_cli)
    ca = made_by_cli / "ca.pem"
    async with running_uvicorn(hello_app(), ssl_context_factory=factory) as port:
        ours = client_context(
            ca, cert_file=made_by_cli / "connector-lan-1.pem", key_file=made_by_cli / "connector-lan-1.key"
        )
        theirs = client_context(
            ca, cert_file=foreign / "connector-lan-1.pem", key_file=foreign / "connector-lan-1.key"
        )
        assert await _accepted(port, ours)
        assert not await _accepted(port, theirs)
        assert not await _accepted(port, client_context(ca))


def test_openssl_agrees_on_purposes(made_by_cli: Path) -> None:
    openssl = need_binary("openssl")

    def verify(purpose: str, leaf: str) -> bool:
        result = subprocess.run(
            [
                openssl,
                "verify",
                "-CAfile",
                str(made_by_cli / "ca.pem"),
                "-purpose",
                purpose,
                str(made_by_cli / leaf),
            ],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    assert verify("sslserver", "edge.pem")
    assert verify("sslclient", "connector-lan-1.pem")
    assert not verify("sslserver", "connector-lan-1.pem")
    assert not verify("sslclient", "edge.pem")


def test_profiles_carry_the_documented_extensions(made_by_cli: Path) -> None:
    ca = x509.load_pem_x509_certificate((made_by_cli / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((made_by_cli / "edge.pem").read_bytes())
    connector = x509.load_pem_x509_certificate((made_by_cli / "connector-lan-1.pem").read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert list(connector.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    sans = connector.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://fingress/connector/lan-1"]
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = server.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ski
    assert server.serial_number != connector.serial_number
    assert pki.connector_id_of(made_by_cli / "connector-lan-1.pem") == "lan-1"


@pytest.mark.parametrize("leaf", ["edge", "connector-lan-1"])
def test_rotate_replaces_the_pair_atomically(made_by_cli: Path, leaf: str) -> None:
    cert_file, key_file = made_by_cli / f"{leaf}.pem", made_by_cli / f"{leaf}.key"
    before = x509.load_pem_x509_certificate(cert_file.read_bytes())

    assert run_certs("rotate", "--dir", str(made_by_cli), "--cert", str(cert_file)) == 0

    after = x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _spki(key.public_key()) == _spki(after.public_key()) != _spki(before.public_key())
    assert after.serial_number != before.serial_number
    assert after.subject == before.subject
    assert (
        after.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        == before.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    )
    assert after.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == (
        before.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert not [path for path in made_by_cli.iterdir() if path.name.startswith(".")]  # no temporary leftovers


def test_a_reloading_server_never_installs_a_mismatched_pair(made_by_cli: Path) -> None:
    """Rotations race with reloads; every installed certificate is one that was issued whole."""
    holder = ReloadableServerContext(cert_file=made_by_cli / "edge.pem", key_file=made_by_cli / "edge.key")
    issued = {holder.certificate.fingerprint_sha256}
    installed: list[str] = []
    refused: list[str] = []
    stop = threading.Event()

    def reload_continuously() -> None:
        while not stop.is_set():
            outcome = holder.reload()
            if outcome.installed:
                installed.append(outcome.certificate.fingerprint_sha256)
            else:
                refused.append(outcome.error.code if outcome.error else "no error")

    reloader = threading.Thread(target=reload_continuously)
    reloader.start()
    try:
        ca = pki.CertificateAuthority.load(made_by_cli)
        for _ in range(30):
            last = pki.rotate(ca, made_by_cli / "edge.pem", made_by_cli / "edge.key").fingerprint_sha256
            issued.add(last)
    finally:
        stop.set()
        reloader.join(timeout=10)
    final = holder.reload()
    assert final.installed
    assert set(installed) <= issued
    assert set(refused) <= {"tls_key_mismatch", "tls_files_changing"}
    assert final.certificate.fingerprint_sha256 == last


def _spki(public_key: Any) -> bytes:
    return bytes(
        public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_errors_are_clear_and_stable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "pki"
    assert run_certs("issue", "server", "--dir", str(directory)) == 1
    assert "pki_missing" in capsys.readouterr().err
    assert run_certs("init", "--dir", str(directory)) == 0
    assert run_certs("init", "--dir", str(directory)) == 1
    assert "pki_exists" in capsys.readouterr().err
    assert run_certs("issue", "server", "--dir", str(directory), "--dns", "bad name!") == 1
    assert "pki_invalid_input" in capsys.readouterr().err
    assert run_certs("issue", "server", "--dir", str(directory), "--ip", "300.1.1.1") == 1
    assert "pki_invalid_input" in capsys.readouterr().err
    assert run_certs("issue", "connector", "--dir", str(directory), "--id", "../etc") == 1
    assert "pki_invalid_input" in capsys.readouterr().err
    assert run_certs("issue", "connector", "--dir", str(directory), "--id", "x", "--days", "0") == 1
    err = capsys.readouterr().err
    assert "pki_invalid_input" in err
    assert "Traceback" not in err
    assert run_certs("rotate", "--dir", str(directory), "--cert", str(directory / "ca.pem")) == 1
    assert "pki_invalid_input" in capsys.readouterr().err
    (directory / "junk.pem").write_text("junk")
    assert run_certs("rotate", "--dir", str(directory), "--cert", str(directory / "junk.pem")) == 1
    assert "pki_unreadable" in capsys.readouterr().err


async def test_rotation_through_the_cli_reaches_a_running_edge(made_by_cli: Path) -> None:
    holder = ReloadableServerContext(cert_file=made_by_cli / "edge.pem", key_file=made_by_cli / "edge.key")
    client = client_context(made_by_cli / "ca.pem")
    async with running_uvicorn(hello_app(), ssl_context_factory=holder.uvicorn_context_factory) as port:
        old = await handshake_fingerprint(port, client)
        assert run_certs("rotate", "--dir", str(made_by_cli), "--cert", str(made_by_cli / "edge.pem")) == 0
        outcome = holder.reload_if_changed()
        assert outcome is not None
        assert outcome.installed
        new = await handshake_fingerprint(port, client)
        assert new == outcome.certificate.fingerprint_sha256 != old


def test_the_fingress_command_offers_certs_and_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fingress.cli import main

    assert main(["certs", "init", "--dir", str(tmp_path / "pki")]) == 0
    assert "CA:" in capsys.readouterr().out
    assert main(["token", "--data-dir", str(tmp_path), "--agent", "1001"]) == 1
    assert "devidp_missing" in capsys.readouterr().err
