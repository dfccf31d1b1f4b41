"""Every close code the event socket uses, in one place. Clients decide from the code whether to
reconnect (and with what), so these numbers are part of the public API.

======  ======================  =================================================================
code    reason                  the client should
======  ======================  =================================================================
1000    normal                  (closed on request)
1001    going_away              reconnect with ``?since=`` (edge shutting down)
1009    message_too_big         not send large messages; the edge expects none
1011    internal_error          reconnect after a backoff (an edge bug; it is logged)
4001    token_expired           get a fresh token (or ticket), reconnect with ``?since=``
4002    session_ended           stop; the agent was signed out (the last frame said why)
4003    upstream_lost           reconnect with ``?since=`` after a backoff
4400    bad_request             fix the request (e.g. a non-numeric ``since``)
4401    unauthorized            authenticate again: bad/missing token or ticket
4404    not_found               not retry: the events route is disabled by policy
4409    too_many_sockets        close another socket of this agent first
4429    rate_limited            retry after a backoff
4503    unavailable             retry after a backoff: no connector is up
======  ======================  =================================================================
"""

from __future__ import annotations

from enum import IntEnum

from edge.tunnel.errors import ApiError

# The ApiError code the socket endpoint raises when an agent is at its socket cap.
TOO_MANY_SOCKETS_CODE = "too_many_sockets"


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TOKEN_EXPIRED = 4001
    SESSION_ENDED = 4002
    UPSTREAM_LOST = 4003
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    NOT_FOUND = 4404
    TOO_MANY_SOCKETS = 4409
    RATE_LIMITED = 4429
    UNAVAILABLE = 4503

    @property
    def reason(self) -> str:
        """The close reason sent with the code: a short stable token."""
        return self.name.lower()


def close_code_for(error: ApiError) -> CloseCode:
    """The close code for an ``ApiError`` that ends a socket before or while it streams."""
    if error.code == TOO_MANY_SOCKETS_CODE:
        return CloseCode.TOO_MANY_SOCKETS
    return {
        400: CloseCode.BAD_REQUEST,
        401: CloseCode.UNAUTHORIZED,
        404: CloseCode.NOT_FOUND,
        413: CloseCode.MESSAGE_TOO_BIG,
        414: CloseCode.BAD_REQUEST,
        429: CloseCode.RATE_LIMITED,
        431: CloseCode.BAD_REQUEST,
        503: CloseCode.UNAVAILABLE,
        504: CloseCode.UNAVAILABLE,
    }.get(error.status, CloseCode.INTERNAL_ERROR if error.status >= 500 else CloseCode.BAD_REQUEST)
