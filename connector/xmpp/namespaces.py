"""XML namespaces of XMPP (RFC 6120, RFC 7395, XEP-0060, XEP-0199) and Clark-name helpers; the emulator's
servers use this list too, so both ends agree by construction."""

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


def qname(namespace: str, local: str) -> str:
    """The Clark name ``{namespace}local`` ElementTree uses."""
    return f"{{{namespace}}}{local}"


def split(tag: object) -> tuple[str, str]:
    """``(namespace, local name)`` of a Clark name; the namespace is ``""`` when there is none."""
    text = str(tag)
    if text.startswith("{"):
        namespace, _, local = text[1:].partition("}")
        return namespace, local
    return "", text


def is_stanza(tag: object, local: str) -> bool:
    """Whether ``tag`` names the stanza ``local`` (``iq``, ``message``, ``presence``) of ``jabber:client``.

    A stanza without a namespace is accepted too: some servers leave it to the stream's default.
    """
    namespace, name = split(tag)
    return name == local and namespace in (CLIENT, "")
