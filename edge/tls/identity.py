"""Which connector a tunnel client certificate belongs to.

A connector certificate names its connector in a URI subject alternative name
``spiffe://fingress/connector/<id>``; that SAN is what the edge matches against its configured connector
identities. The subject CN carries the same id for humans and is *not* trusted for matching: a CN is
free text, the URI SAN has one well-defined form. ``<id>`` is 1–63 characters of ``A-Z a-z 0-9 . _ -``,
starting with a letter or digit.
"""

from __future__ import annotations

import re

from cryptography import x509

CONNECTOR_URI_PREFIX = "spiffe://fingress/connector/"

_CONNECTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def is_valid_connector_id(connector_id: str) -> bool:
    """Whether ``connector_id`` has the allowed form."""
    return _CONNECTOR_ID.fullmatch(connector_id) is not None


def connector_uri(connector_id: str) -> str:
    """The URI SAN for ``connector_id``; ``ValueError`` if the id has not the allowed form."""
    if not is_valid_connector_id(connector_id):
        raise ValueError("connector id must be 1-63 characters of A-Z a-z 0-9 . _ - starting alphanumeric")
    return CONNECTOR_URI_PREFIX + connector_id


def connector_id_from_der(certificate_der: bytes) -> str | None:
    """The connector id in a DER client certificate (e.g. ``ssl_object.getpeercert(binary_form=True)``).

    ``None`` when the certificate is unreadable or carries no single well-formed connector URI SAN. The
    caller must have let TLS verify the certificate against the tunnel CA first: this only reads it."""
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    ids = [
        uri[len(CONNECTOR_URI_PREFIX) :]
        for uri in names.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(CONNECTOR_URI_PREFIX)
    ]
    if len(ids) != 1 or not is_valid_connector_id(ids[0]):
        return None
    return ids[0]
