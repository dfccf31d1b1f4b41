"""The connector's side of the tunnel: it dials the edges (the LAN opens no port) over mutual TLS.

Model: :class:`~connector.tunnel.client.TunnelClient` keeps a number of connections to every edge URL
and redials with backoff; each connection is a :class:`~connector.tunnel.link.ConnectorLink`, a pump
around the sans-I/O ``edge.tunnel.protocol.ConnectorSide`` that hands requests and event attachments
to the session layer through :class:`~connector.tunnel.service.TunnelService`.
"""

from connector.tunnel.client import TunnelClient
from connector.tunnel.config import TunnelClientConfig, client_ssl_context, parse_tunnel_config
from connector.tunnel.dial import DialFailed
from connector.tunnel.service import EventSink, TunnelService
from connector.tunnel.stats import ClientStats

__all__ = [
    "ClientStats",
    "DialFailed",
    "EventSink",
    "TunnelClient",
    "TunnelClientConfig",
    "TunnelService",
    "client_ssl_context",
    "parse_tunnel_config",
]
