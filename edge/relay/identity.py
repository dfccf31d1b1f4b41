"""Which connector a client certificate names, and whether the edge accepts it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


def certificate_identities(peer_cert: Mapping[str, Any]) -> frozenset[str]:
    """The names in a verified peer certificate (``ssl.SSLObject.getpeercert()``): the subject's common
    names and the SAN DNS names and URIs."""
    names: set[str] = set()
    for rdn in peer_cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and isinstance(value, str):
                names.add(value)
    for kind, value in peer_cert.get("subjectAltName", ()):
        if kind in ("DNS", "URI") and isinstance(value, str):
            names.add(value)
    return frozenset(names)


def accepted_identity(peer_cert: Mapping[str, Any] | None, allowed: Collection[str]) -> str | None:
    """The first allowed name (exact match, in sorted order) the certificate carries, or None."""
    if not peer_cert:
        return None
    matches = sorted(certificate_identities(peer_cert) & set(allowed))
    return matches[0] if matches else None
