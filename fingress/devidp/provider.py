"""The dev IdP itself: settings, keys and token issuing, usable with or without its HTTP app."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from joserfc import jwt

from fingress.devidp.errors import DevIdpError
from fingress.devidp.keys import SIGNING_ALGORITHM, SigningKeys, generate_signing_key
from fingress.pki import write_atomically

_AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_STATE_DIR = "devidp"
_SETTINGS_FILE = "settings.json"
_KEYS_FILE = "signing-keys.json"


@dataclass(frozen=True)
class DevIdpSettings:
    """What the tokens say. ``issuer`` is the provider's base URL (``https://host:port``, no trailing slash)
    and must be what the edge is configured to expect, as must ``audience`` and ``agent_claim``."""

    issuer: str
    audience: str = "fingress"
    agent_claim: str = "agent_id"
    scopes: tuple[str, ...] = ("finesse.agent",)
    token_lifetime_s: int = 3600
    max_keys: int = 2

    def __post_init__(self) -> None:
        if not self.issuer.startswith(("https://", "http://")) or self.issuer.endswith("/"):
            raise DevIdpError(
                "devidp_invalid_input", "issuer must be an http(s) URL without a trailing slash"
            )
        if not self.audience or not self.agent_claim or not self.scopes:
            raise DevIdpError("devidp_invalid_input", "audience, agent_claim and scopes must not be empty")
        if self.agent_claim in _RESERVED_CLAIMS:
            raise DevIdpError(
                "devidp_invalid_input", f"agent_claim must not be a registered claim ({self.agent_claim})"
            )
        if not 1 <= self.token_lifetime_s <= 86400 or not 1 <= self.max_keys <= 10:
            raise DevIdpError("devidp_invalid_input", "token_lifetime_s must be 1..86400, max_keys 1..10")

    @staticmethod
    def from_json(data: bytes, source: str) -> DevIdpSettings:
        try:
            document = json.loads(data)
            document["scopes"] = tuple(document["scopes"])
            return DevIdpSettings(**document)
        except (ValueError, KeyError, TypeError) as error:
            raise DevIdpError("devidp_corrupt", f"{source}: not a dev IdP settings file") from error

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()


_RESERVED_CLAIMS = frozenset({"iss", "aud", "sub", "exp", "nbf", "iat", "jti", "scope", "client_id"})


@dataclass(frozen=True)
class IssuedToken:
    """A signed access token; ``repr`` never shows it."""

    access_token: str = field(repr=False)
    expires_in_s: int
    scope: str
    agent_id: str


class DevIdentityProvider:
    """Issues agent access tokens signed with the newest of its keys. See the package docstring."""

    def __init__(
        self,
        *,
        settings: DevIdpSettings,
        keys: SigningKeys,
        keys_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._keys = keys
        self._keys_file = keys_file
        self._clock = clock

    @classmethod
    def create_or_open(
        cls, data_dir: Path, *, settings: DevIdpSettings, clock: Callable[[], float] = time.time
    ) -> DevIdentityProvider:
        """The provider under ``data_dir/devidp/``: writes ``settings`` (the issuer may change between runs)
        and loads the signing keys, generating and saving the first one when there is none."""
        directory = Path(data_dir) / _STATE_DIR
        keys_file = directory / _KEYS_FILE
        write_atomically(directory / _SETTINGS_FILE, settings.to_json(), mode=0o644)
        try:
            keys = SigningKeys.load(keys_file)
        except DevIdpError as error:
            if error.code != "devidp_missing":
                raise
            keys = SigningKeys(keys=(generate_signing_key(),))
            keys.save(keys_file)
        return cls(settings=settings, keys=keys, keys_file=keys_file, clock=clock)

    @classmethod
    def open(cls, data_dir: Path, *, clock: Callable[[], float] = time.time) -> DevIdentityProvider:
        """The provider a previous :meth:`create_or_open` (``fingress demo``) left in ``data_dir``;
        :class:`DevIdpError` ``devidp_missing`` when there is none."""
        directory = Path(data_dir) / _STATE_DIR
        settings_file = directory / _SETTINGS_FILE
        try:
            settings = DevIdpSettings.from_json(settings_file.read_bytes(), str(settings_file))
        except FileNotFoundError as error:
            raise DevIdpError(
                "devidp_missing", f"no dev identity provider in {data_dir} (start `fingress demo` once)"
            ) from error
        except OSError as error:
            raise DevIdpError("devidp_corrupt", f"{settings_file}: {error.strerror}") from error
        keys_file = directory / _KEYS_FILE
        return cls(settings=settings, keys=SigningKeys.load(keys_file), keys_file=keys_file, clock=clock)

    @property
    def signing_kid(self) -> str:
        kid = self._keys.active.kid
        assert kid is not None  # every stored key has one (SigningKeys.load checks)
        return kid

    def issue_token(self, agent_id: str, *, scope: str | None = None) -> IssuedToken:
        """A token for ``agent_id`` with ``scope`` (space-separated, each one of ``settings.scopes``;
        default: all of them). :class:`DevIdpError` ``devidp_invalid_input`` for a bad id or scope."""
        if _AGENT_ID.fullmatch(agent_id) is None:
            raise DevIdpError(
                "devidp_invalid_input",
                "agent id must be 1-64 characters of A-Z a-z 0-9 . _ @ - (alphanumeric first)",
            )
        granted = self.check_scope(scope)
        now = int(self._clock())
        lifetime_s = self.settings.token_lifetime_s
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": agent_id,
            self.settings.agent_claim: agent_id,
            "scope": granted,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "jti": secrets.token_urlsafe(16),
            "client_id": "fingress-devidp",
        }
        header = {"alg": SIGNING_ALGORITHM, "kid": self.signing_kid, "typ": "at+jwt"}
        token = jwt.encode(header, claims, self._keys.active, algorithms=[SIGNING_ALGORITHM])
        return IssuedToken(access_token=token, expires_in_s=lifetime_s, scope=granted, agent_id=agent_id)

    def check_scope(self, scope: str | None) -> str:
        """The normalised scope string for a request of ``scope``; ``invalid_scope`` error if not allowed."""
        if scope is None or not scope.strip():
            return " ".join(self.settings.scopes)
        requested = scope.split()
        if not set(requested) <= set(self.settings.scopes):
            raise DevIdpError("devidp_invalid_scope", f"allowed scopes: {' '.join(self.settings.scopes)}")
        return " ".join(dict.fromkeys(requested))

    def jwks(self) -> dict[str, Any]:
        """The public keys, newest first."""
        return self._keys.public_jwks()

    def rotate_keys(self) -> str:
        """Make a new key the signing key, keep up to ``settings.max_keys`` published; returns the new kid."""
        self._keys = self._keys.rotated(generate_signing_key(), max_keys=self.settings.max_keys)
        if self._keys_file is not None:
            self._keys.save(self._keys_file)
        return self.signing_kid

    def discovery_document(self) -> dict[str, Any]:
        """The ``/.well-known/openid-configuration`` document."""
        issuer = self.settings.issuer
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/jwks.json",
            "token_endpoint": f"{issuer}/token",
            "grant_types_supported": ["password", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
            "token_endpoint_auth_signing_alg_values_supported": [SIGNING_ALGORITHM],
            "scopes_supported": list(self.settings.scopes),
            "claims_supported": [
                "iss",
                "aud",
                "sub",
                self.settings.agent_claim,
                "scope",
                "exp",
                "iat",
                "nbf",
            ],
        }
