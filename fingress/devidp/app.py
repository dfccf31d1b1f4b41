"""The dev IdP's HTTP face: OIDC discovery, JWKS and an OAuth 2.0 token endpoint (RFC 6749).

``POST /token`` takes ``application/x-www-form-urlencoded``:

* ``grant_type=password&username=<agent id>&password=<password>[&scope=...]``
* ``grant_type=client_credentials`` with ``client_id=<agent id>`` and ``client_secret=<password>``, in the
  body or as HTTP Basic credentials.

With an ``agent_passwords`` table the password must match; without one any password is accepted (a demo
convenience, and the reason this app must never face the internet). Errors are RFC 6749 JSON
(``invalid_request``, ``unsupported_grant_type``, ``invalid_grant``, ``invalid_client``, ``invalid_scope``),
never a 500; credentials are never logged or echoed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fingress.devidp.errors import DevIdpError
from fingress.devidp.provider import DevIdentityProvider

MAX_TOKEN_REQUEST_BYTES = 8 * 1024
_MAX_FIELDS = 16
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(error)

    def response(self) -> JSONResponse:
        headers = dict(_NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="fingress-devidp"'
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers=headers,
        )


def create_app(
    provider: DevIdentityProvider, *, agent_passwords: Mapping[str, str] | None = None
) -> Starlette:
    """The Starlette app for ``provider``. ``agent_passwords`` maps agent id → password; ``None`` accepts
    any password for any well-formed agent id (development only)."""

    def password_ok(agent_id: str, password: str) -> bool:
        if agent_passwords is None:
            return True
        expected = agent_passwords.get(agent_id)
        # Compare even for an unknown agent, so timing does not tell which ids exist.
        matches = hmac.compare_digest((expected or "\x00").encode(), password.encode())
        return expected is not None and matches

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse(provider.discovery_document(), headers={"Cache-Control": "max-age=60"})

    async def jwks(request: Request) -> JSONResponse:
        # Short caching: a key rotation must reach verifiers quickly.
        return JSONResponse(provider.jwks(), headers={"Cache-Control": "max-age=60"})

    async def token(request: Request) -> JSONResponse:
        try:
            form = await _read_form(request)
            agent_id = _authenticate(form, request.headers.get("authorization"), password_ok)
            issued = provider.issue_token(agent_id, scope=form.get("scope"))
        except _OAuthError as error:
            return error.response()
        except DevIdpError as error:
            if error.code == "devidp_invalid_scope":
                return _OAuthError("invalid_scope", error.detail).response()
            return _OAuthError("invalid_request", error.detail).response()
        body: dict[str, Any] = {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in_s,
            "scope": issued.scope,
        }
        return JSONResponse(body, headers=_NO_STORE)

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/jwks.json", jwks, methods=["GET"]),
            Route("/token", token, methods=["POST"]),
        ]
    )


async def _read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_TOKEN_REQUEST_BYTES:
            raise _OAuthError(
                "invalid_request", f"the body exceeds {MAX_TOKEN_REQUEST_BYTES} bytes", status=413
            )
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            max_num_fields=_MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise _OAuthError("invalid_request", "the body is not a valid form") from error
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _OAuthError("invalid_request", f"parameter {name!r} appears more than once")
        form[name] = value
    return form


def _authenticate(
    form: Mapping[str, str], authorization: str | None, password_ok: Callable[[str, str], bool]
) -> str:
    grant_type = form.get("grant_type")
    if grant_type == "password":
        username, password = form.get("username"), form.get("password")
        if not username or password is None:
            raise _OAuthError("invalid_request", "the password grant needs username and password")
        if not password_ok(username, password):
            raise _OAuthError("invalid_grant", "unknown agent or wrong password")
        return username
    if grant_type == "client_credentials":
        client_id, client_secret = _client_credentials(form, authorization)
        if not password_ok(client_id, client_secret):
            raise _OAuthError("invalid_client", "unknown client or wrong secret", status=401)
        return client_id
    if grant_type is None:
        raise _OAuthError("invalid_request", "grant_type is missing")
    raise _OAuthError("unsupported_grant_type", "supported: password, client_credentials")


def _client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str]:
    if authorization is not None:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise _OAuthError("invalid_client", "only Basic client authentication is supported", status=401)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise _OAuthError("invalid_client", "malformed Basic credentials", status=401) from error
        client_id, separator, client_secret = decoded.partition(":")
        if not separator or "client_secret" in form:
            raise _OAuthError("invalid_client", "malformed Basic credentials", status=401)
        return unquote_plus(client_id), unquote_plus(client_secret)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if not form_id or form_secret is None:
        raise _OAuthError("invalid_client", "client_id and client_secret are required", status=401)
    return form_id, form_secret
