"""Finesse's synchronous refusals → the project's error tree (sans-I/O: status and body in, error out).

Finesse answers a refused request with ``<ApiErrors><ApiError>…`` and a 4xx/5xx status, except for bad
credentials, where an HTML page has been seen instead. Both are accepted here. Finesse's own words
(``errorType``, ``errorMessage``, ``errorData``) travel in the error's ``extra`` so that the public API
can show them; the ``code`` is ours and stable.
"""

from __future__ import annotations

import re

from connector.finesse.errors import AccountLocked, FinesseProtocolError, SideOutOfService
from connector.finesse.models import FinesseApiError
from connector.finesse.parse import parse_api_errors
from connector.finesse.xmltree import XmlLimits
from edge.tunnel.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    UpstreamError,
)

# An error body only needs to be read far enough to find the error; anything bigger is not Finesse's.
ERROR_BODY_LIMITS = XmlLimits(max_bytes=64 * 1024, max_depth=8)
# "locked", "lockout", "ACCOUNT_LOCKED" — but not "blocked" or "unlock".
_MENTIONS_LOCK = re.compile(rb"(?<![a-z])lock(?:ed|out)", re.IGNORECASE)


def error_for_response(*, status: int, body: bytes, side: str) -> ApiError:
    """The error for a non-success answer of Finesse side ``side``."""
    errors = _api_errors(body)
    first = errors[0] if errors else None
    extra = _finesse_words(first)
    said = f" ({first.error_type})" if first is not None and first.error_type else ""
    if status in (401, 403) and _MENTIONS_LOCK.search(body[: ERROR_BODY_LIMITS.max_bytes]):
        return AccountLocked(
            "finesse_account_locked",
            "Finesse has locked this account after repeated failed sign-ins; wait before trying again",
            **extra,
        )
    match status:
        case 400:
            return BadRequest("finesse_bad_request", f"Finesse rejected the request{said}", **extra)
        case 401:
            return Unauthorized("finesse_auth_failed", "Finesse rejected the agent's credentials", **extra)
        case 403:
            return Forbidden("finesse_forbidden", f"Finesse does not allow this{said}", **extra)
        case 404:
            return NotFound("finesse_not_found", f"Finesse does not know this object{said}", **extra)
        case 409:
            return Conflict("finesse_conflict", f"Finesse refused the request in this state{said}", **extra)
        case 501:
            return UpstreamError("finesse_not_implemented", "Finesse does not support this request", **extra)
        case 503:
            return SideOutOfService(
                "finesse_out_of_service", f"Finesse side {side} is out of service{said}", **extra
            )
        case _ if 500 <= status < 600:
            return UpstreamError("finesse_server_error", f"Finesse failed the request{said}", **extra)
        case _:
            return UpstreamError(
                "finesse_unexpected_status",
                f"Finesse answered with HTTP status {status}",
                finesse_status=status,
                **extra,
            )


def _api_errors(body: bytes) -> tuple[FinesseApiError, ...]:
    if not body.lstrip().startswith(b"<"):
        return ()
    try:
        return parse_api_errors(body, limits=ERROR_BODY_LIMITS)
    except FinesseProtocolError:
        # The HTML page Finesse sends for bad credentials, or anything else that is not <ApiErrors>: the
        # status alone then decides.
        return ()


def _finesse_words(error: FinesseApiError | None) -> dict[str, str]:
    if error is None:
        return {}
    words = {
        "error_type": error.error_type,
        "error_message": error.error_message,
        "error_data": error.error_data,
    }
    # Finesse's strings are short; bound them anyway, they end up in a public response.
    return {key: value[:512] for key, value in words.items() if value}
