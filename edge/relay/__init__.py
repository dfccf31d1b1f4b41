"""The edge's side of the tunnel: the listener connectors dial into (default port 8444, mTLS).

Model: :class:`~edge.relay.relay.TunnelRelay` serves WebSocket connections with the ``websockets``
library's own server (it exposes the client certificate; uvicorn does not), admits only configured
connector identities, and implements ``edge.upstream.Upstream`` for the public app. Each accepted
connection is an :class:`~edge.relay.link.EdgeLink`: a pump around the sans-I/O
``edge.tunnel.protocol.EdgeSide``. Each app event socket is a :class:`~edge.relay.stream.RelayEventStream`
with a bounded queue. Counters live in :class:`~edge.relay.stats.RelayStats`.
"""

from edge.relay.relay import DEFAULT_TUNNEL_PORT, TunnelRelay
from edge.relay.stats import RelayStats
from edge.relay.stream import RelayEventStream

__all__ = ["DEFAULT_TUNNEL_PORT", "RelayEventStream", "RelayStats", "TunnelRelay"]
