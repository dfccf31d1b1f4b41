"""What an XMPP client says, as bytes or WebSocket messages, for driving the servers in tests."""

from __future__ import annotations

import base64

from tests.emulator_xmpp.fakes import DOMAINS

CLIENT = "jabber:client"
STREAMS = "http://etherx.jabber.org/streams"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


def plain(agent_id: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{agent_id}\0{password}".encode()).decode()


def stream_header(domain: str = DOMAINS["A"], version: str = "1.0") -> str:
    return (
        f"<?xml version='1.0'?><stream:stream xmlns='{CLIENT}' xmlns:stream='{STREAMS}'"
        f" to='{domain}' version='{version}'>"
    )


def ws_open(domain: str = DOMAINS["A"]) -> str:
    return f'<open xmlns="{FRAMING}" to="{domain}" version="1.0"/>'


def ws_close() -> str:
    return f'<close xmlns="{FRAMING}"/>'


def auth(agent_id: str, password: str, mechanism: str = "PLAIN") -> str:
    return (
        f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>"
        f"{plain(agent_id, password)}</auth>"
    )


def bind(resource: str | None = "fingress-test", iq_id: str = "bind1", xmlns: str = "") -> str:
    inner = f"<resource>{resource}</resource>" if resource is not None else ""
    return (
        f"<iq type='set' id='{iq_id}'{xmlns}>"
        f"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{inner}</bind></iq>"
    )


def session(iq_id: str = "sess1", xmlns: str = "") -> str:
    return f"<iq type='set' id='{iq_id}'{xmlns}><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"


def presence(presence_type: str | None = None, xmlns: str = "") -> str:
    type_attribute = f" type='{presence_type}'" if presence_type else ""
    return f"<presence{type_attribute}{xmlns}/>"


def ping(iq_id: str = "ping1", xmlns: str = "") -> str:
    return f"<iq type='get' id='{iq_id}'{xmlns}><ping xmlns='urn:xmpp:ping'/></iq>"


def subscribe(node: str, jid: str, iq_id: str = "sub1", action: str = "subscribe", xmlns: str = "") -> str:
    return (
        f"<iq type='set' id='{iq_id}' to='pubsub.{DOMAINS['A']}'{xmlns}>"
        f"<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
        f"<{action} node='{node}' jid='{jid}'/></pubsub></iq>"
    )


# RFC 7395 messages are documents of their own: each stanza declares ``jabber:client`` itself.
WS_XMLNS = f" xmlns='{CLIENT}'"
