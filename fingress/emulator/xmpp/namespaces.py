"""XML namespaces the emulator's XMPP servers speak (RFC 6120, RFC 7395, XEP-0060, XEP-0199)."""

from __future__ import annotations

CLIENT = "jabber:client"
STREAMS = "http://etherx.jabber.org/streams"
STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION = "urn:ietf:params:xml:ns:xmpp-session"
PING = "urn:xmpp:ping"
PUBSUB = "http://jabber.org/protocol/pubsub"
PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
PUBSUB_ERRORS = "http://jabber.org/protocol/pubsub#errors"
XML = "http://www.w3.org/XML/1998/namespace"

# The namespace of Finesse's <notification> element varies by release; the captures show the first.
PUSH = "urn:xmpp:push:0"
NOTIFICATION_NAMESPACES = (PUSH, PUBSUB)


def qname(namespace: str, local: str) -> str:
    """The Clark name ``{namespace}local`` ElementTree uses."""
    return f"{{{namespace}}}{local}"
