"""Mozilla server-side TLS profiles as ``ssl.SSLContext`` builders.

``intermediate`` (the default) is TLS 1.2 + 1.3 with ECDHE + AEAD suites only; ``modern`` is TLS 1.3 only.
Both restrict key exchange to X25519, P-256 and P-384. The finite-field DHE suites of Mozilla's intermediate
list are left out on purpose: they need hand-managed DH parameters and every client of the intermediate
profile also speaks ECDHE, so a strict subset stays compliant and is simpler. TLS 1.3 suites are OpenSSL's
defaults, which are exactly Mozilla's three.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal, get_args

from edge.tls.errors import TlsMaterialError
from edge.tls.groups import restrict_groups

TlsProfile = Literal["intermediate", "modern"]

TLS_PROFILES: tuple[str, ...] = get_args(TlsProfile)

#: Mozilla intermediate (v5.7) TLS 1.2 suites without the DHE ones, in Mozilla's order.
INTERMEDIATE_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)


def parse_profile(name: str) -> TlsProfile:
    """The profile called ``name``; a :class:`TlsMaterialError` (``tls_profile_unknown``) otherwise."""
    if name == "intermediate":
        return "intermediate"
    if name == "modern":
        return "modern"
    raise TlsMaterialError(
        "tls_profile_unknown",
        "profile",
        f"unknown TLS profile {name!r}; expected one of {list(TLS_PROFILES)}",
    )


def new_server_context(profile: TlsProfile, *, client_ca_file: Path | None = None) -> ssl.SSLContext:
    """A server context with ``profile``'s versions, suites and groups and no certificate yet.

    With ``client_ca_file`` every client must present a certificate issued by one of its CAs (mTLS);
    a CA file that does not load raises :class:`TlsMaterialError` (``tls_ca_invalid``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if profile == "modern":
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(INTERMEDIATE_TLS12_CIPHERS)
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    restrict_groups(context)
    # All offered suites are strong, so let the client choose (a phone without AES hardware picks ChaCha20),
    # as Mozilla's profiles recommend; refuse renegotiation and compression outright.
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    if client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(client_ca_file))
        except (OSError, ssl.SSLError) as error:
            raise TlsMaterialError(
                "tls_ca_invalid", "client_ca_file", f"{client_ca_file}: cannot load CA certificates"
            ) from error
        context.verify_mode = ssl.CERT_REQUIRED
    return context
