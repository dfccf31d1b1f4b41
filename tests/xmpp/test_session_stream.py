"""The client session over an RFC 6120 stream: hand-written server transcripts in, events and bytes out."""

from __future__ import annotations

import base64

import pytest

from connector.xmpp import errors
from connector.xmpp.events import (
    IqError,
    IqResult,
    PresenceReceived,
    PubsubItemReceived,
    SessionClosed,
    SessionEstablished,
    SessionFailed,
    XmppEvent,
)
from connector.xmpp.session import ClientSession, Phase
from connector.xmpp.settings import SessionOptions
from connector.xmpp.xmlstream import StanzaReceived, XmlStreamParser
from tests.xmpp import transcripts as t


def established() -> ClientSession:
    session = t.stream_session()
    t.log_in(session)
    assert session.events_received() == [SessionEstablished(t.FULL_JID)]
    session.data_to_send()
    return session


def sent_stanzas(session: ClientSession) -> list[str]:
    return session.data_to_send()


def test_login_sends_plain_restarts_binds_starts_session_and_announces_presence() -> None:
    session = t.stream_session()
    header = "".join(session.data_to_send())
    assert header.startswith("<?xml version='1.0'?><stream:stream xmlns='jabber:client'")
    assert f"to='{t.DOMAIN}'" in header
    assert "version='1.0'" in header

    session.receive_data((t.HEADER + t.PLAIN_FEATURES).encode(), 0.1)
    auth = "".join(session.data_to_send())
    assert auth == (f'<auth xmlns="{t.SASL}" mechanism="PLAIN">{t.plain_initial_response()}</auth>')
    session.receive_data(t.SUCCESS.encode(), 0.2)
    restart = "".join(session.data_to_send())
    assert restart.startswith("<?xml version='1.0'?><stream:stream")

    session.receive_data((t.HEADER + t.BIND_FEATURES).encode(), 0.3)
    assert session.data_to_send() == [
        '<iq type="set" id="fx1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">'
        f"<resource>{t.RESOURCE}</resource></bind></iq>"
    ]
    session.receive_data(t.BIND_RESULT.encode(), 0.4)
    assert session.data_to_send() == [
        '<iq type="set" id="fx2"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>'
    ]
    assert session.events_received() == []
    session.receive_data(t.SESSION_RESULT.encode(), 0.5)
    assert session.data_to_send() == ["<presence/>"]
    assert session.events_received() == [SessionEstablished(t.FULL_JID)]
    assert session.established
    assert session.jid == t.FULL_JID


def test_optional_session_is_skipped() -> None:
    session = t.stream_session()
    features = t.BIND_FEATURES.replace(
        "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>",
        "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>",
    )
    session.receive_data(t.BEFORE_RESTART.encode(), 0.0)
    session.receive_data((t.HEADER + features + t.BIND_RESULT).encode(), 0.0)
    assert session.events_received() == [SessionEstablished(t.FULL_JID)]
    assert "xmpp-session" not in "".join(session.data_to_send())


def events_for_turns(turns: list[list[bytes]]) -> tuple[list[XmppEvent], list[str]]:
    """Feed each server turn as the given chunks; return the events and everything the client sent."""
    session = t.stream_session()
    sent = session.data_to_send()
    for chunks in turns:
        for chunk in chunks:
            session.receive_data(chunk, 0.0)
        sent += session.data_to_send()
    return session.events_received(), sent


def split_everywhere(turn: bytes) -> list[list[bytes]]:
    """Every way to cut ``turn`` in two, and byte by byte."""
    return [[turn[:cut], turn[cut:]] for cut in range(1, len(turn))] + [
        [turn[i : i + 1] for i in range(len(turn))]
    ]


def test_login_and_notifications_split_at_every_byte_boundary() -> None:
    before = t.BEFORE_RESTART.encode()
    after = (t.AFTER_RESTART + t.capture_stanza("ready.xml") + t.capture_stanza("login.xml")).encode()
    expected = events_for_turns([[before], [after]])
    assert [type(event) for event in expected[0]] == [
        SessionEstablished,
        PubsubItemReceived,
        PubsubItemReceived,
    ]
    for chunks in split_everywhere(before):
        assert events_for_turns([chunks, [after]]) == expected
    for chunks in split_everywhere(after):
        assert events_for_turns([[before], chunks]) == expected


