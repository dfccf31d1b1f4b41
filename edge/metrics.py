"""The edge's Prometheus metrics, in a registry of their own per edge instance (no global registry, so
two edges in one process — as in tests — never share counters)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class EdgeMetrics:
    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "fingress_edge_requests",
            "Public API requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fingress_edge_request_duration_seconds",
            "Public API request latency by route template.",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.event_sockets = Gauge(
            "fingress_edge_event_sockets", "Open event WebSockets.", registry=self.registry
        )
        self.tunnel_connections = Gauge(
            "fingress_edge_tunnel_connections", "Connector tunnels up.", registry=self.registry
        )
        self.rate_limited = Counter(
            "fingress_edge_rate_limited",
            "Requests refused by a rate limit.",
            ["limit"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "fingress_edge_auth_failures",
            "Refused bearer tokens by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.policy_reloads = Counter(
            "fingress_edge_policy_reloads", "Policy reloads by outcome.", ["outcome"], registry=self.registry
        )
        self.jwks_fetches = Counter(
            "fingress_edge_jwks_fetches",
            "Signing-key fetches by outcome.",
            ["outcome"],
            registry=self.registry,
        )

    def track_tunnel_connections(self, read: Callable[[], float]) -> None:
        """Report the tunnel count by calling ``read`` at scrape time."""
        self.tunnel_connections.set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
