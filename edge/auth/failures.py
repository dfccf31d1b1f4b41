"""Why a bearer token was refused: one stable label per cause, used in metrics, logs and the problem."""

from __future__ import annotations

from enum import StrEnum

from edge.tunnel.errors import Unauthorized, Unavailable


class AuthFailure(StrEnum):
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    BAD_ISSUER = "bad_issuer"
    BAD_AUDIENCE = "bad_audience"
    BAD_ALGORITHM = "bad_algorithm"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KID = "unknown_kid"
    MALFORMED = "malformed"
    MISSING = "missing"
    MISSING_SCOPE = "missing_scope"
    MISSING_CLAIM = "missing_claim"
    # The event socket's one-time ticket is unknown, used, expired, or names another agent.
    BAD_TICKET = "bad_ticket"


_DETAILS = {
    AuthFailure.EXPIRED: "The token has expired.",
    AuthFailure.NOT_YET_VALID: "The token is not valid yet.",
    AuthFailure.BAD_ISSUER: "The token was issued by an issuer this edge does not trust.",
    AuthFailure.BAD_AUDIENCE: "The token is meant for another audience.",
    AuthFailure.BAD_ALGORITHM: "The token's signing algorithm is not allowed.",
    AuthFailure.BAD_SIGNATURE: "The token's signature does not verify.",
    AuthFailure.UNKNOWN_KID: "The token was signed with an unknown key.",
    AuthFailure.MALFORMED: "The token is not a well-formed JWT.",
    AuthFailure.MISSING: "A bearer token is required.",
    AuthFailure.MISSING_SCOPE: "The token lacks the required scope.",
    AuthFailure.MISSING_CLAIM: "The token lacks a required claim.",
    AuthFailure.BAD_TICKET: "The ticket is unknown, used, expired, or not yours.",
}


class InvalidToken(Unauthorized):
    """401 ``invalid_token`` with ``reason`` telling which check failed."""

    def __init__(self, reason: AuthFailure) -> None:
        self.reason = reason
        super().__init__("invalid_token", _DETAILS[reason], reason=reason.value)


class KeysUnavailable(Unavailable):
    """503: the identity provider's keys could not be fetched and none are cached."""

    def __init__(self) -> None:
        super().__init__("keys_unavailable", "The identity provider's signing keys are unavailable.")
