"""A small private PKI for fingress: the tunnel CA, the edge server certificate, connector certificates.

Profiles (see ``certs/README.md``):

* **CA** — ``basicConstraints CA:TRUE, pathlen:0`` (it signs leaves only), ``keyUsage keyCertSign, cRLSign``,
  10 years by default.
* **server** (the edge) — ``CA:FALSE``, ``keyUsage digitalSignature`` (+ ``keyEncipherment`` for RSA),
  ``extendedKeyUsage serverAuth``, DNS and IP subject alternative names, 90 days by default (Mozilla's
  recommended lifespan; its ``modern`` profile allows no more).
* **connector** — ``CA:FALSE``, ``extendedKeyUsage clientAuth``, subject CN = the connector id and the URI SAN
  ``spiffe://fingress/connector/<id>`` that the edge matches (:mod:`edge.tls.identity`), 365 days by default.

Every certificate has a random 159-bit serial, subject and authority key identifiers, and starts being valid
five minutes in the past to tolerate clock skew. Keys are ECDSA P-256 by default.

Files are written atomically (temporary file in the same directory, ``fsync``, ``os.replace``, directory
``fsync``); private keys are created with mode 0600. A leaf's key is replaced *before* its certificate: the
certificate is the commit point, so a watcher keyed on the certificate reloads once both are in place, and a
reader that catches the window sees a key that does not match the certificate, which
:class:`edge.tls.ReloadableServerContext` refuses (it keeps serving the old pair and retries on the next
change).
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.tls.identity import connector_id_from_der, connector_uri, is_valid_connector_id
from edge.tunnel.errors import FingressError

KeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"]
KEY_TYPES: tuple[str, ...] = get_args(KeyType)
CertificateProfile = Literal["server", "connector"]

CA_VALIDITY_DAYS = 3650
SERVER_VALIDITY_DAYS = 90
CONNECTOR_VALIDITY_DAYS = 365
_BACKDATE = timedelta(minutes=5)

CA_CERT_NAME = "ca.pem"
CA_KEY_NAME = "ca.key"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class PkiError(FingressError):
    """A PKI operation could not be done. ``code`` is stable: ``pki_exists``, ``pki_missing``,
    ``pki_invalid_input``, ``pki_unreadable``."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


@dataclass(frozen=True)
class IssuedFiles:
    """Where a certificate and its key were written, and what they are."""

    cert_file: Path
    key_file: Path
    fingerprint_sha256: str
    serial_number: int
    not_after: datetime


@dataclass(frozen=True)
class CertificateAuthority:
    """A loaded CA: its certificate and signing key (never printed: ``repr`` shows the subject only)."""

    certificate: x509.Certificate
    key: PrivateKey

    def __repr__(self) -> str:
        return f"CertificateAuthority({self.certificate.subject.rfc4514_string()!r})"

    @staticmethod
    def load(directory: Path) -> CertificateAuthority:
        """The CA in ``directory`` (``ca.pem``, ``ca.key``); :class:`PkiError` ``pki_missing`` if absent."""
        cert_path, key_path = Path(directory) / CA_CERT_NAME, Path(directory) / CA_KEY_NAME
        if not cert_path.exists() or not key_path.exists():
            raise PkiError("pki_missing", f"no CA in {directory} (run `fingress certs init` first)")
        certificate = _load_certificate(cert_path)
        key = _load_key(key_path)
        if _spki(key) != _spki_of_cert(certificate):
            raise PkiError("pki_unreadable", f"{key_path} does not belong to {cert_path}")
        return CertificateAuthority(certificate=certificate, key=key)


