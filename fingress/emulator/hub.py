"""The seam between the emulator's cluster model and its XMPP servers.

The cluster model (agents, calls, sides) publishes notifications to the :class:`Hub`; the XMPP servers
(WebSocket and direct TLS, one pair per side) attach each bound session to it and report presence and
credentials back through :class:`ClusterPort`. Neither side knows how the other is built.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal, Protocol, runtime_checkable

Side = Literal["A", "B"]
SIDES: tuple[Side, Side] = ("A", "B")
# Finesse's own resource name for the ``finesse`` user is not publicly documented: an emulator choice.
FINESSE_USER_RESOURCE = "finesse"


def finesse_user_jid(xmpp_domain: str) -> str:
    """The full JID whose presence signals that the Finesse webapp of the side serving ``xmpp_domain``
    is up (available) or down (unavailable)."""
    return f"finesse@{xmpp_domain}/{FINESSE_USER_RESOURCE}"


class XmppSession(Protocol):
    """One bound XMPP session, as the hub sees it."""

    def deliver(self, node: str, item_id: str, notification_xml: str) -> None:
        """Queue a pubsub event for ``node`` whose notification text is the (unescaped) Update document."""

    def close(self, condition: str) -> None:
        """End the session with stream error ``condition`` (``system-shutdown`` when a side goes down)."""


@runtime_checkable
class PresenceReceiver(Protocol):
    """A session that can also be told about another entity's presence (the ``finesse`` user's).
    Sessions that cannot (test stand-ins of the notification wire) are simply skipped."""

    def receive_presence(self, from_jid: str, available: bool) -> None:
        """Send ``<presence from=from_jid/>`` (``type="unavailable"`` when not ``available``), if the
        session has announced its own presence."""


class ClusterPort(Protocol):
    """What an XMPP server needs from the cluster model."""

    def authenticate(self, side: Side, agent_id: str, password: str) -> bool:
        """Check a SASL PLAIN credential (counts toward the account lock like REST does)."""

    def in_service(self, side: Side) -> bool:
        """Whether ``side`` accepts connections."""

    def xmpp_domain(self, side: Side) -> str:
        """The side's XMPP domain; pubsub lives on ``pubsub.<domain>``."""

    def presence_changed(self, side: Side, agent_id: str, available: bool) -> None:
        """The agent's presence on ``side`` changed: all of its sessions there considered together."""

    def webapp_up(self, side: Side) -> bool:
        """Whether the Finesse webapp on ``side`` is up, i.e. the ``finesse`` user is available there."""


class Hub:
    """Routes notifications to the sessions bound on each side; a session sees only its own agent's nodes
    and the shared ``/finesse/api/SystemInfo`` node."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[Side, str], set[XmppSession]] = defaultdict(set)
        self._item_counter = 0

    def attach(self, side: Side, agent_id: str, session: XmppSession) -> None:
        self._sessions[(side, agent_id)].add(session)

    def detach(self, side: Side, agent_id: str, session: XmppSession) -> None:
        sessions = self._sessions.get((side, agent_id))
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._sessions[(side, agent_id)]

    def sessions(self, side: Side, agent_id: str) -> frozenset[XmppSession]:
        return frozenset(self._sessions.get((side, agent_id), ()))

    def _next_item_id(self) -> str:
        self._item_counter += 1
        return f"fingress-emulator-{self._item_counter}"

    def publish(self, side: Side, agent_id: str, node: str, notification_xml: str) -> None:
        """Deliver to every session of ``agent_id`` bound on ``side``."""
        sessions = self._sessions.get((side, agent_id))
        if not sessions:
            return  # the usual case on the side the agent is not connected to: not even an item id
        item_id = self._next_item_id()
        for session in tuple(sessions):
            session.deliver(node, item_id, notification_xml)

    def broadcast(self, side: Side, node: str, notification_xml: str) -> None:
        """Deliver to every session bound on ``side`` (SystemInfo)."""
        item_id = self._next_item_id()
        for (session_side, _agent), sessions in tuple(self._sessions.items()):
            if session_side == side:
                for session in tuple(sessions):
                    session.deliver(node, item_id, notification_xml)

    def broadcast_presence(self, side: Side, from_jid: str, available: bool) -> None:
        """Tell every session bound on ``side`` that ``from_jid`` became available or unavailable."""
        for (session_side, _agent), sessions in tuple(self._sessions.items()):
            if session_side == side:
                for session in tuple(sessions):
                    if isinstance(session, PresenceReceiver):
                        session.receive_presence(from_jid, available)

    def drop_side(self, side: Side, condition: str = "system-shutdown") -> None:
        """Close every session bound on ``side`` (the side went out of service)."""
        for (session_side, _agent), sessions in tuple(self._sessions.items()):
            if session_side == side:
                for session in tuple(sessions):
                    session.close(condition)
