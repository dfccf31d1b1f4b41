"""The public app's pure-ASGI middlewares, one concern each, outermost first (see ``edge.app``):

``ContextMiddleware`` (pins the policy snapshot; request id; client IP) → ``AccessLogMiddleware`` (one
log line, the audit line and metrics per request) → ``SecurityHeadersMiddleware`` → ``CorsMiddleware``
(so refusals carry CORS headers too) → ``ProblemMiddleware`` (any error becomes problem+json or a close
code) → ``SizeLimitMiddleware`` → ``AdmissionMiddleware``, which runs the checks that only admit or
refuse in order (``IpRateLimit`` → ``AllowList`` → ``Authentication`` → ``AgentRateLimit``) → the routes.

They share per-request state through :class:`edge.hygiene.context.EdgeContext` in the ASGI scope.
"""
