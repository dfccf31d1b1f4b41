"""The public app's pure-ASGI middlewares, one concern each, outermost first:

``ContextMiddleware`` (pins the policy snapshot, request id, client IP) → ``AccessLogMiddleware`` (one
log line and metrics per request) → ``ProblemMiddleware`` (any error becomes problem+json or a close
code) → ``SecurityHeadersMiddleware`` → ``CorsMiddleware`` → ``SizeLimitMiddleware`` →
``AllowListMiddleware`` → ``AuthMiddleware`` (with the rate limits around it) → the routes.
"""
