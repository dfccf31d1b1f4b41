"""REST authentication: HTTP Basic ``<agentId>:<password>`` (counted toward the account lock) and, when
configured, ``Bearer`` JWTs (SSO) verified with an HMAC key or a JWKS read from files.

Emulator assumption: Cisco IdS issues the real tokens; the emulator accepts any JWT its configured key
verifies, with ``exp`` required, ``iss`` / ``aud`` checked when configured, and the agent id taken from
``bearer.agent_id_claim``."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from edge.tunnel.errors import ConfigError

from . import config, errors
from .cluster import Cluster
from .commands import Actor

MAX_AUTHORIZATION_CHARS = 8192


class BearerVerifier:
    """Verifies bearer JWTs against one configured key (never logs the token)."""

    def __init__(self, *, settings: config.BearerSettings, key: OctKey | KeySet) -> None:
        self._settings = settings
        self._key = key

    def __repr__(self) -> str:
        return f"BearerVerifier(algorithms={self._settings.algorithms!r})"

    @classmethod
    def from_settings(cls, settings: config.BearerSettings) -> BearerVerifier | None:
        """Read the configured key file; None when bearer auth is off."""
        if not settings.enabled:
            return None
        try:
            if settings.hmac_key_file is not None:
                return cls(
                    settings=settings, key=OctKey.import_key(settings.hmac_key_file.read_bytes().strip())
                )
            assert settings.jwks_file is not None
            jwks = json.loads(settings.jwks_file.read_text(encoding="utf-8"))
            return cls(settings=settings, key=KeySet.import_key_set(jwks))
        except (OSError, ValueError, JoseError) as error:
            raise ConfigError(
                "bearer", [("bearer", f"cannot load the key: {error.__class__.__name__}")]
            ) from error

    def agent_id(self, token: str) -> str | None:
        """The agent id of a valid token, else None."""
        try:
            decoded = jwt.decode(token, self._key, algorithms=list(self._settings.algorithms))
            options: dict[str, Any] = {"exp": {"essential": True}}
            if self._settings.issuer is not None:
                options["iss"] = {"essential": True, "value": self._settings.issuer}
            if self._settings.audience is not None:
                options["aud"] = {"essential": True, "value": self._settings.audience}
            jwt.JWTClaimsRegistry(leeway=self._settings.leeway_s, **options).validate(decoded.claims)
        except (JoseError, ValueError, TypeError):
            return None
        agent_id = decoded.claims.get(self._settings.agent_id_claim)
        return agent_id if isinstance(agent_id, str) and agent_id else None


class Authenticator:
    """Turns an ``Authorization`` header into the acting agent, or raises 401."""

    def __init__(self, *, cluster: Cluster, bearer: BearerVerifier | None) -> None:
        self._cluster = cluster
        self._bearer = bearer

    def authenticate(self, authorization: str | None) -> Actor:
        if not authorization or len(authorization) > MAX_AUTHORIZATION_CHARS:
            raise errors.unauthorized()
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            return self._basic(value.strip())
        if scheme.lower() == "bearer" and self._bearer is not None:
            agent_id = self._bearer.agent_id(value.strip())
            if agent_id is None or agent_id not in self._cluster.directory.profiles:
                raise errors.unauthorized("Invalid token")
            return self._cluster.actor(agent_id)
        raise errors.unauthorized()

    def _basic(self, encoded: str) -> Actor:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise errors.unauthorized() from None
        agent_id, separator, password = decoded.partition(":")
        if not separator:
            raise errors.unauthorized()
        outcome = self._cluster.check_password(agent_id, password)
        if outcome == "locked":
            raise errors.account_locked()
        if outcome != "ok":
            raise errors.unauthorized()
        return self._cluster.actor(agent_id)
