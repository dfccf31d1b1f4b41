"""The one error tree of fingress.

Every error fingress raises on purpose derives from :class:`FingressError`. The tree lives beside the
tunnel protocol because its stable ``code`` strings are part of the tier-to-tier contract: the connector
raises, the tunnel carries ``(status, code, detail, extra)``, the edge renders RFC 9457 problem+json.
Third-party exceptions are translated at each library boundary into the most specific class here and
re-raised ``from`` the original, so no caller ever has to know about httpx, websockets or expat.

::

    FingressError
     ├── ConfigError            a configuration or policy file is invalid (names the key path)
     ├── ProtocolError          a peer broke a wire protocol (tunnel frames, XMPP stream)
     └── ApiError               what a client of the public API receives: HTTP status + stable code
          ├── BadRequest         400  the request itself is invalid
          ├── Unauthorized       401  no or bad credentials / token
          ├── Forbidden          403  authenticated, but not allowed
          ├── NotFound           404  no such route or object (for this agent)
          ├── Conflict           409  the object's state does not allow it (e.g. device choice needed)
          ├── PayloadTooLarge    413  a size limit was hit
          ├── RateLimited        429  a rate limit was hit (``retry_after_s``)
          ├── UpstreamError      502  Finesse refused or failed (carries Finesse's errorType/Message)
          ├── Unavailable        503  no connector, Finesse out of service, account locked, draining
          └── UpstreamTimeout    504  a tier or Finesse did not answer in time

Messages (``detail``) are for humans and must never contain secrets or internal host names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar


class FingressError(Exception):
    """Root of every error fingress raises on purpose."""


class ConfigError(FingressError):
    """A configuration or policy file is invalid.

    ``problems`` is a list of ``(key_path, message)``; the string form lists them one per line, e.g.
    ``policy.toml: rate_limits.per_agent: expected "N/period"``.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [
            f"{source}: {path}: {message}" if path else f"{source}: {message}" for path, message in problems
        ]
        super().__init__("\n".join(lines) or f"{source}: invalid")

    @classmethod
    def from_locations(cls, source: str, errors: Iterable[tuple[Sequence[str | int], str]]) -> ConfigError:
        """Build from ``(location, message)`` pairs, e.g. pydantic's ``ValidationError.errors()``."""
        return cls(source, [(".".join(str(part) for part in loc), message) for loc, message in errors])


class ProtocolError(FingressError):
    """A peer broke a wire protocol. ``reason`` is a short stable token suitable for close reasons."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class ApiError(FingressError):
    """An error a client of the public API receives: an HTTP status and a stable ``code``."""

    status: ClassVar[int] = 500

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        self.code = code
        self.detail = detail
        self.extra: dict[str, Any] = extra
        super().__init__(f"{code}: {detail}")

    def to_wire(self) -> dict[str, Any]:
        """The JSON-able form carried through the tunnel and rendered as problem+json."""
        return {"status": self.status, "code": self.code, "detail": self.detail, **self.extra}

    @staticmethod
    def from_wire(data: Mapping[str, Any]) -> ApiError:
        """Rebuild the most specific class for a wire form made by :meth:`to_wire`."""
        status = data.get("status")
        cls = _BY_STATUS.get(status if isinstance(status, int) else 0, UpstreamError)
        extra = {k: v for k, v in data.items() if k not in ("status", "code", "detail")}
        return cls(str(data.get("code", "upstream_error")), str(data.get("detail", "")), **extra)


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class RateLimited(ApiError):
    status = 429


class UpstreamError(ApiError):
    status = 502


class Unavailable(ApiError):
    status = 503


class UpstreamTimeout(ApiError):
    status = 504


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        RateLimited,
        UpstreamError,
        Unavailable,
        UpstreamTimeout,
    )
}