@pytest.mark.parametrize("name", t.capture_names())
def test_every_capture_split_at_every_byte_boundary_gives_the_same_item(name: str) -> None:
    stanza = t.capture_stanza(name).encode()
    whole = established()
    whole.receive_data(stanza, 2.0)
    expected = whole.events_received()
    assert [type(event) for event in expected] == [PubsubItemReceived]
    for cut in range(1, len(stanza)):
        session = established()
        session.receive_data(stanza[:cut], 2.0)
        session.receive_data(stanza[cut:], 2.0)
        assert session.events_received() == expected, cut


@pytest.mark.parametrize("name", t.capture_names())
def test_finesse_captures_become_pubsub_items_with_the_unescaped_update_document(name: str) -> None:
    session = established()
    session.receive_data(t.capture_stanza(name).encode(), 2.0)
    [event] = session.events_received()
    assert isinstance(event, PubsubItemReceived)
    assert event.node == "/finesse/api/User/6021"
    assert event.item_id.startswith("a6ca891f-")
    assert event.service == "pubsub.c01-finesse-b.devlab.zoomint.com"
    assert event.notification_text == t.capture_notification_text(name)
    assert event.notification_text.strip().startswith("<Update>")


@pytest.mark.parametrize(
    "namespace", ["urn:xmpp:push:0", "http://jabber.org/protocol/pubsub", "urn:example:other"]
)
def test_notification_namespace_is_matched_loosely(namespace: str) -> None:
    session = established()
    session.receive_data(
        (
            f"<message from='pubsub.{t.DOMAIN}'>"
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='/finesse/api/SystemInfo'>"
            f"<item id='i1'><notification xmlns='{namespace}'>&lt;Update/&gt;</notification></item>"
            "<item id='i2'><notification xmlns='{namespace}'>second</notification></item>"
            "</items></event></message>"
        ).encode(),
        2.0,
    )
    assert session.events_received() == [
        PubsubItemReceived("/finesse/api/SystemInfo", "i1", "<Update/>", f"pubsub.{t.DOMAIN}"),
        PubsubItemReceived("/finesse/api/SystemInfo", "i2", "second", f"pubsub.{t.DOMAIN}"),
    ]


def test_pubsub_events_from_anyone_but_the_pubsub_service_are_ignored() -> None:
    session = established()
    forged = t.capture_stanza("logout.xml").replace(
        'from="pubsub.c01-finesse-b.devlab.zoomint.com"', f'from="6022@{t.DOMAIN}/evil"'
    )
    assert forged != t.capture_stanza("logout.xml")
    session.receive_data(forged.encode(), 2.0)
    session.receive_data(forged.replace(f' from="6022@{t.DOMAIN}/evil"', "").encode(), 2.0)
    assert session.events_received() == []
    session.receive_data(t.capture_stanza("logout.xml").encode(), 2.0)
    assert [type(event) for event in session.events_received()] == [PubsubItemReceived]


def test_the_pubsub_service_is_configurable() -> None:
    session = t.stream_session(opts=SessionOptions(pubsub_service="notifications.example"))
    t.log_in(session)
    session.events_received()
    message = t.capture_stanza("ready.xml")
    session.receive_data(message.encode(), 2.0)
    assert session.events_received() == []
    session.receive_data(message.replace(f"pubsub.{t.DOMAIN}", "notifications.example").encode(), 2.0)
    [event] = session.events_received()
    assert isinstance(event, PubsubItemReceived)
    assert event.service == "notifications.example"


def test_messages_without_pubsub_items_are_ignored() -> None:
    session = established()
    session.receive_data(b"<message from='x@y'><body>hello</body></message>", 2.0)
    assert session.events_received() == []


def test_presence_is_reported_with_its_type() -> None:
    session = established()
    session.receive_data(
        b"<presence from='finesse@finesse-a.example/desktop'/>"
        b"<presence from='finesse@finesse-a.example/desktop' type='unavailable'/>",
        2.0,
    )
    first, second = session.events_received()
    assert first == PresenceReceived("finesse@finesse-a.example/desktop", "available")
    assert first.available
    assert second == PresenceReceived("finesse@finesse-a.example/desktop", "unavailable")
    assert not second.available