def init_ca(
    directory: Path,
    *,
    common_name: str = "fingress private CA",
    validity_days: int = CA_VALIDITY_DAYS,
    key_type: KeyType = "ec-p256",
    overwrite: bool = False,
    now: datetime | None = None,
) -> IssuedFiles:
    """Create a CA in ``directory`` (``ca.pem``, ``ca.key``). Refuses (``pki_exists``) to replace an existing
    one unless ``overwrite``: every certificate it issued would stop verifying."""
    directory = Path(directory)
    if not overwrite and ((directory / CA_CERT_NAME).exists() or (directory / CA_KEY_NAME).exists()):
        raise PkiError("pki_exists", f"a CA already exists in {directory}")
    _check_days(validity_days)
    _check_common_name(common_name)
    now = now or datetime.now(UTC)
    key = generate_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        _builder(name, name, key, now, validity_days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True, rsa_key=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, _hash_for(key))
    )
    directory.mkdir(parents=True, exist_ok=True)
    return write_pair(certificate, key, directory / CA_CERT_NAME, directory / CA_KEY_NAME)


def issue_server(
    ca: CertificateAuthority,
    cert_file: Path,
    key_file: Path,
    *,
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1", "::1"),
    common_name: str | None = None,
    validity_days: int = SERVER_VALIDITY_DAYS,
    key_type: KeyType = "ec-p256",
    now: datetime | None = None,
) -> IssuedFiles:
    """Issue a TLS server certificate for the edge with the given DNS and IP SANs."""
    if not dns_names and not ip_addresses:
        raise PkiError("pki_invalid_input", "a server certificate needs at least one DNS name or IP address")
    alt_names = _dns_names(dns_names) + _ip_addresses(ip_addresses)
    cn = common_name or (dns_names[0] if dns_names else ip_addresses[0])
    return _issue_leaf(ca, cert_file, key_file, "server", cn, alt_names, validity_days, key_type, now)


def issue_connector(
    ca: CertificateAuthority,
    cert_file: Path,
    key_file: Path,
    *,
    connector_id: str,
    validity_days: int = CONNECTOR_VALIDITY_DAYS,
    key_type: KeyType = "ec-p256",
    now: datetime | None = None,
) -> IssuedFiles:
    """Issue a tunnel client certificate for ``connector_id`` (CN and URI SAN, see the module docstring)."""
    if not is_valid_connector_id(connector_id):
        raise PkiError(
            "pki_invalid_input",
            "connector id must be 1-63 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
        )
    alt_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(connector_uri(connector_id))]
    return _issue_leaf(
        ca, cert_file, key_file, "connector", connector_id, alt_names, validity_days, key_type, now
    )


