"""Reading and validating a server's certificate chain and private key before any context sees them.

OpenSSL alone would accept an expired certificate and reports a key mismatch as an opaque error; these
checks run first and raise :class:`TlsMaterialError` with a stable code, so a bad rotation is refused with a
clear reason while the previous certificate keeps serving.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from edge.tls.errors import TlsMaterialError

# Certificates and keys are a few KiB; anything this large is not one and is not read whole.
MAX_PEM_BYTES = 1024 * 1024

#: A file's identity and version as ``stat`` sees it; ``None`` when the file does not exist.
FileStamp = tuple[int, int, int, int, int] | None


def file_stamp(path: Path) -> FileStamp:
    """Device, inode, size, mtime and ctime of ``path``: changes on every write and every ``os.replace``."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


@dataclass(frozen=True)
class CertificateInfo:
    """What the admin listener shows about a serving certificate."""

    fingerprint_sha256: str
    subject: str
    serial_number: int
    not_before: datetime
    not_after: datetime

    def seconds_left(self, now: datetime) -> float:
        """Seconds until the certificate expires (negative once it has)."""
        return (self.not_after - now).total_seconds()

    @staticmethod
    def of(certificate: x509.Certificate) -> CertificateInfo:
        der = certificate.public_bytes(serialization.Encoding.DER)
        return CertificateInfo(
            fingerprint_sha256=hashlib.sha256(der).hexdigest(),
            subject=certificate.subject.rfc4514_string(),
            serial_number=certificate.serial_number,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )


def read_pem(path: Path, key_path: str) -> bytes:
    """The bytes of a PEM file, bounded; :class:`TlsMaterialError` (``tls_file_unreadable``) otherwise."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_PEM_BYTES + 1)
    except OSError as error:
        raise TlsMaterialError("tls_file_unreadable", key_path, f"{path}: {error.strerror}") from error
    if len(data) > MAX_PEM_BYTES:
        raise TlsMaterialError("tls_file_unreadable", key_path, f"{path}: larger than {MAX_PEM_BYTES} bytes")
    return data


def validate_chain_and_key(
    cert_pem: bytes,
    key_pem: bytes,
    *,
    now: datetime,
    cert_source: str = "cert_file",
    key_source: str = "key_file",
    clock_skew: timedelta = timedelta(minutes=5),
) -> CertificateInfo:
    """Check that ``cert_pem`` is a chain (leaf first) whose leaf is valid at ``now`` and matches ``key_pem``.

    Returns the leaf's :class:`CertificateInfo`; raises :class:`TlsMaterialError` naming what is wrong."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as error:
        raise TlsMaterialError("tls_cert_invalid", cert_source, "no readable PEM certificate") from error
    key = _load_private_key(key_pem, key_source)
    leaf = chain[0]
    try:
        leaf_public_der = leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, UnsupportedAlgorithm) as error:
        raise TlsMaterialError(
            "tls_cert_invalid", cert_source, "unsupported certificate public key"
        ) from error
    if _public_der(key) != leaf_public_der:
        raise TlsMaterialError(
            "tls_key_mismatch", key_source, "the private key does not match the certificate"
        )
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as error:
            raise TlsMaterialError(
                "tls_chain_invalid",
                cert_source,
                f"{child.subject.rfc4514_string()} is not issued by the next certificate in the file",
            ) from error
    if leaf.not_valid_after_utc <= now:
        raise TlsMaterialError(
            "tls_cert_expired", cert_source, f"certificate expired at {leaf.not_valid_after_utc.isoformat()}"
        )
    if leaf.not_valid_before_utc > now + clock_skew:
        raise TlsMaterialError(
            "tls_cert_not_yet_valid",
            cert_source,
            f"certificate is valid only from {leaf.not_valid_before_utc.isoformat()}",
        )
    return CertificateInfo.of(leaf)


def _load_private_key(key_pem: bytes, key_source: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(key_pem, password=None)
    except TypeError as error:  # raised for an encrypted key without a password
        raise TlsMaterialError(
            "tls_key_invalid", key_source, "encrypted private keys are not supported"
        ) from error
    except (ValueError, UnsupportedAlgorithm) as error:
        raise TlsMaterialError("tls_key_invalid", key_source, "no readable PEM private key") from error


def _public_der(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