def test_server_ping_is_answered_and_other_requests_refused() -> None:
    session = established()
    session.receive_data(
        f"<iq type='get' id='p1' from='{t.DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>"
        f"<iq type='get' id='v1' from='{t.DOMAIN}'><query xmlns='jabber:iq:version'/></iq>".encode(),
        2.0,
    )
    pong, refusal = session.data_to_send()
    assert pong == f'<iq type="result" id="p1" to="{t.DOMAIN}"/>'
    assert refusal == (
        f'<iq type="error" id="v1" to="{t.DOMAIN}"><error type="cancel">'
        '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
    )
    assert session.events_received() == []


def test_keepalive_pings_every_interval_and_an_answer_keeps_the_link() -> None:
    session = t.stream_session(opts=SessionOptions(ping_interval_s=20, ping_timeout_s=10))
    t.log_in(session)
    session.events_received()
    session.data_to_send()
    assert session.wake_at() == 21.0
    session.tick(20.9)
    assert session.data_to_send() == []
    session.tick(21.0)
    assert session.data_to_send() == [
        f'<iq type="get" id="fx3" to="{t.DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>'
    ]
    assert session.wake_at() == 31.0
    session.receive_data(b"<iq type='result' id='fx3'/>", 22.0)
    assert session.events_received() == []  # keep-alive answers are not news
    assert session.wake_at() == 41.0  # the next ping is due an interval after the last one was sent
    session.tick(41.0)
    assert "urn:xmpp:ping" in "".join(session.data_to_send())
    session.receive_data(
        b"<iq type='error' id='fx4'><error type='cancel'>"
        b"<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        42.0,
    )
    session.tick(50.0)
    assert not session.finished  # an error answer proves the link alive too


def test_unanswered_keepalive_ping_ends_the_session_as_timed_out() -> None:
    session = t.stream_session(opts=SessionOptions(ping_interval_s=20, ping_timeout_s=10))
    t.log_in(session)
    session.events_received()
    session.tick(21.0)
    session.tick(30.99)
    assert not session.finished
    session.tick(31.0)
    assert session.finished
    [failed] = session.events_received()
    assert failed == SessionFailed(errors.TIMEOUT, "connection-timeout", "no answer to a ping within 10 s")
    assert session.wake_at() is None


def test_subscribe_and_unsubscribe_are_correlated_by_id() -> None:
    session = established()
    first = session.subscribe("/finesse/api/Team/5005/Users", 2.0)
    second = session.unsubscribe("/finesse/api/Team/5005/Users", 2.0)
    assert session.data_to_send() == [
        f'<iq type="set" id="{first}" to="pubsub.{t.DOMAIN}"><pubsub xmlns="http://jabber.org/protocol/pubsub">'
        f'<subscribe node="/finesse/api/Team/5005/Users" jid="{t.USERNAME}@{t.DOMAIN}"/></pubsub></iq>',
        f'<iq type="set" id="{second}" to="pubsub.{t.DOMAIN}"><pubsub xmlns="http://jabber.org/protocol/pubsub">'
        f'<unsubscribe node="/finesse/api/Team/5005/Users" jid="{t.USERNAME}@{t.DOMAIN}"/></pubsub></iq>',
    ]
    session.receive_data(
        f"<iq type='error' id='{second}' from='pubsub.{t.DOMAIN}'><error type='cancel'>"
        "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no such node</text></error></iq>"
        f"<iq type='result' id='{first}' from='pubsub.{t.DOMAIN}'/>"
        f"<iq type='result' id='unknown' from='pubsub.{t.DOMAIN}'/>".encode(),
        2.5,
    )
    error, result = session.events_received()
    assert error == IqError(second, "item-not-found", "no such node")
    assert result == IqResult(first)


