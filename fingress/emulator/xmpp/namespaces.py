"""XML namespaces the emulator's XMPP servers speak. The protocol namespaces (RFC 6120, RFC 7395, XEP-0060,
XEP-0199) are the client's own list, so both ends agree by construction; Finesse's notification namespaces
are added here."""

from __future__ import annotations

from connector.xmpp.namespaces import (
    BIND,
    CLIENT,
    FRAMING,
    PING,
    PUBSUB,
    PUBSUB_ERRORS,
    PUBSUB_EVENT,
    SASL,
    SESSION,
    STANZA_ERRORS,
    STREAM_ERRORS,
    STREAMS,
    XML,
    qname,
)

__all__ = [
    "BIND",
    "CLIENT",
    "FRAMING",
    "NOTIFICATION_NAMESPACES",
    "PING",
    "PUBSUB",
    "PUBSUB_ERRORS",
    "PUBSUB_EVENT",
    "PUSH",
    "SASL",
    "SESSION",
    "STANZA_ERRORS",
    "STREAMS",
    "STREAM_ERRORS",
    "XML",
    "qname",
]

# The namespace of Finesse's <notification> element varies by release; the captures show the first.
PUSH = "urn:xmpp:push:0"
NOTIFICATION_NAMESPACES = (PUSH, PUBSUB)
