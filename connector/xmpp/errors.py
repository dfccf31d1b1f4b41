"""The XMPP client's errors, one branch of the project's error tree (:mod:`edge.tunnel.errors`).

::

    FingressError
     └── XmppError      reason: a stable token from :data:`REASONS`; condition: the RFC 6120 / RFC 6121
                        condition when the server or the stream named one

Exceptions from ``ssl``, ``OSError`` and ``websockets`` are translated into :class:`XmppError` at the
transport boundary and re-raised ``from`` the original. Messages never contain the password.
"""

from __future__ import annotations

from typing import Final

from edge.tunnel.errors import FingressError

AUTH_FAILED: Final = "auth_failed"
"""The server refused the credentials (retrying blindly would lock a Finesse account)."""
CONNECT_FAILED: Final = "connect_failed"
"""No connection: refused, unreachable, TLS handshake or certificate failure, WebSocket upgrade refused."""
STREAM_ERROR: Final = "stream_error"
"""A stream error: sent by the server, or sent by us because the server's input broke the rules."""
TIMEOUT: Final = "timeout"
"""Something did not happen in time: connect, session establishment, a ping answer, an iq answer."""
CONNECTION_LOST: Final = "connection_lost"
"""The connection ended without a proper stream close."""
REFUSED: Final = "refused"
"""The server refused a step after authentication (resource bind, session) or an iq request."""
NOT_ESTABLISHED: Final = "not_established"
"""The caller used a session that is not (or no longer) established."""
INTERNAL_ERROR: Final = "internal_error"
"""A bug on our side ended the session (logged with its traceback)."""

REASONS: Final = frozenset(
    {
        AUTH_FAILED,
        CONNECT_FAILED,
        STREAM_ERROR,
        TIMEOUT,
        CONNECTION_LOST,
        REFUSED,
        NOT_ESTABLISHED,
        INTERNAL_ERROR,
    }
)


class XmppError(FingressError):
    """An XMPP session could not be opened, broke, or refused a request.

    ``reason`` is one of :data:`REASONS`; ``condition`` is the protocol's condition name when there is one
    (``not-authorized``, ``system-shutdown``, ``item-not-found``...); ``detail`` is for humans.
    """

    def __init__(self, reason: str, detail: str = "", *, condition: str = "") -> None:
        self.reason = reason
        self.condition = condition
        self.detail = detail
        parts = [reason, condition, detail]
        super().__init__(": ".join(part for part in parts if part))
