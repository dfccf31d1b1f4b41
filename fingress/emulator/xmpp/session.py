"""One emulated Finesse notification session: the XMPP server protocol without I/O.

A :class:`ServerSession` takes what a framing parsed (stream opened, a stanza, stream closed, a parse
failure, the connection lost) and answers with :data:`Output` commands: open the stream, send an
element, close the stream (with a stream error or without). It never reads a socket or a clock; it
calls ``wake`` whenever there is output for the transport to fetch with :meth:`ServerSession.take_outputs`.

What it speaks, as Finesse's notification service does: SASL PLAIN only (checked with
``ClusterPort.authenticate``), stream restart, resource binding, the legacy ``session`` iq, presence,
XEP-0199 ping, XEP-0060 subscribe/unsubscribe for the user's own nodes, and pubsub event delivery.

Emulator choices where Finesse leaves room (documented for the connector's sake):

* The resource ``desktop`` is reserved by Finesse for its own desktop; the emulator accepts it, so that
  the connector's own guard is what decides. Binding a resource the agent already uses on this side
  closes the older session with ``conflict`` (what Openfire and Prosody do by default).
* Events go only to sessions that sent available presence (pubsub events are addressed to the bare
  JID, which an XMPP server delivers to available resources).
* Subscribing a node other than the user's own (``/finesse/api/User/{id}`` and below) or
  ``/finesse/api/SystemInfo`` is refused with ``not-authorized``: the emulator publishes no team nodes,
  so accepting would promise events that never come.
* Unknown iqs get ``service-unavailable``; messages from the client are ignored.
* The ``finesse`` user's presence tells the client whether the Finesse webapp on this side is up. Its
  exact shape here (Finesse's own resource name is not publicly documented)::

      <presence xmlns="jabber:client" from="finesse@<domain>/finesse" to="<agent>@<domain>/<resource>"/>
      <presence xmlns="jabber:client" from="finesse@<domain>/finesse" to="…" type="unavailable"/>

  The available one follows the session's initial presence while the webapp is up; both are sent to
  every available session of the side when the webapp goes down or comes back
  (:meth:`ServerSession.receive_presence`).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import structlog

from fingress.emulator.hub import ClusterPort, Hub, Side, finesse_user_jid
from fingress.emulator.xmpp import namespaces as ns
from fingress.emulator.xmpp import stanzas
from fingress.emulator.xmpp.namespaces import qname
from fingress.emulator.xmpp.sasl import SaslRefused, decode_plain
from fingress.emulator.xmpp.settings import XmppServerSettings

SYSTEM_INFO_NODE = "/finesse/api/SystemInfo"
MAX_RESOURCE_BYTES = 1023


@dataclass(frozen=True, slots=True)
class OpenStream:
    """Send the stream header (``<stream:stream>`` or ``<open/>``) for a new or restarted stream."""

    stream_id: str
    domain: str


@dataclass(frozen=True, slots=True)
class SendElement:
    """Send one top-level element (a stanza, stream features, a SASL answer)."""

    element: Element


@dataclass(frozen=True, slots=True)
class SendNotification:
    """Send one pubsub event carrying a Finesse notification (see :func:`.stanzas.pubsub_event` for its
    shape). Kept as data rather than an element: the framing writes it from a template, which costs a
    fraction of building and serialising a tree, and every published change sends one."""

    sender: str
    recipient: str
    message_id: str
    node: str
    item_id: str
    notification_xml: str
    notification_namespace: str


@dataclass(frozen=True, slots=True)
class CloseStream:
    """Close the stream, after a stream error when ``condition`` is set. Nothing follows."""

    condition: str | None
    text: str = ""


Output = OpenStream | SendElement | SendNotification | CloseStream
# The outputs that count toward the queue bound (everything but the stream's own framing).
_STANZAS = (SendElement, SendNotification)


class _State(enum.Enum):
    AWAIT_OPEN = "await-open"
    AUTHENTICATING = "authenticating"
    AWAIT_RESTART = "await-restart"
    BINDING = "binding"
    BOUND = "bound"
    CLOSED = "closed"


def _new_id() -> str:
    return secrets.token_urlsafe(9)


def _nothing() -> None:
    return None


class ServerSession:
    """The server side of one XMPP stream for ``side``; implements the hub's ``XmppSession``."""

    def __init__(
        self,
        *,
        side: Side,
        hub: Hub,
        cluster: ClusterPort,
        settings: XmppServerSettings,
        wake: Callable[[], None] = _nothing,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self._side: Side = side
        self._hub = hub
        self._cluster = cluster
        self._settings = settings
        self._wake = wake
        self._new_id = new_id
        self._domain = cluster.xmpp_domain(side)
        self._state = _State.AWAIT_OPEN
        self._outputs: list[Output] = []
        self._queued_stanzas = 0
        self._stream_header_sent = False
        self._restart_pending = False
        self._failed_auths = 0
        self._agent_id: str | None = None
        self._resource: str | None = None
        self._available = False
        self._unsubscribed: set[str] = set()
        self._pubsub_jid = f"pubsub.{self._domain}"
        # Message ids: unique within the stream is what XMPP asks; a counter after one random prefix
        # costs nothing per event (a random id per event showed in profiles).
        self._message_id_prefix = new_id()
        self._message_count = 0
        self._log = structlog.get_logger("fingress.emulator.xmpp").bind(side=side)

    def __repr__(self) -> str:
        return f"<ServerSession side={self._side} jid={self.jid or '-'} state={self._state.value}>"

    # -- what the transports and tests look at -------------------------------------------------

    @property
    def side(self) -> Side:
        return self._side

    @property
    def agent_id(self) -> str | None:
        """The authenticated agent, once SASL succeeded."""
        return self._agent_id

    @property
    def resource(self) -> str | None:
        return self._resource

    @property
    def bare_jid(self) -> str:
        return f"{self._agent_id}@{self._domain}" if self._agent_id is not None else ""

    @property
    def jid(self) -> str:
        """The full JID once bound, else ``""``."""
        return f"{self.bare_jid}/{self._resource}" if self._resource is not None else ""

    @property
    def available(self) -> bool:
        return self._available

    @property
    def finished(self) -> bool:
        """No more input is processed and, after the outputs already queued, no more output comes."""
        return self._state is _State.CLOSED

    def take_outputs(self) -> list[Output]:
        """Everything to send since the last call, in order."""
        outputs, self._outputs = self._outputs, []
        self._queued_stanzas = 0
        return outputs

    def take_restart(self) -> bool:
        """Whether SASL just succeeded, so a byte-stream parser must start a new document now."""
        restart, self._restart_pending = self._restart_pending, False
        return restart

    # -- input from the framing ----------------------------------------------------------------

    def stream_opened(self, attributes: dict[str, str]) -> None:
        """The client opened (or, after SASL, reopened) the stream with these header attributes."""
        if self.finished:
            return
        if self._state not in (_State.AWAIT_OPEN, _State.AWAIT_RESTART):
            self._terminate("bad-format", "the stream is already open")
            return
        self._emit(OpenStream(stream_id=self._new_id(), domain=self._domain))
        self._stream_header_sent = True
        addressed_to = attributes.get("to")
        if attributes.get("version") != "1.0":
            self._terminate("unsupported-version", "only XMPP 1.0 is spoken here")
        elif addressed_to is not None and addressed_to.lower() != self._domain.lower():
            self._terminate("host-unknown", "this server does not serve that domain")
        elif not self._cluster.in_service(self._side):
            self._terminate("system-shutdown", "the server is out of service")
        elif self._state is _State.AWAIT_OPEN:
            self._state = _State.AUTHENTICATING
            self._emit(SendElement(stanzas.features_before_auth()))
        else:
            self._state = _State.BINDING
            self._emit(SendElement(stanzas.features_after_auth()))

    def stanza_received(self, element: Element) -> None:
        """A complete top-level element of the stream."""
        state = self._state
        if state is _State.CLOSED:
            return
        if state in (_State.AWAIT_OPEN, _State.AWAIT_RESTART):
            self._terminate("bad-format", "the stream is not open")
        elif state is _State.AUTHENTICATING:
            if element.tag.startswith("{" + ns.SASL + "}"):
                self._handle_sasl(element)
            else:
                self._terminate("not-authorized", "authenticate first")
        elif element.tag == qname(ns.CLIENT, "iq"):
            self._handle_iq(element)
        elif element.tag in (qname(ns.CLIENT, "presence"), qname(ns.CLIENT, "message")):
            if state is _State.BINDING:
                self._terminate("not-authorized", "bind a resource first")
            elif element.tag == qname(ns.CLIENT, "presence"):
                self._handle_presence(element)
            # Messages from the client are not part of what Finesse does with this stream: ignored.
        else:
            self._terminate("unsupported-stanza-type", "expected a jabber:client stanza")

    def stream_closed(self) -> None:
        """The client closed the stream; answer with our own close."""
        if self.finished:
            return
        self._leave()
        self._finish(CloseStream(condition=None))

    def stream_failed(self, condition: str, text: str = "") -> None:
        """The client's input broke the rules (``condition`` from the parser)."""
        self._terminate(condition, text)

    def connection_lost(self) -> None:
        """The transport is gone; nothing more can be sent."""
        if self.finished:
            return
        self._leave()
        self._state = _State.CLOSED
        self._log.info("xmpp_connection_lost", agent_id=self._agent_id)
        self._wake()

    def idle_timeout_expired(self) -> None:
        """The client sent nothing for the configured idle time."""
        self._terminate("connection-timeout", "no traffic from the client")

    # -- the hub's XmppSession -----------------------------------------------------------------

    def deliver(self, node: str, item_id: str, notification_xml: str) -> None:
        """Queue a pubsub event (a client too slow to take its stanzas is closed, see :meth:`_emit`)."""
        if self._state is not _State.BOUND or not self._available or node in self._unsubscribed:
            return
        self._message_count += 1
        self._emit(
            SendNotification(
                sender=self._pubsub_jid,
                recipient=self.bare_jid,
                message_id=f"{self._message_id_prefix}-{self._message_count}",
                node=node,
                item_id=item_id,
                notification_xml=notification_xml,
                notification_namespace=self._settings.notification_namespace,
            )
        )

    def receive_presence(self, from_jid: str, available: bool) -> None:
        """Send ``from_jid``'s presence (the hub's ``PresenceReceiver``), like pubsub events only to a
        session that announced its own presence."""
        if self._state is not _State.BOUND or not self._available:
            return
        self._emit(SendElement(stanzas.presence(sender=from_jid, recipient=self.jid, available=available)))

    def close(self, condition: str, text: str = "") -> None:
        """End the session with stream error ``condition`` (after what is already queued)."""
        self._terminate(condition, text)

    # -- SASL ------------------------------------------------------------------------------------

    def _handle_sasl(self, element: Element) -> None:
        local = element.tag.rpartition("}")[2]
        if local == "abort":
            self._refuse_auth("aborted")
            return
        if local != "auth":
            self._refuse_auth("malformed-request")
            return
        if element.get("mechanism") != "PLAIN":
            self._refuse_auth("invalid-mechanism")
            return
        try:
            credentials = decode_plain(element.text or "", domain=self._domain)
        except SaslRefused as refused:
            self._refuse_auth(refused.condition)
            return
        agent_id = credentials.agent_id
        if not self._cluster.authenticate(self._side, agent_id, credentials.password):
            self._log.info("xmpp_auth_failed", agent_id=agent_id)
            self._refuse_auth("not-authorized")
            return
        self._agent_id = agent_id
        self._state = _State.AWAIT_RESTART
        self._restart_pending = True
        self._emit(SendElement(stanzas.sasl_success()))

    def _refuse_auth(self, condition: str) -> None:
        self._failed_auths += 1
        self._emit(SendElement(stanzas.sasl_failure(condition)))
        if self._failed_auths >= self._settings.max_auth_attempts:
            self._terminate("policy-violation", "too many failed authentication attempts")

    # -- iq --------------------------------------------------------------------------------------

    def _handle_iq(self, iq: Element) -> None:
        iq_type = iq.get("type")
        if iq_type in ("result", "error"):
            return  # answers to nothing we asked: nothing to do
        children = list(iq)
        if iq_type not in ("get", "set") or len(children) != 1:
            self._answer_error(iq, "modify", "bad-request")
            return
        payload = children[0]
        if payload.tag == qname(ns.BIND, "bind") and iq_type == "set":
            self._bind(iq, payload)
        elif payload.tag == qname(ns.SESSION, "session") and iq_type == "set":
            if self._state is _State.BOUND:
                self._answer(iq)
            else:
                self._answer_error(iq, "cancel", "not-allowed")
        elif self._state is not _State.BOUND:
            self._terminate("not-authorized", "bind a resource first")
        elif payload.tag == qname(ns.PING, "ping") and iq_type == "get":
            self._answer(iq)
        elif payload.tag == qname(ns.PUBSUB, "pubsub") and iq_type == "set":
            self._handle_pubsub(iq, payload)
        else:
            self._answer_error(iq, "cancel", "service-unavailable")

    def _answer(self, iq: Element, payload: Element | None = None) -> None:
        self._emit(
            SendElement(
                stanzas.iq_result(
                    request=iq, sender=iq.get("to") or self._domain, recipient=self.jid, payload=payload
                )
            )
        )

    def _answer_error(
        self, iq: Element, error_type: str, condition: str, application_condition: Element | None = None
    ) -> None:
        self._emit(
            SendElement(
                stanzas.iq_error(
                    request=iq,
                    sender=iq.get("to") or self._domain,
                    recipient=self.jid,
                    error_type=error_type,
                    condition=condition,
                    application_condition=application_condition,
                )
            )
        )

    def _bind(self, iq: Element, bind: Element) -> None:
        if self._state is _State.BOUND:
            self._answer_error(iq, "cancel", "not-allowed")
            return
        requested = bind.find(qname(ns.BIND, "resource"))
        resource = f"fingress-{self._new_id()}" if requested is None else (requested.text or "").strip()
        if not _is_valid_resource(resource):
            self._answer_error(iq, "modify", "bad-request")
            return
        agent_id = self._agent_id
        assert agent_id is not None  # BINDING is reached only through SASL success
        for other in self._hub.sessions(self._side, agent_id):
            if isinstance(other, ServerSession) and other is not self and other.resource == resource:
                other.close("conflict", "replaced by a new connection with the same resource")
        self._resource = resource
        self._state = _State.BOUND
        self._hub.attach(self._side, agent_id, self)
        self._log.info("xmpp_session_bound", agent_id=agent_id, resource=resource)
        self._answer(iq, stanzas.bind_result(self.jid))

    # -- pubsub ----------------------------------------------------------------------------------

    def _handle_pubsub(self, iq: Element, pubsub: Element) -> None:
        actions = list(pubsub)
        if len(actions) != 1 or actions[0].tag not in (
            qname(ns.PUBSUB, "subscribe"),
            qname(ns.PUBSUB, "unsubscribe"),
        ):
            self._answer_error(iq, "cancel", "service-unavailable")
            return
        action = actions[0]
        node = action.get("node", "")
        subscriber = action.get("jid", "")
        if not node:
            self._answer_error(iq, "modify", "bad-request", stanzas.pubsub_error_condition("nodeid-required"))
        elif subscriber.partition("/")[0].lower() != self.bare_jid.lower():
            self._answer_error(iq, "modify", "bad-request", stanzas.pubsub_error_condition("invalid-jid"))
        elif not self._is_own_node(node):
            self._answer_error(iq, "auth", "not-authorized")
        elif action.tag == qname(ns.PUBSUB, "subscribe"):
            self._unsubscribed.discard(node)
            confirmation = stanzas.subscription(node=node, jid=subscriber, subscription_id=self._new_id())
            self._answer(iq, confirmation)
        else:
            self._unsubscribed.add(node)
            self._answer(iq)

    def _is_own_node(self, node: str) -> bool:
        user_node = f"/finesse/api/User/{self._agent_id}"
        return node in (SYSTEM_INFO_NODE, user_node) or node.startswith(user_node + "/")

    # -- presence --------------------------------------------------------------------------------

    def _handle_presence(self, presence: Element) -> None:
        if presence.get("to"):
            return  # directed presence (to a contact) does not change the agent's availability
        presence_type = presence.get("type")
        if not presence_type:
            was_available = self._available
            self._set_available(True)
            if not was_available and self._cluster.webapp_up(self._side):
                # As a roster contact would: the client learns the finesse user's presence at once.
                self.receive_presence(finesse_user_jid(self._domain), True)
        elif presence_type == "unavailable":
            self._set_available(False)
        # subscribe/probe and friends: no roster here, nothing to do

    def _set_available(self, available: bool) -> None:
        if available == self._available or self._agent_id is None:
            return
        self._available = available
        # The cluster hears about the agent on this side as a whole: only the first session to become
        # available and the last one to go away change anything.
        if not self._others_available(self._agent_id):
            self._cluster.presence_changed(self._side, self._agent_id, available)

    def _others_available(self, agent_id: str) -> bool:
        return any(
            isinstance(other, ServerSession) and other is not self and other.available
            for other in self._hub.sessions(self._side, agent_id)
        )

    # -- ending ----------------------------------------------------------------------------------

    def _terminate(self, condition: str, text: str) -> None:
        if self.finished:
            return
        self._leave()
        if not self._stream_header_sent:
            # RFC 6120 §4.9.1.1: even a stream refused at once gets a header before its error.
            self._emit(OpenStream(stream_id=self._new_id(), domain=self._domain))
            self._stream_header_sent = True
        self._log.info("xmpp_session_closed", agent_id=self._agent_id, condition=condition)
        self._finish(CloseStream(condition=condition, text=text))

    def _finish(self, close: CloseStream) -> None:
        self._state = _State.CLOSED
        self._emit(close)

    def _leave(self) -> None:
        """Withdraw from the hub and the agent's presence (once)."""
        self._set_available(False)
        if self._state is _State.BOUND and self._agent_id is not None:
            self._hub.detach(self._side, self._agent_id, self)

    def _emit(self, output: Output) -> None:
        if isinstance(output, _STANZAS):
            if self._queued_stanzas >= self._settings.max_queued_notifications:
                self._overflow()
                return
            self._queued_stanzas += 1
        self._outputs.append(output)
        self._wake()

    def _overflow(self) -> None:
        # The client does not read (or floods us with requests it does not read the answers to): drop
        # what it will never get and end the stream; the rest of the server must not pay for it.
        self._outputs = [output for output in self._outputs if not isinstance(output, _STANZAS)]
        self._queued_stanzas = 0
        self._terminate("policy-violation", "too many stanzas waiting for the client")


def _is_valid_resource(resource: str) -> bool:
    # RFC 7622 resourcepart: 1..1023 bytes; reject control characters rather than run full PRECIS.
    return 0 < len(resource.encode("utf-8")) <= MAX_RESOURCE_BYTES and resource.isprintable()
