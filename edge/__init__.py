"""The DMZ tier: terminates TLS, authenticates agents, rate-limits, and forwards through the tunnel.

The edge holds no Finesse credentials and imports nothing from ``connector``.

How a public request flows (:func:`edge.app.build_public_app`): the middlewares of :mod:`edge.hygiene` pin
the current policy snapshot (:mod:`edge.policy_runtime`) for the whole request, give it a request id and
a client IP (:mod:`edge.client_ip`), log and count it, add security headers and CORS, turn any error into
problem+json (:mod:`edge.problems`), bound URL, header and body sizes, rate-limit per IP
(:mod:`edge.ratelimit`), admit only allow-listed routes (:mod:`edge.api.routes`), verify the bearer JWT
(:mod:`edge.auth`), rate-limit per agent; then :mod:`edge.api.forward` validates the body
(:mod:`edge.api.models`) and forwards it with the verified principal through an
:class:`edge.upstream.Upstream` (the tunnel relay, :mod:`edge.relay`), or :mod:`edge.events` serves the
event socket.

The admin app (:mod:`edge.admin`) is served on its own loopback listener. :class:`edge.server.EdgeServer`
composes both with uvicorn from :mod:`edge.config`; :mod:`edge.policy` is the hot-reloadable policy file.
"""
