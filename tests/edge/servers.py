"""Real servers for the edge tests: a local identity provider (JWKS + OIDC discovery over TLS) and
token minting with keys made by joserfc."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator, Generator
from typing import Any

import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ISSUER_PATH = ""


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: Any, *, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve ``app`` with uvicorn on 127.0.0.1, port 0; yields the port (listening already)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # proto=6: TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        ssl_context_factory=(lambda _c, _d: ssl_context) if ssl_context else None,
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


class IdentityProvider:
    """Signing keys, a JWKS endpoint that counts its fetches, and OIDC discovery."""

    def __init__(self) -> None:
        self.rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"})
        self.ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})
        self.published: list[Key] = [self.rsa, self.ec]
        self.jwks_fetches = 0
        self.issuer = "https://idp.test/"
        self.base_url = ""

    def app(self) -> Starlette:
        async def jwks(request: Request) -> Response:
            self.jwks_fetches += 1
            return JSONResponse({"keys": [key.as_dict(private=False) for key in self.published]})

        async def discovery(request: Request) -> Response:
            return JSONResponse({"issuer": self.issuer, "jwks_uri": f"{self.base_url}/jwks.json"})

        return Starlette(
            routes=[
                Route("/jwks.json", jwks),
                Route("/.well-known/openid-configuration", discovery),
            ]
        )

    def mint(
        self,
        agent_id: str = "1001",
        *,
        key: Key | None = None,
        alg: str = "RS256",
        lifetime_s: float = 300,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": "fingress",
            "sub": f"user-{agent_id}",
            "finesse_id": agent_id,
            "iat": now,
            "exp": now + int(lifetime_s),
            "scope": "openid finesse.agent",
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        signing_key = key or (self.ec if alg.startswith("ES") else self.rsa)
        token_header = {"alg": alg, "kid": signing_key.kid, **(header or {})}
        token_header = {name: value for name, value in token_header.items() if value is not None}
        return jwt.encode(token_header, payload, signing_key, algorithms=[alg])