def test_an_answer_from_another_entity_is_not_taken_for_the_answer() -> None:
    session = established()
    iq_id = session.subscribe("/finesse/api/Team/1/Users", 2.0)
    session.receive_data(f"<iq type='result' id='{iq_id}' from='mallory@{t.DOMAIN}/x'/>".encode(), 2.1)
    session.receive_data(f"<iq type='result' id='{iq_id}'/>".encode(), 2.1)  # not the pubsub service either
    assert session.events_received() == []
    session.receive_data(f"<iq type='result' id='{iq_id}' from='PUBSUB.{t.DOMAIN}'/>".encode(), 2.2)
    assert session.events_received() == [IqResult(iq_id)]
    ping_id = session.ping(3.0)
    session.receive_data(f"<iq type='result' id='{ping_id}'/>".encode(), 3.1)  # our server may omit 'from'
    assert session.events_received() == [IqResult(ping_id)]


def test_unanswered_request_times_out_without_ending_the_session() -> None:
    session = t.stream_session(opts=SessionOptions(iq_timeout_s=5, ping_interval_s=100))
    t.log_in(session)
    session.events_received()
    iq_id = session.ping(2.0)
    assert session.wake_at() == 7.0
    session.tick(7.0)
    assert session.events_received() == [IqError(iq_id, "remote-server-timeout", "no answer in time", True)]
    session.receive_data(f"<iq type='result' id='{iq_id}'/>".encode(), 8.0)
    assert session.events_received() == []  # too late: nobody waits for it any more
    assert session.established


def test_requests_before_the_session_is_established_are_refused() -> None:
    session = t.stream_session()
    with pytest.raises(errors.XmppError) as raised:
        session.subscribe("/node", 0.0)
    assert raised.value.reason == errors.NOT_ESTABLISHED


def test_close_sends_unavailable_presence_and_stream_end_then_waits_for_the_server() -> None:
    session = established()
    session.close(5.0)
    assert session.data_to_send() == ['<presence type="unavailable"/>', "</stream:stream>"]
    assert session.phase is Phase.CLOSING
    session.receive_data(t.capture_stanza("ready.xml").encode(), 5.1)
    assert session.events_received() == []  # nothing new is reported while closing
    session.receive_data(b"</stream:stream>", 5.2)
    assert session.events_received() == [SessionClosed(by_peer=False)]
    assert session.finished
    session.close(6.0)  # idempotent
    assert session.data_to_send() == []


def test_close_gives_up_waiting_after_the_close_timeout() -> None:
    session = established()
    session.close(5.0)
    assert session.wake_at() == 7.0
    session.tick(7.0)
    assert session.events_received() == [SessionClosed(by_peer=False)]


def test_server_closing_the_stream_is_answered_and_reported() -> None:
    session = established()
    session.receive_data(b"</stream:stream>", 3.0)
    assert session.data_to_send() == ["</stream:stream>"]
    assert session.events_received() == [SessionClosed(by_peer=True)]


def test_server_stream_error_ends_the_session_with_its_condition() -> None:
    session = established()
    session.receive_data(
        b"<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>side A going down</text></stream:error>"
        b"</stream:stream>",
        3.0,
    )
    assert session.events_received() == [
        SessionFailed(errors.STREAM_ERROR, "system-shutdown", "side A going down")
    ]
    assert session.data_to_send() == ["</stream:stream>"]


def test_connection_lost_is_a_failure_unless_closing() -> None:
    session = established()
    session.connection_lost(3.0)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert event.reason == errors.CONNECTION_LOST
    closing = established()
    closing.close(3.0)
    closing.connection_lost(3.1)
    assert closing.events_received() == [SessionClosed(by_peer=False)]


def test_session_not_established_in_time_fails() -> None:
    session = t.stream_session(opts=SessionOptions(establish_timeout_s=3))
    session.receive_data((t.HEADER + t.PLAIN_FEATURES).encode(), 1.0)
    assert session.wake_at() == 3.0
    session.tick(3.0)
    assert session.events_received() == [
        SessionFailed(errors.TIMEOUT, "connection-timeout", "session not established in time")
    ]


def test_bad_password_is_an_auth_failure_with_the_server_condition() -> None:
    session = t.stream_session()
    session.receive_data(
        (
            t.HEADER + t.PLAIN_FEATURES + f"<failure xmlns='{t.SASL}'><not-authorized/>"
            "<text>Unable to authorize you with the authentication credentials you've sent.</text></failure>"
        ).encode(),
        0.1,
    )
    [event] = session.events_received()
    assert event == SessionFailed(
        errors.AUTH_FAILED,
        "not-authorized",
        "Unable to authorize you with the authentication credentials you've sent.",
    )
    assert session.data_to_send()[-1] == "</stream:stream>"


