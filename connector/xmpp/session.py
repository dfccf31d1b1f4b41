"""The client session state machine (sans-I/O): bytes or frames in, events and output out.

Drive it like this::

    session = ClientSession(account=account, framing=WebSocketFraming(...), options=options)
    session.start(now)                       # queues the stream header
    send(session.data_to_send())
    ... session.receive_data(data, now)      # for every read
    ... session.tick(now)                    # whenever now >= session.wake_at()
    for event in session.events_received(): ...
    send(session.data_to_send())
    ... session.connection_lost(now)         # when the transport ends

The session never reads a clock and never sleeps: every call takes ``now`` (seconds, any monotonic
origin) and :meth:`ClientSession.wake_at` says when it next needs :meth:`tick`. It logs in (SASL PLAIN or
SCRAM-SHA-1), restarts the stream, binds a resource, establishes the legacy session if the server asks,
sends initial presence, then keeps the link alive with XEP-0199 pings, answers the server's pings,
correlates iq answers, and turns pubsub event messages and presences into events. Whatever goes wrong ends
in exactly one :class:`SessionFailed`; a proper close in :class:`SessionClosed`.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from connector.xmpp import errors, stanzas
from connector.xmpp import namespaces as ns
from connector.xmpp.errors import XmppError
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
from connector.xmpp.framing import Framing, send_stream_error
from connector.xmpp.namespaces import qname, split
from connector.xmpp.sasl import SaslFailure, SaslMechanism, choose_mechanism
from connector.xmpp.settings import SessionOptions, XmppAccount
from connector.xmpp.xmlstream import StanzaReceived, StreamClosed, StreamEvent, StreamFailed, StreamOpened


class Phase(enum.Enum):
    """Where the session stands."""

    IDLE = "idle"
    OPENING = "opening"  # stream header sent, waiting for the server's
    FEATURES = "features"  # waiting for <stream:features>
    AUTHENTICATING = "authenticating"
    BINDING = "binding"
    STARTING_SESSION = "starting_session"
    ESTABLISHED = "established"
    CLOSING = "closing"  # our end of the stream sent, waiting for the server's
    ENDED = "ended"


@dataclass(slots=True)
class _PendingIq:
    deadline: float
    sent_at: float
    to: str
    keepalive: bool = False


def _new_nonce() -> str:
    return secrets.token_urlsafe(24)


class ClientSession:
    """One XMPP client session over one connection. Not reusable: reconnecting means a new session."""

    def __init__(
        self,
        *,
        account: XmppAccount,
        framing: Framing,
        options: SessionOptions | None = None,
        nonce_factory: Callable[[], str] = _new_nonce,
    ) -> None:
        self._account = account
        self._framing = framing
        self._options = options or SessionOptions()
        self._nonce_factory = nonce_factory
        self._phase = Phase.IDLE
        self._authenticated = False
        self._mechanism: SaslMechanism | None = None
        self._session_required = False
        self._login_iq_id = ""  # the bind or session request waiting for its answer
        self._jid = ""
        self._events: list[XmppEvent] = []
        self._pending: dict[str, _PendingIq] = {}
        self._iq_counter = 0
        self._handshake_deadline: float | None = None
        self._close_deadline: float | None = None
        self._next_ping_at: float | None = None
        self._keepalive_id: str | None = None

    def __repr__(self) -> str:
        return f"ClientSession(account={self._account!r}, phase={self._phase.value})"

    # ----------------------------------------------------------------- state

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def established(self) -> bool:
        return self._phase is Phase.ESTABLISHED

    @property
    def finished(self) -> bool:
        """The session has ended: the transport should flush :meth:`data_to_send` and close."""
        return self._phase is Phase.ENDED

    @property
    def jid(self) -> str:
        """The full JID bound by the server (empty until established)."""
        return self._jid

    @property
    def pubsub_service(self) -> str:
        return self._options.pubsub_service or f"pubsub.{self._account.domain}"

    def wake_at(self) -> float | None:
        """When :meth:`tick` must be called next (``None``: not before new input)."""
        candidates = [
            self._handshake_deadline,
            self._close_deadline,
            self._next_ping_at if self._keepalive_id is None else None,
            *(pending.deadline for pending in self._pending.values()),
        ]
        deadlines = [deadline for deadline in candidates if deadline is not None]
        return min(deadlines) if deadlines and not self.finished else None

    def events_received(self) -> list[XmppEvent]:
        """Events since the last call, in order, emptying the list."""
        # A copy, the session's own list kept: a fresh list left in its place would be young memory the
        # garbage collector rescans for as long as the session stays idle (thousands of sessions).
        events = self._events.copy()
        self._events.clear()
        return events

    def data_to_send(self) -> list[str]:
        """Output since the last call: stream text pieces (TLS) or messages (WebSocket)."""
        return self._framing.data_to_send()

    # ----------------------------------------------------------------- inputs

    def start(self, now: float) -> None:
        """Open the stream. Call once, right after the transport connected."""
        if self._phase is not Phase.IDLE:
            raise RuntimeError("session already started")
        self._handshake_deadline = now + self._options.establish_timeout_s
        self._phase = Phase.OPENING
        self._framing.open(self._account.domain)

    def receive_data(self, data: bytes | str, now: float) -> None:
        """Bytes (TLS) or one message (WebSocket) from the server."""
        if self._phase in (Phase.IDLE, Phase.ENDED):
            return
        for event in self._framing.receive(data):
            self._stream_event(event, now)
            if self.finished:
                return

    def tick(self, now: float) -> None:
        """Handle every deadline that has passed by ``now``."""
        if self.finished:
            return
        if self._handshake_deadline is not None and now >= self._handshake_deadline:
            self._end(SessionFailed(errors.TIMEOUT, "connection-timeout", "session not established in time"))
            return
        if self._close_deadline is not None and now >= self._close_deadline:
            self._end(SessionClosed(by_peer=False))  # the server did not close its end; we are done anyway
            return
        for iq_id, pending in list(self._pending.items()):
            if now < pending.deadline:
                continue
            if pending.keepalive:
                text = f"no answer to a ping within {self._options.ping_timeout_s:g} s"
                self._end(SessionFailed(errors.TIMEOUT, "connection-timeout", text))
                return
            del self._pending[iq_id]
            self._events.append(IqError(iq_id, "remote-server-timeout", "no answer in time", timed_out=True))
        if (
            self._phase is Phase.ESTABLISHED
            and self._keepalive_id is None
            and self._next_ping_at is not None
            and now >= self._next_ping_at
        ):
            domain = self._account.domain
            self._keepalive_id = self._send_iq("get", stanzas.ping_request(), now, to=domain)
            self._pending[self._keepalive_id] = _PendingIq(
                now + self._options.ping_timeout_s, now, domain, keepalive=True
            )

    def connection_lost(self, now: float, *, failure: SessionFailed | None = None) -> None:
        """The transport ended: EOF, or an error the transport describes as ``failure``."""
        if self.finished:
            return
        if self._phase is Phase.CLOSING:
            self._end(SessionClosed(by_peer=False))
        else:
            text = "the connection ended without a stream close"
            self._end(failure or SessionFailed(errors.CONNECTION_LOST, "", text))

    # ----------------------------------------------------------------- requests

    def subscribe(self, node: str, now: float, *, service: str = "") -> str:
        """Subscribe the bare JID to ``node`` (XEP-0060 §6.1); returns the iq id the answer will carry."""
        payload = stanzas.pubsub_request("subscribe", node, self._account.bare_jid)
        return self.send_iq("set", payload, now, to=service or self.pubsub_service)

    def unsubscribe(self, node: str, now: float, *, service: str = "") -> str:
        """Unsubscribe the bare JID from ``node`` (XEP-0060 §6.2); returns the iq id."""
        payload = stanzas.pubsub_request("unsubscribe", node, self._account.bare_jid)
        return self.send_iq("set", payload, now, to=service or self.pubsub_service)

    def ping(self, now: float, *, to: str = "") -> str:
        """Send a XEP-0199 ping (to the server by default); the answer is an :class:`IqResult`."""
        return self.send_iq("get", stanzas.ping_request(), now, to=to or self._account.domain)

    def send_iq(self, iq_type: str, payload: Element, now: float, *, to: str = "") -> str:
        """Send an iq ``get`` or ``set``; its answer arrives as :class:`IqResult` or :class:`IqError`."""
        if self._phase is not Phase.ESTABLISHED:
            raise XmppError(errors.NOT_ESTABLISHED, f"cannot send a request while {self._phase.value}")
        if iq_type not in ("get", "set"):
            raise ValueError("requests are iq get or set")
        iq_id = self._send_iq(iq_type, payload, now, to=to)
        self._pending[iq_id] = _PendingIq(now + self._options.iq_timeout_s, now, to)
        return iq_id

    def close(self, now: float) -> None:
        """End the session properly: unavailable presence (when established), then the end of the stream."""
        if self._phase in (Phase.CLOSING, Phase.ENDED):
            return
        if self._phase is Phase.IDLE:
            self._end(SessionClosed(by_peer=False))
            return
        if self._phase is Phase.ESTABLISHED:
            self._framing.send(stanzas.presence("unavailable"))
        self._framing.close()
        self._phase = Phase.CLOSING
        self._handshake_deadline = None
        self._next_ping_at = None
        self._pending.clear()
        self._keepalive_id = None
        self._close_deadline = now + self._options.close_timeout_s

    # ----------------------------------------------------------------- internals

    def _next_id(self) -> str:
        self._iq_counter += 1
        return f"fx{self._iq_counter}"

    def _send_iq(self, iq_type: str, payload: Element, now: float, *, to: str = "") -> str:
        iq_id = self._next_id()
        self._framing.send(stanzas.iq(iq_type, iq_id, payload, to=to or None))
        return iq_id

    def _end(self, event: SessionFailed | SessionClosed) -> None:
        self._phase = Phase.ENDED
        self._handshake_deadline = self._close_deadline = self._next_ping_at = None
        self._pending.clear()
        self._keepalive_id = None
        self._events.append(event)

    def _fail_stream(self, condition: str, text: str) -> None:
        """The server broke the rules: tell it with a stream error and end."""
        send_stream_error(self._framing, condition)
        self._end(SessionFailed(errors.STREAM_ERROR, condition, text))

    def _give_up(self, event: SessionFailed) -> None:
        """We cannot go on although the server did nothing wrong: close the stream politely and end."""
        self._framing.close()
        self._end(event)

    def _stream_event(self, event: StreamEvent, now: float) -> None:
        if isinstance(event, StreamFailed):
            self._fail_stream(event.condition, event.text)
        elif isinstance(event, StreamClosed):
            self._stream_closed()
        elif isinstance(event, StreamOpened):
            self._stream_opened(event)
        elif self._phase is not Phase.CLOSING:
            self._stanza(event, now)

    def _stream_closed(self) -> None:
        if self._phase is Phase.CLOSING:
            self._end(SessionClosed(by_peer=False))
        elif self._phase is Phase.ESTABLISHED:
            self._framing.close()
            self._end(SessionClosed(by_peer=True))
        else:
            self._framing.close()
            self._end(SessionFailed(errors.CONNECTION_LOST, "", "the server closed the stream during login"))

    def _stream_opened(self, event: StreamOpened) -> None:
        if self._phase is not Phase.OPENING:
            self._fail_stream("invalid-xml", "stream header out of order")
            return
        version = event.attributes.get("version", "")
        if version.partition(".")[0] != "1":
            self._fail_stream("unsupported-version", "the server does not speak XMPP 1.0")
            return
        self._phase = Phase.FEATURES

    def _stanza(self, event: StanzaReceived, now: float) -> None:
        element = event.element
        if element.tag == qname(ns.STREAMS, "error"):
            condition, text = stanzas.condition_and_text(element, ns.STREAM_ERRORS)
            self._framing.close()
            self._end(SessionFailed(errors.STREAM_ERROR, condition, text))
        elif self._phase is Phase.FEATURES:
            self._features(element, now)
        elif self._phase is Phase.AUTHENTICATING:
            self._sasl(element)
        elif self._phase in (Phase.BINDING, Phase.STARTING_SESSION):
            self._login_iq(element, now)
        elif self._phase is Phase.ESTABLISHED:
            self._established_stanza(element, now)
        else:
            self._fail_stream("not-authorized", "stanza before the stream was opened")

    def _features(self, element: Element, now: float) -> None:
        if element.tag != qname(ns.STREAMS, "features"):
            self._fail_stream(
                "not-authorized" if not self._authenticated else "unsupported-stanza-type",
                "expected stream features",
            )
            return
        if not self._authenticated:
            try:
                self._mechanism = choose_mechanism(
                    stanzas.mechanisms(element),
                    preference=self._options.sasl_mechanisms,
                    username=self._account.username,
                    password=self._account.password,
                    nonce_factory=self._nonce_factory,
                )
            except SaslFailure as failure:
                self._give_up(SessionFailed(errors.AUTH_FAILED, failure.condition, failure.text))
                return
            self._framing.send(stanzas.sasl_auth(self._mechanism.name, self._mechanism.initial_response()))
            self._phase = Phase.AUTHENTICATING
            return
        if element.find(qname(ns.BIND, "bind")) is None:
            self._give_up(SessionFailed(errors.REFUSED, "", "the server offers no resource binding"))
            return
        self._session_required = stanzas.session_required(element)
        self._phase = Phase.BINDING
        self._login_iq_id = self._send_iq("set", stanzas.bind_request(self._account.resource), now)

    def _sasl(self, element: Element) -> None:
        namespace, local = split(element.tag)
        mechanism = self._mechanism
        if namespace != ns.SASL or mechanism is None:
            self._fail_stream("not-authorized", "expected a SASL answer")
            return
        if local == "failure":
            condition, text = stanzas.sasl_failure(element)
            self._give_up(SessionFailed(errors.AUTH_FAILED, condition, text))
            return
        data = stanzas.decode_sasl_data(element)
        if data is None:
            self._fail_stream("bad-format", "SASL data is not base64")
            return
        try:
            if local == "challenge":
                self._framing.send(stanzas.sasl_response(mechanism.respond(data)))
                return
            if local != "success":
                self._fail_stream("not-authorized", "expected a SASL answer")
                return
            mechanism.verify_success(data)
        except SaslFailure as failure:
            # Our own abort (RFC 6120 §6.4.4) is pointless on a server we no longer trust: just leave.
            self._give_up(SessionFailed(errors.AUTH_FAILED, failure.condition, failure.text))
            return
        self._authenticated = True
        self._mechanism = None  # drop the password-derived state
        self._phase = Phase.OPENING
        self._framing.restart(self._account.domain)

    def _login_iq(self, element: Element, now: float) -> None:
        if (
            not ns.is_stanza(element.tag, "iq")
            or element.get("type") not in ("result", "error")
            or element.get("id") != self._login_iq_id
        ):
            return  # nothing else matters before the session exists
        if element.get("type") == "error":
            condition, text = stanzas.iq_error(element)
            step = "resource binding" if self._phase is Phase.BINDING else "session establishment"
            self._give_up(SessionFailed(errors.REFUSED, condition, text or f"{step} refused"))
            return
        if self._phase is Phase.BINDING:
            bound = element.find(f"{qname(ns.BIND, 'bind')}/{qname(ns.BIND, 'jid')}")
            jid = (bound.text or "").strip() if bound is not None else ""
            self._jid = jid[: stanzas.MAX_TEXT_CHARS] or f"{self._account.bare_jid}/{self._account.resource}"
            if self._session_required:
                self._phase = Phase.STARTING_SESSION
                self._login_iq_id = self._send_iq("set", stanzas.session_request(), now)
                return
        self._establish(now)

    def _establish(self, now: float) -> None:
        self._phase = Phase.ESTABLISHED
        self._handshake_deadline = None
        self._next_ping_at = now + self._options.ping_interval_s
        self._framing.send(stanzas.presence())  # Finesse and Prosody deliver events only to available JIDs
        self._events.append(SessionEstablished(self._jid))

    def _established_stanza(self, element: Element, now: float) -> None:
        if ns.is_stanza(element.tag, "iq"):
            self._iq(element, now)
        elif ns.is_stanza(element.tag, "message"):
            service = element.get("from", "")
            if service.lower() != self.pubsub_service.lower():
                return  # events come from the pubsub service only: another user cannot forge an Update
            for node, item_id, text in stanzas.pubsub_items(element):
                self._events.append(PubsubItemReceived(node, item_id, text, service))
        elif ns.is_stanza(element.tag, "presence"):
            self._events.append(PresenceReceived(element.get("from", ""), element.get("type", "available")))
        else:
            self._fail_stream("unsupported-stanza-type", "not a jabber:client stanza")

    def _iq(self, element: Element, now: float) -> None:
        iq_type = element.get("type")
        iq_id = element.get("id", "")
        if iq_type in ("get", "set"):
            self._answer_request(element, iq_type, iq_id)
            return
        if iq_type not in ("result", "error"):
            return
        pending = self._pending.get(iq_id)
        if pending is None or not self._answers(pending, element.get("from", "")):
            return  # late answer to a request that timed out, or not ours (RFC 6120 §8.1.2.1)
        del self._pending[iq_id]
        if pending.keepalive:
            self._keepalive_id = None
            self._next_ping_at = pending.sent_at + self._options.ping_interval_s
            return  # any answer, even an error, proves the link alive
        if iq_type == "result":
            self._events.append(IqResult(iq_id, element))
        else:
            condition, text = stanzas.iq_error(element)
            self._events.append(IqError(iq_id, condition, text))

    def _answers(self, pending: _PendingIq, sender: str) -> bool:
        """Whether ``sender`` may answer a request sent to ``pending.to``: that entity itself, or our
        server or account when the request went to either of them (which may answer without a 'from')."""
        own = {"", self._account.domain.lower(), self._account.bare_jid.lower(), self._jid.lower()}
        addressee = pending.to.lower()
        return sender.lower() == addressee or (addressee in own and sender.lower() in own)

    def _answer_request(self, element: Element, iq_type: str, iq_id: str) -> None:
        to = element.get("from")
        payload = next(iter(element), None)
        if iq_type == "get" and payload is not None and payload.tag == qname(ns.PING, "ping"):
            self._framing.send(stanzas.iq("result", iq_id, to=to))
            return
        # RFC 6120 §8.2.3: every get/set gets an answer; we offer nothing but ping.
        answer = stanzas.iq("error", iq_id, to=to)
        answer.append(stanzas.stanza_error("service-unavailable"))
        self._framing.send(answer)
