"""A development OpenID Connect provider: discovery, JWKS and a token endpoint that issues agent tokens.

**For development and demos only. Never expose it to the internet**: it hands a signed access token to
anyone who knows an agent id and the demo password (or any password, when started without a password
table), it has no consent, no refresh tokens, no revocation, no brute-force protection.

* :class:`DevIdentityProvider` — settings + signing keys persisted under ``DATA_DIR/devidp/``; issues RS256
  JWT access tokens (RFC 9068 shape: ``iss``, ``aud``, ``sub``, the agent-id claim, ``scope``, ``iat``,
  ``nbf``, ``exp``, ``jti``; ``kid`` and ``typ: at+jwt`` in the header). Works without a server:
  ``fingress token`` uses it directly.
* :func:`create_app` — the Starlette app serving ``/.well-known/openid-configuration``, ``/jwks.json`` and
  ``POST /token`` (``password`` and ``client_credentials`` grants). Serve it over TLS.
* Key rotation: :meth:`DevIdentityProvider.rotate_keys` adds a new signing key and keeps the previous one in
  the JWKS, so tokens already issued keep verifying.

Wiring (the demo)::

    settings = DevIdpSettings(issuer=f"https://127.0.0.1:{port}")
    provider = DevIdentityProvider.create_or_open(data_dir, settings=settings)
    app = create_app(provider, agent_passwords={"1001": "..."})
    tls = ReloadableServerContext(cert_file=pki.server_cert_file, key_file=pki.server_key_file)
    uvicorn.Config(app, ssl_context_factory=tls.uvicorn_context_factory, ...)
    # edge policy: [oauth] issuer = that URL, audience = "fingress",
    #              discovery_url = issuer + "/.well-known/openid-configuration", ca_file = the dev CA
"""

from fingress.devidp.app import create_app
from fingress.devidp.errors import DevIdpError
from fingress.devidp.provider import DevIdentityProvider, DevIdpSettings

__all__ = ["DevIdentityProvider", "DevIdpError", "DevIdpSettings", "create_app"]
