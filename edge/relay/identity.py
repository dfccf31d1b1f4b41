"""Which connector a client certificate names, and whether the edge accepts it.

An allowed identity written as a URI (``spiffe://fingress/connector/c1``, the form ``edge.tls.identity``
issues) matches only a SAN URI; any other allowed name matches the subject common name or a SAN DNS name.
So a free-text CN can never pass for a URI identity.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


def certificate_identities(peer_cert: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    """The names in a verified peer certificate (``ssl.SSLObject.getpeercert()``): ``(names, uris)``,
    where names are the subject's common names and SAN DNS names, and uris the SAN URIs."""
    names: set[str] = set()
    uris: set[str] = set()
    for rdn in peer_cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and isinstance(value, str):
                names.add(value)
    for kind, value in peer_cert.get("subjectAltName", ()):
        if kind == "DNS" and isinstance(value, str):
            names.add(value)
        elif kind == "URI" and isinstance(value, str):
            uris.add(value)
    return frozenset(names), frozenset(uris)


def accepted_identity(peer_cert: Mapping[str, Any] | None, allowed: Collection[str]) -> str | None:
    """The first allowed identity (exact match, in sorted order) the certificate carries, or None."""
    if not peer_cert:
        return None
    names, uris = certificate_identities(peer_cert)
    for identity in sorted(allowed):
        if identity in (uris if "://" in identity else names):
            return identity
    return None
