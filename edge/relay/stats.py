"""Counters of the edge's tunnel listener, read by the metrics endpoint (no global registry)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class RelayStats:
    """Monotonic counters, except ``connections_open`` and ``streams_open`` (current values)."""

    connections_open: int = 0
    connections_accepted: int = 0
    connections_refused: int = 0
    """TLS passed but the identity is not allowed, the path is wrong, or the handshake failed."""
    protocol_errors: int = 0
    requests: int = 0
    request_timeouts: int = 0
    requests_lost: int = 0
    """Requests failed with ``connector_lost`` because their connection went away."""
    requests_retried: int = 0
    session_searches: int = 0
    """Requests and streams sent on to another connector after one answered ``no_session``."""
    streams_open: int = 0
    events_relayed: int = 0
    dropped_attachments: int = 0
    """Streams ended with ``resync`` because a queue (edge or connector) was full."""
    reattachments: int = 0
    late_frames: int = 0