def test_no_usable_mechanism_is_an_auth_failure() -> None:
    session = t.stream_session()
    features = t.PLAIN_FEATURES.replace("PLAIN", "X-OAUTH2")
    session.receive_data((t.HEADER + features).encode(), 0.1)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert (event.reason, event.condition) == (errors.AUTH_FAILED, "invalid-mechanism")
    assert "X-OAUTH2" in event.text


def test_only_the_answer_to_the_bind_request_completes_binding() -> None:
    session = t.stream_session()
    session.receive_data(t.BEFORE_RESTART.encode(), 0.1)
    session.receive_data((t.HEADER + t.BIND_FEATURES).encode(), 0.1)
    session.receive_data(b"<iq type='result' id='somebody-else'/>", 0.2)
    assert session.phase is Phase.BINDING
    session.receive_data((t.BIND_RESULT + t.SESSION_RESULT).encode(), 0.3)
    assert session.events_received() == [SessionEstablished(t.FULL_JID)]


def test_bind_refused_is_reported() -> None:
    session = t.stream_session()
    session.receive_data(t.BEFORE_RESTART.encode(), 0.1)
    script = (
        t.HEADER + t.BIND_FEATURES + "<iq type='error' id='fx1'>"
        "<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    session.receive_data(script.encode(), 0.1)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert (event.reason, event.condition) == (errors.REFUSED, "conflict")


# RFC 5802 §5 example: user "user", password "pencil".
RFC_NONCE = "fyko+d2lbbFgONRv9qkxdawL"
RFC_SERVER_FIRST = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
RFC_CLIENT_FINAL = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
RFC_SERVER_FINAL = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="


def scram_session() -> ClientSession:
    from connector.xmpp.framing import StreamFraming
    from tests.xmpp.transcripts import account

    session = ClientSession(
        account=account(username="user", password="pencil"),
        framing=StreamFraming(max_stanza_bytes=65536, max_depth=16),
        nonce_factory=lambda: RFC_NONCE,
    )
    session.start(0.0)
    session.data_to_send()
    features = t.PLAIN_FEATURES.replace("PLAIN", "SCRAM-SHA-1")
    session.receive_data((t.HEADER + features).encode(), 0.1)
    return session


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_scram_sha1_follows_the_rfc_5802_example_when_only_scram_is_offered() -> None:
    session = scram_session()
    assert session.data_to_send() == [
        f'<auth xmlns="{t.SASL}" mechanism="SCRAM-SHA-1">{b64("n,,n=user,r=" + RFC_NONCE)}</auth>'
    ]
    session.receive_data(f"<challenge xmlns='{t.SASL}'>{b64(RFC_SERVER_FIRST)}</challenge>".encode(), 0.2)
    assert session.data_to_send() == [f'<response xmlns="{t.SASL}">{b64(RFC_CLIENT_FINAL)}</response>']
    session.receive_data(f"<success xmlns='{t.SASL}'>{b64(RFC_SERVER_FINAL)}</success>".encode(), 0.3)
    assert session.events_received() == []
    assert session.phase is Phase.OPENING  # restarted: authenticated


def test_scram_rejects_a_server_that_cannot_prove_it_knows_the_password() -> None:
    session = scram_session()
    session.receive_data(f"<challenge xmlns='{t.SASL}'>{b64(RFC_SERVER_FIRST)}</challenge>".encode(), 0.2)
    forged = "v=" + base64.b64encode(b"\0" * 20).decode()
    session.receive_data(f"<success xmlns='{t.SASL}'>{b64(forged)}</success>".encode(), 0.3)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert (event.reason, event.condition) == (errors.AUTH_FAILED, "not-authorized")
    assert "signature" in event.text


@pytest.mark.parametrize(
    "server_first",
    [
        "r=someone-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096",  # does not extend our nonce
        f"r={RFC_NONCE},s=QSXCR+Q6sek8bf92,i=4096",  # adds nothing to it
        f"r={RFC_NONCE}x,s=not base64!,i=4096",
        f"r={RFC_NONCE}x,s=QSXCR+Q6sek8bf92,i=999999999",  # a CPU-pinning iteration count
        f"r={RFC_NONCE}x,s=QSXCR+Q6sek8bf92,i=0",
        f"m=ext,r={RFC_NONCE}x,s=QSXCR+Q6sek8bf92,i=4096",
        "garbage",
    ],
)
def test_scram_refuses_a_malformed_server_first_message(server_first: str) -> None:
    session = scram_session()
    session.receive_data(f"<challenge xmlns='{t.SASL}'>{b64(server_first)}</challenge>".encode(), 0.2)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert event.reason == errors.AUTH_FAILED


def test_scram_success_without_a_challenge_is_refused() -> None:
    session = scram_session()
    session.receive_data(f"<success xmlns='{t.SASL}'/>".encode(), 0.2)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert event.reason == errors.AUTH_FAILED


@pytest.mark.parametrize(
    ("hostile", "condition"),
    [
        (b"<!DOCTYPE x [<!ENTITY a 'b'>]><message/>", "not-well-formed"),  # a DTD inside a document
        (b"<message>&amp;&xxe;</message>", "not-well-formed"),  # undefined entity
        (b"<?evil instruction?>", "restricted-xml"),
        (b"<message><unclosed></message>", "not-well-formed"),
        (b"<message>" + b"<a>" * 40 + b"</a>" * 40 + b"</message>", "policy-violation"),
        (b"<message><body>" + b"x" * 300_000 + b"</body></message>", "policy-violation"),
        (b"<foo xmlns='urn:other'/>", "unsupported-stanza-type"),
    ],
)
def test_hostile_input_ends_the_session_with_a_stream_error(hostile: bytes, condition: str) -> None:
    session = established()
    session.receive_data(hostile, 3.0)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert (event.reason, event.condition) == (errors.STREAM_ERROR, condition)
    sent = "".join(session.data_to_send())
    assert f'<{condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>' in sent
    assert sent.endswith("</stream:stream>")
    session.receive_data(t.capture_stanza("ready.xml").encode(), 3.1)
    assert session.events_received() == []  # nothing after the end


@pytest.mark.parametrize(
    "prologue",
    [
        "<!DOCTYPE stream:stream [<!ENTITY boom 'x'>]>",
        "<!DOCTYPE stream:stream SYSTEM 'file:///etc/passwd'>",
        "<!-- a comment -->",
    ],
)
def test_a_dtd_or_comment_before_the_stream_is_restricted_xml(prologue: str) -> None:
    session = t.stream_session()
    session.data_to_send()
    header = t.HEADER.replace("<stream:stream", prologue + "<stream:stream")
    session.receive_data(header.encode(), 0.1)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert (event.reason, event.condition) == (errors.STREAM_ERROR, "restricted-xml")


def test_a_stream_header_that_is_not_xmpp_is_refused() -> None:
    session = t.stream_session()
    session.receive_data(b"<html><body>", 0.1)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert event.condition == "invalid-namespace"


def test_wrong_version_is_refused() -> None:
    session = t.stream_session()
    session.receive_data(t.HEADER.replace("version='1.0'", "version='0.9'").encode(), 0.1)
    [event] = session.events_received()
    assert isinstance(event, SessionFailed)
    assert event.condition == "unsupported-version"


def test_output_is_a_well_formed_stream() -> None:
    session = established()
    session.subscribe("/a&b<c>", 2.0)
    session.close(3.0)
    output = "".join(t.HEADER for _ in range(1))  # stands in for the client header the parser needs
    parser = XmlStreamParser(max_stanza_bytes=1 << 16, max_depth=16)
    events = parser.feed((output + "".join(session.data_to_send())).encode())
    stanzas = [event.element for event in events if isinstance(event, StanzaReceived)]
    assert [element.tag for element in stanzas] == ["{jabber:client}iq", "{jabber:client}presence"]
    subscribe = stanzas[0].find(
        "{http://jabber.org/protocol/pubsub}pubsub/{http://jabber.org/protocol/pubsub}subscribe"
    )
    assert subscribe is not None
    assert subscribe.get("node") == "/a&b<c>"


def test_account_and_session_never_show_the_password() -> None:
    session = established()
    assert t.PASSWORD not in repr(session)
    assert t.PASSWORD not in repr(t.account())