def rotate(
    ca: CertificateAuthority,
    cert_file: Path,
    key_file: Path,
    *,
    validity_days: int | None = None,
    now: datetime | None = None,
) -> IssuedFiles:
    """Re-issue the leaf certificate in ``cert_file`` with a new key of the same type, the same subject,
    SANs and profile, and (unless ``validity_days``) the same lifespan; written atomically, key first."""
    old = _load_certificate(Path(cert_file))
    profile = _profile_of(old)
    lifespan_days = validity_days or max(1, (old.not_valid_after_utc - old.not_valid_before_utc).days)
    cn_attributes = old.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cn_attributes[0].value) if cn_attributes else "fingress"
    try:
        alt_names = list(old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        alt_names = []
    key_type = _key_type_of(old)
    return _issue_leaf(ca, cert_file, key_file, profile, common_name, alt_names, lifespan_days, key_type, now)


def generate_key(key_type: KeyType = "ec-p256") -> PrivateKey:
    """A new private key of ``key_type``."""
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise PkiError("pki_invalid_input", f"unknown key type {key_type!r}; expected one of {list(KEY_TYPES)}")


def write_pair(
    certificate: x509.Certificate, key: PrivateKey, cert_file: Path, key_file: Path
) -> IssuedFiles:
    """Write ``key`` (mode 0600) then ``certificate`` atomically; see the module docstring for the order."""
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    write_atomically(Path(key_file), key_pem, mode=0o600)
    write_atomically(Path(cert_file), cert_pem, mode=0o644)
    return IssuedFiles(
        cert_file=Path(cert_file),
        key_file=Path(key_file),
        fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        serial_number=certificate.serial_number,
        not_after=certificate.not_valid_after_utc,
    )


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, never a mix.

    The temporary file is created with ``mode`` from the start (a key is never world-readable, not even
    briefly), flushed to disk, renamed over ``path``, and the directory entry is flushed too."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory_descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_descriptor)
    finally:
        os.close(directory_descriptor)


def connector_id_of(cert_file: Path) -> str | None:
    """The connector id a certificate file carries, as the edge reads it."""
    certificate = _load_certificate(Path(cert_file))
    return connector_id_from_der(certificate.public_bytes(serialization.Encoding.DER))


def _issue_leaf(
    ca: CertificateAuthority,
    cert_file: Path,
    key_file: Path,
    profile: CertificateProfile,
    common_name: str,
    alt_names: Sequence[x509.GeneralName],
    validity_days: int,
    key_type: KeyType,
    now: datetime | None,
) -> IssuedFiles:
    _check_days(validity_days)
    _check_common_name(common_name)
    now = now or datetime.now(UTC)
    key = generate_key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    usage = ExtendedKeyUsageOID.SERVER_AUTH if profile == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(subject, ca.certificate.subject, key, now, validity_days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False, rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if alt_names:
        # Critical only when the subject says nothing else (RFC 5280 4.2.1.6); here the CN is always set.
        builder = builder.add_extension(x509.SubjectAlternativeName(list(alt_names)), critical=False)
    certificate = builder.sign(ca.key, _hash_for(ca.key))
    return write_pair(certificate, key, Path(cert_file), Path(key_file))


def _builder(
    subject: x509.Name, issuer: x509.Name, key: PrivateKey, now: datetime, validity_days: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now - _BACKDATE + timedelta(days=validity_days))
    )


def _key_usage(*, ca: bool, rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=rsa_key and not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _profile_of(certificate: x509.Certificate) -> CertificateProfile:
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as error:
        raise PkiError(
            "pki_invalid_input", "the certificate has no extendedKeyUsage: not a fingress leaf"
        ) from error
    if ExtendedKeyUsageOID.SERVER_AUTH in usages:
        return "server"
    if ExtendedKeyUsageOID.CLIENT_AUTH in usages:
        return "connector"
    raise PkiError("pki_invalid_input", "the certificate is neither a server nor a client certificate")


def _key_type_of(certificate: x509.Certificate) -> KeyType:
    public_key = certificate.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ec-p384" if public_key.curve.key_size > 256 else "ec-p256"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa-3072" if public_key.key_size > 2048 else "rsa-2048"
    raise PkiError("pki_invalid_input", "unsupported key type in the certificate")


def _dns_names(names: Iterable[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        labels = name.removeprefix("*.").split(".")
        if not name or len(name) > 253 or not all(_is_dns_label(label) for label in labels):
            raise PkiError("pki_invalid_input", f"not a DNS name: {name!r}")
        result.append(x509.DNSName(name))
    return result


def _is_dns_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and label.isascii()
        and all(c.isalnum() or c == "-" for c in label)
        and not label.startswith("-")
        and not label.endswith("-")
    )


def _ip_addresses(addresses: Iterable[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for address in addresses:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError as error:
            raise PkiError("pki_invalid_input", f"not an IP address: {address!r}") from error
    return result


def _check_days(validity_days: int) -> None:
    if not 1 <= validity_days <= 36500:
        raise PkiError("pki_invalid_input", "validity must be between 1 and 36500 days")


def _check_common_name(common_name: str) -> None:
    if not 1 <= len(common_name) <= 64 or not common_name.isprintable():
        raise PkiError("pki_invalid_input", "common name must be 1-64 printable characters")


def _load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as error:
        raise PkiError("pki_unreadable", f"{path}: {error.strerror}") from error
    except ValueError as error:
        raise PkiError("pki_unreadable", f"{path}: not a PEM certificate") from error


def _load_key(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise PkiError("pki_unreadable", f"{path}: {error.strerror}") from error
    except (ValueError, TypeError) as error:
        raise PkiError("pki_unreadable", f"{path}: not an unencrypted PEM private key") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError("pki_unreadable", f"{path}: unsupported key type")
    return key


def _spki(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _spki_of_cert(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class ConnectorCredentials:
    """One connector's tunnel client certificate and key, as :func:`ensure_dev_pki` wrote them."""

    connector_id: str
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class DevPki:
    """The files of a development PKI made by :func:`ensure_dev_pki`. ``connectors`` holds one entry per
    connector id asked for, in that order (at least one)."""

    ca_file: Path
    server_cert_file: Path
    server_key_file: Path
    connectors: tuple[ConnectorCredentials, ...]

    @property
    def connector_cert_file(self) -> Path:
        """The first connector's certificate (the only one unless several ids were asked for)."""
        return self.connectors[0].cert_file

    @property
    def connector_key_file(self) -> Path:
        return self.connectors[0].key_file


def ensure_dev_pki(
    directory: Path,
    *,
    connector_id: str | None = None,
    connector_ids: Sequence[str] | None = None,
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1", "::1"),
    renew_within_days: int = 14,
    now: datetime | None = None,
) -> DevPki:
    """A CA, an edge server certificate (``edge.pem``) and a connector certificate (``connector-<id>.pem``)
    for ``connector_id`` (default ``connector-1``) or for each of ``connector_ids`` (give one or the other)
    in ``directory``: created when missing, re-issued (atomically) when expiring within
    ``renew_within_days``. What the demo and the benchmark call on every start. Raises ``PkiError``
    (``pki_invalid_input``) for no, repeated or malformed connector ids."""
    ids = _connector_ids(connector_id, connector_ids)
    directory = Path(directory)
    now = now or datetime.now(UTC)
    if not (directory / CA_CERT_NAME).exists():
        init_ca(directory, common_name="fingress development CA", now=now)
    ca = CertificateAuthority.load(directory)
    pki = DevPki(
        ca_file=directory / CA_CERT_NAME,
        server_cert_file=directory / "edge.pem",
        server_key_file=directory / "edge.key",
        connectors=tuple(
            ConnectorCredentials(
                connector_id=one,
                cert_file=directory / f"connector-{one}.pem",
                key_file=directory / f"connector-{one}.key",
            )
            for one in ids
        ),
    )
    renew_at = now + timedelta(days=renew_within_days)
    if _needs_issuing(pki.server_cert_file, pki.server_key_file, renew_at):
        issue_server(
            ca,
            pki.server_cert_file,
            pki.server_key_file,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            now=now,
        )
    for connector in pki.connectors:
        if _needs_issuing(connector.cert_file, connector.key_file, renew_at):
            issue_connector(
                ca, connector.cert_file, connector.key_file, connector_id=connector.connector_id, now=now
            )
    return pki


def _connector_ids(connector_id: str | None, connector_ids: Sequence[str] | None) -> tuple[str, ...]:
    if connector_id is not None and connector_ids is not None:
        raise PkiError("pki_invalid_input", "give connector_id or connector_ids, not both")
    if connector_ids is None:
        return (connector_id or "connector-1",)
    ids = tuple(connector_ids)
    if not ids or len(set(ids)) != len(ids):
        raise PkiError("pki_invalid_input", "connector_ids must name at least one connector, each once")
    for one in ids:
        if not is_valid_connector_id(one):
            # Checked before anything is written: a bad id must not leave half the files issued.
            raise PkiError(
                "pki_invalid_input",
                "connector id must be 1-63 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
            )
    return ids


def _needs_issuing(cert_file: Path, key_file: Path, renew_at: datetime) -> bool:
    if not cert_file.exists() or not key_file.exists():
        return True
    try:
        certificate = _load_certificate(cert_file)
        key = _load_key(key_file)
    except PkiError:
        return True
    return certificate.not_valid_after_utc <= renew_at or _spki(key) != _spki_of_cert(certificate)
