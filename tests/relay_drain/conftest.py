"""The real tunnel on loopback (the edge's listener, the connector's client, mutual TLS): the tunnel
tests' fixtures."""

from __future__ import annotations

from tests.tunnel.conftest import connector_cert, connector_ssl, edge_ssl, make_relay, tunnel

__all__ = ["connector_cert", "connector_ssl", "edge_ssl", "make_relay", "tunnel"]
