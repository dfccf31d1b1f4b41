"""The emulator's XMPP notification servers: what Finesse's notification service speaks, per side.

Model: one sans-I/O :class:`~fingress.emulator.xmpp.session.ServerSession` per connection holds the
protocol (SASL PLAIN, stream restart, bind, legacy session, presence, XEP-0199 ping, XEP-0060
subscribe and event delivery). A framing turns the wire into session input and session output into the
wire: :class:`~fingress.emulator.xmpp.stream_framing.StreamFraming` for the RFC 6120 byte stream,
:class:`~fingress.emulator.xmpp.websocket_framing.WebSocketFraming` for RFC 7395 messages. The two
transports, :class:`DirectTlsServer` (like Finesse's 5223) and :func:`websocket_route` (``/ws/``, like
8445), only pump bytes or messages through a :class:`~fingress.emulator.xmpp.pump.ConnectionPump`.

Bound sessions attach to the :class:`~fingress.emulator.hub.Hub`, which routes the cluster's
notifications to them; credentials and presence go back through
:class:`~fingress.emulator.hub.ClusterPort`. Every session's deliveries are queued with a bound, and
hostile input ends that stream alone with the matching RFC 6120 stream error.
"""

from __future__ import annotations

from fingress.emulator.xmpp.direct_tls import DirectTlsServer
from fingress.emulator.xmpp.session import ServerSession
from fingress.emulator.xmpp.settings import XmppServerSettings
from fingress.emulator.xmpp.websocket import websocket_route

__all__ = ["DirectTlsServer", "ServerSession", "XmppServerSettings", "websocket_route"]
