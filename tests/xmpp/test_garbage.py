"""Hypothesis: whatever a hostile server sends, the session reports it as ``SessionFailed`` at most, and
never raises, never reports anything after its end, and never leaves a deadline behind."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.xmpp.events import SessionClosed, SessionEstablished, SessionFailed
from connector.xmpp.session import ClientSession
from connector.xmpp.settings import SessionOptions
from tests.xmpp import transcripts as t

FRAGMENTS = [
    t.HEADER,
    t.PLAIN_FEATURES,
    t.SUCCESS,
    t.BIND_FEATURES,
    t.BIND_RESULT,
    t.SESSION_RESULT,
    "<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='result' id='fx3'/>",
    "<presence type='unavailable' from='finesse@x'/>",
    "<message><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='n'><item id='1'>",
    "</item></items></event></message>",
    "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    "</stream:stream>",
    "<!DOCTYPE x>",
    "&lt;",
    "&bogus;",
    "<![CDATA[x]]>",
    "<?pi?>",
    "\x00",
    "\udcff",
    "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>bm9wZQ==</challenge>",
    "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
]

chunks = st.lists(
    st.one_of(
        st.binary(max_size=64),
        st.sampled_from(FRAGMENTS).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.text(max_size=32).map(lambda text: text.encode("utf-8", "surrogatepass")),
    ),
    max_size=12,
)


def check_events(session: ClientSession) -> None:
    events = session.events_received()
    terminal = [
        index for index, event in enumerate(events) if isinstance(event, SessionFailed | SessionClosed)
    ]
    assert len(terminal) <= 1
    if terminal:
        assert terminal[0] == len(events) - 1
        assert session.finished
        assert session.wake_at() is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=chunks, after_login=st.booleans())
def test_garbage_over_the_stream_framing_never_raises(data: list[bytes], after_login: bool) -> None:
    session = t.stream_session()
    if after_login:
        t.log_in(session)
        assert session.events_received() == [SessionEstablished(t.FULL_JID)]
    for index, chunk in enumerate(data):
        session.receive_data(chunk, float(index))
        session.tick(float(index))
        check_events(session)
        session.data_to_send()
    session.connection_lost(100.0)
    events = session.events_received()
    assert all(isinstance(event, SessionFailed | SessionClosed) for event in events)


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(
        st.one_of(st.text(max_size=64), st.binary(max_size=16), st.sampled_from([*FRAGMENTS, *t.WS_LOGIN])),
        max_size=10,
    ),
    after_login=st.booleans(),
)
def test_garbage_over_the_websocket_framing_never_raises(
    messages: list[str | bytes], after_login: bool
) -> None:
    session = t.websocket_session()
    if after_login:
        for login_message in t.WS_LOGIN:
            session.receive_data(login_message, 0.0)
        assert session.events_received() == [SessionEstablished(t.FULL_JID)]
    for index, message in enumerate(messages):
        session.receive_data(message, float(index))
        check_events(session)
        session.data_to_send()
    session.close(50.0)
    session.tick(1000.0)
    events = session.events_received()
    assert len([event for event in events if isinstance(event, SessionFailed | SessionClosed)]) <= 1
    assert session.finished


@settings(max_examples=200, deadline=None)
@given(
    challenge=st.one_of(
        st.binary(max_size=80),
        st.builds(
            lambda nonce_tail, salt, iterations: f"r=nonce{nonce_tail},s={salt},i={iterations}".encode(),
            st.text(max_size=8),
            st.text(max_size=12),
            st.integers(min_value=-5, max_value=5000).map(str),
        ),
    ),
    success=st.binary(max_size=40),
)
def test_garbage_scram_exchange_ends_in_an_auth_failure_or_a_stream_error(
    challenge: bytes, success: bytes
) -> None:
    from connector.xmpp.framing import StreamFraming

    session = ClientSession(
        account=t.account(),
        framing=StreamFraming(max_stanza_bytes=65536, max_depth=16),
        options=SessionOptions(sasl_mechanisms=("SCRAM-SHA-1",)),
        nonce_factory=lambda: "nonce",
    )
    session.start(0.0)
    features = t.PLAIN_FEATURES.replace("PLAIN", "SCRAM-SHA-1")
    session.receive_data((t.HEADER + features).encode(), 0.0)
    encoded = base64.b64encode(challenge).decode()
    session.receive_data(f"<challenge xmlns='{t.SASL}'>{encoded}</challenge>".encode(), 0.0)
    encoded = base64.b64encode(success).decode()
    session.receive_data(f"<success xmlns='{t.SASL}'>{encoded}</success>".encode(), 0.0)
    events = session.events_received()
    # A server that does not know the password can never get past SCRAM.
    assert len(events) == 1
    assert isinstance(events[0], SessionFailed)
    assert events[0].reason in ("auth_failed", "stream_error")
