"""The client session over RFC 7395 framing: one document per WebSocket message."""

from __future__ import annotations

import pytest

from connector.xmpp import errors
from connector.xmpp.events import PubsubItemReceived, SessionClosed, SessionEstablished, SessionFailed
from connector.xmpp.session import ClientSession
from connector.xmpp.xmlstream import parse_frame
from tests.xmpp import transcripts as t


def established() -> ClientSession:
    session = t.websocket_session()
    for message in t.WS_LOGIN:
        session.receive_data(message, 1.0)
    assert session.events_received() == [SessionEstablished(t.FULL_JID)]
    return session


def test_login_over_websocket_frames_every_message_as_its_own_document() -> None:
    session = established()
    sent = session.data_to_send()
    assert sent == [
        f'<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="{t.DOMAIN}" version="1.0"/>',
        f'<auth xmlns="{t.SASL}" mechanism="PLAIN">{t.plain_initial_response()}</auth>',
        f'<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="{t.DOMAIN}" version="1.0"/>',
        '<iq xmlns="jabber:client" type="set" id="fx1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">'
        f"<resource>{t.RESOURCE}</resource></bind></iq>",
        '<iq xmlns="jabber:client" type="set" id="fx2">'
        '<session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>',
        '<presence xmlns="jabber:client"/>',
    ]
    for message in sent:  # each one parses alone, and every stanza names jabber:client (Prosody insists)
        element = parse_frame(message, max_bytes=65536, max_depth=16)
        if element.tag.rpartition("}")[2] in ("iq", "presence", "message"):
            assert element.tag.startswith("{jabber:client}")


@pytest.mark.parametrize("name", t.capture_names())
def test_captures_in_a_websocket_message(name: str) -> None:
    session = established()
    stanza = t.capture_stanza(name).replace("<message ", "<message xmlns='jabber:client' ", 1)
    session.receive_data(stanza, 2.0)
    [event] = session.events_received()
    assert isinstance(event, PubsubItemReceived)
    assert event.notification_text == t.capture_notification_text(name)


def test_a_capture_without_namespace_is_accepted_too() -> None:
    session = established()
    session.receive_data(t.capture_stanza("ready.xml"), 2.0)
    [event] = session.events_received()
    assert isinstance(event, PubsubItemReceived)


def test_close_and_the_servers_close() -> None:
    session = established()
    session.data_to_send()
    session.close(3.0)
    assert session.data_to_send() == [
        '<presence xmlns="jabber:client" type="unavailable"/>',
        '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>',
    ]
    session.receive_data('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>', 3.1)
    assert session.events_received() == [SessionClosed(by_peer=False)]


def test_stream_error_then_close_from_the_server() -> None:
    session = established()
    session.receive_data(
        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
        "<unsupported-stanza-type xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
        3.0,
    )
    session.receive_data('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>', 3.0)
    assert session.events_received() == [SessionFailed(errors.STREAM_ERROR, "unsupported-stanza-type", "")]


@pytest.mark.parametrize(
    ("message", "condition"),
    [
        (b"<message/>", "bad-format"),  # RFC 7395 allows text messages only
        ("<message><a></message>", "not-well-formed"),
        ("<message/><message/>", "not-well-formed"),
        ("<!DOCTYPE m [<!ENTITY e 'x'>]><message>&e;</message>", "restricted-xml"),
        ("<message>" + "x" * 300_000 + "</message>", "policy-violation"),
    ],
)
def test_hostile_messages_end_the_session_with_a_stream_error_and_close(
    message: str | bytes, condition: str
) -> None:
    session = established()
    session.data_to_send()
    session.receive_data(message, 3.0)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert (event.reason, event.condition) == (errors.STREAM_ERROR, condition)
    error, close = session.data_to_send()
    assert f'<{condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>' in error
    assert close == '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>'
