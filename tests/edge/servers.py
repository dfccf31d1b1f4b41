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


class LoopbackServer:
    """uvicorn serving ``app`` on 127.0.0.1, port 0, on the running loop (``Server.serve()`` takes the
    running loop, so a test's server runs on the loop the test runs on)."""

    def __init__(self, app: Any, *, ssl_context: ssl.SSLContext | None = None) -> None:
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            ssl_context_factory=(lambda _c, _d: ssl_context) if ssl_context else None,
        )
        self._server = _QuietServer(config)
        # proto=6 (IPPROTO_TCP): asyncio sets TCP_NODELAY on accepted connections only then.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> int:
        """Listen and start serving; returns the port (connections wait in the backlog until uvicorn
        accepts them)."""
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        return int(self._sock.getsockname()[1])

    async def stop(self) -> None:
        """Stop serving (uvicorn's graceful shutdown, ~0.2 s); more calls wait for the same stop."""
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        self._sock.close()


@contextlib.asynccontextmanager
async def serve(app: Any, *, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve ``app`` with uvicorn on 127.0.0.1, port 0; yields the port (listening already)."""
    server = LoopbackServer(app, ssl_context=ssl_context)
    try:
        yield server.start()
    finally:
        await server.stop()


class IdentityProvider:
    """Signing keys, a JWKS endpoint that counts its fetches, and OIDC discovery."""

    def __init__(self) -> None:
        self.rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"})
        self.ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})
        self.published: list[Key] = [self.rsa, self.ec]
        self.jwks_fetches = 0
        self.issuer = "https://idp.test/"
        self.base_url = ""
        self._server: LoopbackServer | None = None

    def start_serving(self, *, ssl_context: ssl.SSLContext) -> None:
        """Serve :meth:`app` over TLS on loopback, on the running loop; sets :attr:`base_url`."""
        self._server = LoopbackServer(self.app(), ssl_context=ssl_context)
        self.base_url = f"https://127.0.0.1:{self._server.start()}"

    async def stop_serving(self) -> None:
        """Stop what :meth:`start_serving` started; more calls wait for the same stop."""
        if self._server is not None:
            await self._server.stop()

    def app(self) -> Starlette:
        # Each answer closes its connection: an edge's key client holds an idle one open until the edge has
        # stopped (its TLS close waits for the client's), and uvicorn's shutdown polls every 0.1 s for it;
        # fetches are rare, so a handshake each costs the tests nothing.
        closing = {"connection": "close"}

        async def jwks(request: Request) -> Response:
            self.jwks_fetches += 1
            keys = [key.as_dict(private=False) for key in self.published]
            return JSONResponse({"keys": keys}, headers=closing)

        async def discovery(request: Request) -> Response:
            document = {"issuer": self.issuer, "jwks_uri": f"{self.base_url}/jwks.json"}
            return JSONResponse(document, headers=closing)

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
