"""Verifies bearer JWTs and turns them into a :class:`Principal`.

Checks, in order: size and shape; the header's ``alg`` against the policy's allow list (never ``none``,
never a shared-secret algorithm); the key by ``kid`` and by the key type the algorithm needs (so an RSA
public key can never verify an HS256 token); the signature (joserfc); ``exp`` (required), ``nbf``,
``iat``, ``iss`` and ``aud`` with bounded leeway; the optional scope; the agent-id claim.
Each failure raises :class:`InvalidToken` with a distinct reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwt import JWTClaimsRegistry

from edge.auth.failures import AuthFailure, InvalidToken, KeysUnavailable
from edge.auth.keys import KeyCache, key_type_for
from edge.auth.token_cache import TokenCache
from edge.policy import OAuthPolicy
from edge.tunnel.errors import ProtocolError
from edge.tunnel.messages import AgentId, Principal

MAX_TOKEN_BYTES = 8192
_AGENT_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_CLAIM_FAILURES = {
    "iss": AuthFailure.BAD_ISSUER,
    "aud": AuthFailure.BAD_AUDIENCE,
    "nbf": AuthFailure.NOT_YET_VALID,
    "iat": AuthFailure.NOT_YET_VALID,
    "exp": AuthFailure.MISSING_CLAIM,
}


class TokenVerifier:
    """Verifies tokens against one :class:`OAuthPolicy`; built anew when the policy changes."""

    def __init__(
        self,
        *,
        policy: OAuthPolicy,
        keys: KeyCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._keys = keys
        self._clock = clock
        self._cache = TokenCache(max_entries=policy.token_cache_size, clock=clock)

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token. Raises ``InvalidToken`` or ``KeysUnavailable``."""
        if not token:
            raise InvalidToken(AuthFailure.MISSING)
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken(AuthFailure.MALFORMED)
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        header = _header_of(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._policy.algorithms:
            raise InvalidToken(AuthFailure.BAD_ALGORITHM)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken(AuthFailure.MALFORMED)
        try:
            key = await self._keys.key_for(kid, key_type_for(algorithm))
        except ProtocolError as error:
            raise KeysUnavailable() from error
        if key is None:
            raise InvalidToken(AuthFailure.UNKNOWN_KID)
        try:
            claims = jwt.decode(token, key, algorithms=[algorithm]).claims
        except BadSignatureError:
            raise InvalidToken(AuthFailure.BAD_SIGNATURE) from None
        except (JoseError, ValueError, TypeError):
            raise InvalidToken(AuthFailure.MALFORMED) from None
        self._validate_claims(claims)
        principal = self._principal(token, claims)
        assert principal.token_expires_at is not None
        self._cache.put(token, principal, expires_at=principal.token_expires_at)
        return principal

    def _validate_claims(self, claims: dict[str, Any]) -> None:
        registry = JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=self._policy.leeway_s,
            iss={"essential": True, "value": self._policy.issuer},
            aud={"essential": True, "value": self._policy.audience},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise InvalidToken(AuthFailure.EXPIRED) from None
        except MissingClaimError as error:
            missing = error.claim.split(",")
            for claim in ("iss", "aud"):
                if claim in missing:
                    raise InvalidToken(_CLAIM_FAILURES[claim]) from None
            raise InvalidToken(AuthFailure.MISSING_CLAIM) from None
        except InvalidClaimError as error:
            raise InvalidToken(_CLAIM_FAILURES.get(error.claim, AuthFailure.MALFORMED)) from None
        except JoseError:
            raise InvalidToken(AuthFailure.MALFORMED) from None

    def _principal(self, token: str, claims: dict[str, Any]) -> Principal:
        scopes = _scopes_of(claims)
        required = self._policy.required_scope
        if required is not None and required not in scopes:
            raise InvalidToken(AuthFailure.MISSING_SCOPE)
        agent_id = claims.get(self._policy.agent_id_claim)
        if isinstance(agent_id, int) and not isinstance(agent_id, bool):
            agent_id = str(agent_id)
        if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
            raise InvalidToken(AuthFailure.MISSING_CLAIM)
        subject = claims.get("sub")
        return Principal(
            agent_id=AgentId(agent_id),
            subject=subject if isinstance(subject, str) else "",
            scopes=scopes,
            token=token if self._policy.forward_token else None,
            token_expires_at=float(claims["exp"]),
        )


def _header_of(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken(AuthFailure.MALFORMED)
    segment = parts[0]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidToken(AuthFailure.MALFORMED) from None
    if not isinstance(header, dict):
        raise InvalidToken(AuthFailure.MALFORMED)
    return header


def _scopes_of(claims: dict[str, Any]) -> tuple[str, ...]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return tuple(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return tuple(item for item in scp if isinstance(item, str))
    return ()
