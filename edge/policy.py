"""The edge's hot-reloadable policy: OAuth settings, rate limits, allow list, CORS, trusted proxies,
event-socket limits and certificate paths, read from a TOML file.

The model is frozen and forbids unknown keys; :func:`load_policy` turns every problem into one
``ConfigError`` naming key paths, e.g. ``policy.toml: rate_limits.per_agent: expected "N/period"``.
Building the objects that depend on a policy, and swapping them in atomically, is
:mod:`edge.policy_runtime`'s job.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import limits
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.api.routes import ROUTE_KEYS, ROUTES
from edge.tunnel.errors import ConfigError


def _rate(value: str) -> str:
    try:
        limits.parse(value)
    except ValueError:
        raise ValueError('expected "N/period", e.g. "60/minute"') from None
    return value


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("expected an IP address or network, e.g. 10.0.0.0/8") from None
    return value


def _origin(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if scheme not in ("https", "http") or not sep or not rest or "/" in rest or value == "*":
        raise ValueError('expected an origin like "https://app.example.com" (no wildcard, no path)')
    return value


def _route_key(value: str) -> str:
    if value not in ROUTE_KEYS:
        raise ValueError(f"unknown route {value!r}; expected one of: {', '.join(sorted(ROUTE_KEYS))}")
    return value


SigningAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
RateString = Annotated[str, AfterValidator(_rate)]
Network = Annotated[str, AfterValidator(_network)]
Origin = Annotated[str, AfterValidator(_origin)]
RouteKey = Annotated[str, AfterValidator(_route_key)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OAuthPolicy(_Section):
    """How bearer tokens are verified. Exactly one of ``jwks_url`` and ``discovery_url`` is set."""

    issuer: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    jwks_url: str | None = None
    discovery_url: str | None = None
    # Asymmetric algorithms only: a shared-secret algorithm would let anyone holding the public key sign.
    algorithms: tuple[
        Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"], ...
    ] = ("RS256",)
    leeway_s: int = Field(default=30, ge=0, le=300)
    agent_id_claim: str = Field(default="sub", min_length=1)
    required_scope: str | None = None
    # CA bundle for the identity provider's TLS certificate; the system store when unset.
    ca_file: Path | None = None
    jwks_refresh_s: float = Field(default=3600.0, gt=0)
    # An unknown "kid" triggers at most one key fetch per this interval, whatever the request rate.
    jwks_min_refetch_interval_s: float = Field(default=30.0, ge=0)
    jwks_fetch_timeout_s: float = Field(default=5.0, gt=0, le=60)
    token_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    # Forward the caller's token to the connector (Finesse ``bearer`` auth mode).
    forward_token: bool = False

    @model_validator(mode="after")
    def _one_key_source(self) -> OAuthPolicy:
        if (self.jwks_url is None) == (self.discovery_url is None):
            raise ValueError("set exactly one of jwks_url and discovery_url")
        for url in (self.jwks_url, self.discovery_url):
            if url is not None and not url.startswith("https://"):
                raise ValueError("key URLs must use https://")
        if not self.algorithms:
            raise ValueError("algorithms must not be empty")
        return self


class RateLimitPolicy(_Section):
    storage_uri: str = "memory://"
    # The sliding window counter by default: as smooth at window edges as a moving window for these limits,
    # at a fixed window's cost. A moving window keeps every hit: a list entry each in Redis, 8 bytes each
    # in memory:// (edge/ratelimit_memory.py; limits' own memory store held ~8.8 KiB per agent at 60
    # requests a minute and swept every key after each hit): benchmarks/rate_limits.py.
    strategy: Literal["fixed-window", "moving-window", "sliding-window-counter"] = "sliding-window-counter"
    per_ip: RateString = "300/minute"
    per_agent: RateString = "120/minute"
    sign_in: RateString = "10/minute"
    redis_max_connections: int = Field(default=32, ge=1, le=1024)

    @model_validator(mode="after")
    def _known_storage(self) -> RateLimitPolicy:
        if not self.storage_uri.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("storage_uri must start with memory://, redis:// or rediss://")
        return self


class LimitsPolicy(_Section):
    max_body_bytes: int = Field(default=16 * 1024, ge=256, le=1024 * 1024)
    max_header_bytes: int = Field(default=8 * 1024, ge=1024, le=64 * 1024)
    max_url_bytes: int = Field(default=2 * 1024, ge=128, le=16 * 1024)
    request_timeout_s: float = Field(default=15.0, gt=0, le=120)


class EventsPolicy(_Section):
    heartbeat_s: float = Field(default=25.0, gt=0, le=300)
    max_sockets_per_agent: int = Field(default=3, ge=1, le=100)
    max_message_bytes: int = Field(default=4096, ge=64, le=1024 * 1024)
    ticket_ttl_s: float = Field(default=30.0, gt=0, le=300)
    max_tickets: int = Field(default=10_000, ge=1, le=1_000_000)


class HttpPolicy(_Section):
    # The routes that reach the tunnel (or the edge's own handlers); everything else is 404.
    allow: tuple[RouteKey, ...] = tuple(route.key for route in ROUTES)
    cors_origins: tuple[Origin, ...] = ()
    # X-Forwarded-For is believed only from these peers.
    trusted_proxies: tuple[Network, ...] = ()
    hsts_max_age_s: int = Field(default=31_536_000, ge=0)


class TlsPolicy(_Section):
    """Certificate paths, consumed by the TLS reloader (edge/tls.py)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    profile: Literal["intermediate", "modern"] = "intermediate"


class Policy(_Section):
    """The whole policy file."""

    oauth: OAuthPolicy
    rate_limits: RateLimitPolicy = RateLimitPolicy()
    limits: LimitsPolicy = LimitsPolicy()
    events: EventsPolicy = EventsPolicy()
    http: HttpPolicy = HttpPolicy()
    tls: TlsPolicy = TlsPolicy()


def parse_policy(text: str, *, source: str) -> Policy:
    """Parse and validate policy TOML. Raises ``ConfigError`` naming every bad key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, [("", f"not valid TOML: {error}")]) from error
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise ConfigError.from_locations(
            source, ((problem["loc"], _message(problem["msg"])) for problem in error.errors())
        ) from None


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file at ``path``; relative file paths in it are resolved against
    its folder. Raises ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path.name, [("", f"cannot read: {error.__class__.__name__}")]) from error
    return _resolve_paths(parse_policy(text, source=path.name), path.parent)


def _resolve_paths(policy: Policy, folder: Path) -> Policy:
    def resolved(value: Path | None) -> Path | None:
        return folder / value if value is not None and not value.is_absolute() else value

    return policy.model_copy(
        update={
            "oauth": policy.oauth.model_copy(update={"ca_file": resolved(policy.oauth.ca_file)}),
            "tls": policy.tls.model_copy(
                update={
                    "cert_file": resolved(policy.tls.cert_file),
                    "key_file": resolved(policy.tls.key_file),
                }
            ),
        }
    )


def _message(msg: str) -> str:
    # pydantic prefixes messages from our validators with "Value error, "; the key path says enough.
    return msg.removeprefix("Value error, ")
