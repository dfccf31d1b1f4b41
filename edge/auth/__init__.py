"""Bearer-token authentication for the public API.

:mod:`edge.auth.keys` fetches and caches the identity provider's signing keys (JWKS URL or OIDC
discovery) and bounds how often an unknown ``kid`` may trigger a fetch. :mod:`edge.auth.verifier` turns
a token into a :class:`~edge.tunnel.messages.Principal` or an :class:`~edge.auth.failures.InvalidToken`
whose ``reason`` is one of a fixed set of labels (the auth-failure metric's label values).
"""
