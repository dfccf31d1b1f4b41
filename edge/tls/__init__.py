"""Server-side TLS for the edge's listeners (public and tunnel).

* :mod:`edge.tls.profiles` — Mozilla ``intermediate`` (default) and ``modern`` contexts, optional mTLS.
* :mod:`edge.tls.reloadable` — :class:`ReloadableServerContext`: one context handed to the server once, whose
  certificate rotates on :meth:`~ReloadableServerContext.reload` (SIGHUP, admin call) or on file change,
  without a restart and without touching open connections. Bad files never replace good ones.
* :mod:`edge.tls.material` — validation of certificate/key files (match, chain, validity) and the
  fingerprint/expiry the admin listener shows.
* :mod:`edge.tls.identity` — the connector id inside a tunnel client certificate.
* :mod:`edge.tls.policy_participant` — the policy file's certificate paths, applied in its atomic reload.

Typical wiring (uvicorn)::

    tls = ReloadableServerContext(cert_file=..., key_file=..., profile="intermediate")
    config = uvicorn.Config(app, host=..., port=..., ssl_context_factory=tls.uvicorn_context_factory)
    # or: EdgeServer(..., ssl_context_factory=tls.context_factory,
    #                participants=(TlsPolicyParticipant(tls=tls),))
    # in the server's task group: await tls.watch(interval_s=2.0, on_outcome=log_reload)
"""

from edge.tls.errors import TlsMaterialError
from edge.tls.identity import (
    CONNECTOR_URI_PREFIX,
    connector_id_from_der,
    connector_uri,
    is_valid_connector_id,
)
from edge.tls.material import CertificateInfo, validate_chain_and_key
from edge.tls.policy_participant import TlsPolicyParticipant
from edge.tls.profiles import TLS_PROFILES, TlsProfile, new_server_context, parse_profile
from edge.tls.reloadable import ReloadableServerContext, ReloadOutcome

__all__ = [
    "CONNECTOR_URI_PREFIX",
    "TLS_PROFILES",
    "CertificateInfo",
    "ReloadOutcome",
    "ReloadableServerContext",
    "TlsMaterialError",
    "TlsPolicyParticipant",
    "TlsProfile",
    "connector_id_from_der",
    "connector_uri",
    "is_valid_connector_id",
    "new_server_context",
    "parse_profile",
    "validate_chain_and_key",
]
