"""The seam between an agent session and its XMPP notification link.

A session asks a :class:`LinkFactory` for a link to one Finesse side; the link calls back the session's
:class:`NotificationHandler` for every pubsub item and every presence it sees, and :meth:`NotificationLink.
wait_closed` returns once the link is gone, saying why. :mod:`connector.sessions.xmpp_links` implements it
on the XMPP client (``connector/xmpp``); keeping the seam small keeps the session independent of the
transport (WebSocket or direct TLS).
"""

from __future__ import annotations

from typing import Literal, Protocol

from connector.finesse.credentials import Credentials
from edge.tunnel.errors import FingressError

SideName = Literal["A", "B"]


class LinkFailed(FingressError):
    """A link could not be opened or broke. ``auth_failed`` means retrying would only lock the account."""

    def __init__(self, reason: str, *, auth_failed: bool = False) -> None:
        self.reason = reason
        self.auth_failed = auth_failed
        super().__init__(reason)


class NotificationHandler(Protocol):
    def notification(self, node: str, text: str) -> None:
        """A pubsub item arrived; ``text`` is the notification's (unescaped) ``Update`` document."""

    def presence(self, jid: str, available: bool) -> None:
        """Presence of ``jid`` changed (the ``finesse`` user's presence signals the node's health)."""


class NotificationLink(Protocol):
    async def wait_closed(self) -> LinkFailed:
        """Return, once the link has ended, why it ended (never raises)."""

    async def close(self) -> None:
        """End the link (unavailable presence, stream close); safe to call more than once."""


class LinkFactory(Protocol):
    async def open(
        self, *, side: SideName, credentials: Credentials, handler: NotificationHandler
    ) -> NotificationLink:
        """Connect, authenticate, bind and announce presence; raises :class:`LinkFailed`."""
