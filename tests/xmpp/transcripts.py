"""Hand-written server sides of XMPP conversations, for driving a sans-I/O :class:`ClientSession`.

The client numbers its iq requests ``fx1``, ``fx2``...: during login ``fx1`` is the bind request and
``fx2`` the legacy session request (when the server asks for one), so a whole server side can be written
down before the client says anything.
"""

from __future__ import annotations

import base64
import html
import re

from connector.xmpp.framing import StreamFraming, WebSocketFraming
from connector.xmpp.session import ClientSession
from connector.xmpp.settings import SessionOptions, XmppAccount
from tests.support.captures import CAPTURE_FILES, CAPTURES_DIR

CAPTURES = CAPTURES_DIR  # the shared captures (tests/support/captures.py)
DOMAIN = "c01-finesse-b.devlab.zoomint.com"  # the domain of the Finesse captures
USERNAME = "6021"
PASSWORD = "s3cret-Pässword"
RESOURCE = "fingress-test"
FULL_JID = f"{USERNAME}@{DOMAIN}/{RESOURCE}"
STREAMS = "http://etherx.jabber.org/streams"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

HEADER = (
    f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='{STREAMS}'"
    f" from='{DOMAIN}' id='s1' version='1.0' xml:lang='en'>"
)
PLAIN_FEATURES = (
    f"<stream:features><mechanisms xmlns='{SASL}'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
)
SUCCESS = f"<success xmlns='{SASL}'/>"
BIND_FEATURES = (
    "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
    "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>"
)
BIND_RESULT = (
    "<iq type='result' id='fx1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    f"<jid>{FULL_JID}</jid></bind></iq>"
)
SESSION_RESULT = "<iq type='result' id='fx2'/>"
# The server's two turns: it waits for the client's new stream header after <success/> (RFC 6120 §6.4.6),
# so what follows a stream restart never arrives in the same read as what precedes it.
BEFORE_RESTART = HEADER + PLAIN_FEATURES + SUCCESS
AFTER_RESTART = HEADER + BIND_FEATURES + BIND_RESULT + SESSION_RESULT
LOGIN = (BEFORE_RESTART, AFTER_RESTART)

# The same login as RFC 7395 messages (every stanza its own document, namespaces declared in each).
WS_OPEN = f'<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" from="{DOMAIN}" id="s1" version="1.0"/>'
WS_LOGIN = [
    WS_OPEN,
    PLAIN_FEATURES.replace("<stream:features>", f"<stream:features xmlns:stream='{STREAMS}'>"),
    SUCCESS,
    WS_OPEN,
    BIND_FEATURES.replace("<stream:features>", f"<stream:features xmlns:stream='{STREAMS}'>"),
    BIND_RESULT.replace("<iq ", "<iq xmlns='jabber:client' "),
    SESSION_RESULT.replace("<iq ", "<iq xmlns='jabber:client' "),
]


def account(**changes: str) -> XmppAccount:
    values = {"username": USERNAME, "domain": DOMAIN, "password": PASSWORD, "resource": RESOURCE, **changes}
    return XmppAccount(**values)


def options(**changes: float) -> SessionOptions:
    return SessionOptions(**changes)  # type: ignore[arg-type]


def stream_session(*, opts: SessionOptions | None = None, nonce: str = "client-nonce") -> ClientSession:
    opts = opts or SessionOptions()
    framing = StreamFraming(max_stanza_bytes=opts.max_stanza_bytes, max_depth=opts.max_depth)
    session = ClientSession(account=account(), framing=framing, options=opts, nonce_factory=lambda: nonce)
    session.start(0.0)
    return session


def websocket_session(*, opts: SessionOptions | None = None) -> ClientSession:
    opts = opts or SessionOptions()
    framing = WebSocketFraming(max_stanza_bytes=opts.max_stanza_bytes, max_depth=opts.max_depth)
    session = ClientSession(account=account(), framing=framing, options=opts)
    session.start(0.0)
    return session


def log_in(session: ClientSession, now: float = 1.0) -> None:
    """Feed the server's side of a PLAIN login, turn by turn."""
    for turn in LOGIN:
        session.receive_data(turn.encode(), now)


def plain_initial_response(username: str = USERNAME, password: str = PASSWORD) -> str:
    return base64.b64encode(f"\0{username}\0{password}".encode()).decode()


def capture_names() -> list[str]:
    return [path.name for path in CAPTURE_FILES]


def capture_stanza(name: str) -> str:
    """A capture as the server sends it: without the leading comment (comments are restricted XML)."""
    text = (CAPTURES / name).read_text(encoding="utf-8")
    return re.sub(r"^\s*<!--.*?-->\s*", "", text, flags=re.DOTALL)


def capture_notification_text(name: str) -> str:
    """The notification's text as an XML parser must deliver it, derived without one: the raw characters
    between the tags with the five predefined entities resolved."""
    raw = (CAPTURES / name).read_text(encoding="utf-8")
    match = re.search(r"<notification[^>]*>(.*?)</notification>", raw, flags=re.DOTALL)
    assert match is not None
    return html.unescape(match.group(1))
