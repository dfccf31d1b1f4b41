"""The connector's XMPP client: a sans-I/O core and two thin asyncio transports.

Finesse publishes its notifications over XMPP (XEP-0060 pubsub). No maintained Python library speaks
XMPP over WebSocket (RFC 7395), Cisco's recommended transport, so the connector carries a small client
for the subset Finesse uses:

* :mod:`~connector.xmpp.session` — :class:`ClientSession`, the state machine. Bytes or WebSocket
  messages go in (``receive_data``), with timer ticks carrying ``now``; typed past-tense events
  (:mod:`~connector.xmpp.events`) and text to send come out, plus the time it next needs a tick. It never
  reads a clock, sleeps or touches a socket, so its tests need no event loop.
* :mod:`~connector.xmpp.framing` — RFC 6120 (``<stream:stream>`` over TLS) and RFC 7395 (``<open/>``
  and ``<close/>`` over WebSocket), both parsed by the hardened :mod:`~connector.xmpp.xmlstream`.
* :mod:`~connector.xmpp.sasl` — PLAIN, and SCRAM-SHA-1 (server signature verified).
* :mod:`~connector.xmpp.connection` — :class:`XmppConnection`, the async API: one asyncio task per
  connection pumps a session over a :mod:`~connector.xmpp.transport` link, either direct TLS or
  WebSocket (the ``websockets`` package's sans-I/O client protocol), both on
  :mod:`~connector.xmpp.tls_pipe`, a ``MemoryBIO`` TLS pipe that keeps a session at ~40–55 KiB
  (asyncio's own TLS transport reserves 256 KiB per connection).

Errors are :class:`~connector.xmpp.errors.XmppError` (a :class:`~edge.tunnel.errors.FingressError`).
The password never appears in a ``repr``, an event or a log line.
"""

from connector.xmpp.connection import EventHandler, XmppConnection
from connector.xmpp.endpoint import XmppEndpoint, client_ssl_context
from connector.xmpp.errors import XmppError
from connector.xmpp.events import (
    IqError,
    IqResult,
    PresenceReceived,
    PubsubItemReceived,
    SessionClosed,
    SessionEstablished,
    SessionFailed,
    TerminalEvent,
    XmppEvent,
)
from connector.xmpp.session import ClientSession
from connector.xmpp.settings import SessionOptions, XmppAccount

__all__ = [
    "ClientSession",
    "EventHandler",
    "IqError",
    "IqResult",
    "PresenceReceived",
    "PubsubItemReceived",
    "SessionClosed",
    "SessionEstablished",
    "SessionFailed",
    "SessionOptions",
    "TerminalEvent",
    "XmppAccount",
    "XmppConnection",
    "XmppEndpoint",
    "XmppError",
    "XmppEvent",
    "client_ssl_context",
]
