"""What the client session reports: past-tense facts, each a small immutable value.

A session emits :class:`SessionEstablished` once, then any number of :class:`PubsubItemReceived`,
:class:`PresenceReceived`, :class:`IqResult` and :class:`IqError`, and ends with exactly one terminal
event: :class:`SessionFailed` or :class:`SessionClosed`. Nothing follows a terminal event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    """Authenticated, resource bound, initial presence sent; ``jid`` is the full JID the server bound."""

    jid: str


@dataclass(frozen=True, slots=True)
class PubsubItemReceived:
    """A XEP-0060 event item. ``notification_text`` is the text of the item's payload element: for Finesse
    the (already unescaped) ``Update`` document, to be parsed a second time."""

    node: str
    item_id: str
    notification_text: str
    service: str = ""


@dataclass(frozen=True, slots=True)
class PresenceReceived:
    """A presence stanza; ``type`` is ``available`` when the stanza had none (RFC 6121)."""

    from_jid: str
    type: str

    @property
    def available(self) -> bool:
        return self.type == "available"


@dataclass(frozen=True, slots=True)
class IqResult:
    """The server answered the request ``iq_id`` with ``type="result"``; ``element`` is that answer."""

    iq_id: str
    element: Element | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IqError:
    """The request ``iq_id`` failed with the server's stanza error ``condition``; ``timed_out`` (condition
    ``remote-server-timeout``) when no answer came within the session's ``iq_timeout_s``."""

    iq_id: str
    condition: str
    text: str = ""
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class SessionFailed:
    """The session ended abnormally. ``reason`` is one of :data:`connector.xmpp.errors.REASONS`;
    ``condition`` the RFC 6120 stream-error or SASL condition when there is one."""

    reason: str
    condition: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class SessionClosed:
    """The stream was closed properly; ``by_peer`` when the server closed it without being asked."""

    by_peer: bool = False


TerminalEvent = SessionFailed | SessionClosed
XmppEvent = (
    SessionEstablished
    | PubsubItemReceived
    | PresenceReceived
    | IqResult
    | IqError
    | SessionFailed
    | SessionClosed
)
