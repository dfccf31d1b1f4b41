"""A throwaway self-signed TLS certificate for running the emulator without provided key material.

Development only: clients must trust the written certificate (or skip verification) explicitly. The key
is written with mode 0600 and reused while the certificate has more than a day left."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_NAME = "emulator-cert.pem"
KEY_NAME = "emulator-key.pem"
VALIDITY_DAYS = 30


def _still_valid(cert_path: Path, now: datetime.datetime) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    return certificate.not_valid_after_utc - now > datetime.timedelta(days=1)


def ensure_dev_certificate(
    data_dir: Path, *, host_names: tuple[str, ...] = ("localhost",)
) -> tuple[Path, Path]:
    """Return ``(cert_path, key_path)`` in ``data_dir``, creating a fresh pair when missing or expiring."""
    cert_path, key_path = data_dir / CERT_NAME, data_dir / KEY_NAME
    now = datetime.datetime.now(datetime.UTC)
    if key_path.exists() and _still_valid(cert_path, now):
        return cert_path, key_path
    data_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in host_names]
    names += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fingress emulator (development)")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
