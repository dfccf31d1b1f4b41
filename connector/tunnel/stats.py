"""Counters of the connector's tunnel client, read by the metrics endpoint (no global registry)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ClientStats:
    """Monotonic counters, except ``connections_open`` (the current value)."""

    connections_open: int = 0
    dials: int = 0
    dial_failures: int = 0
    protocol_errors: int = 0
    requests: int = 0
    requests_failed: int = 0
    """Answered with an error (``ApiError`` from the service, or ``connector_error``)."""
    requests_cancelled: int = 0
    attachments: int = 0
    events_sent: int = 0
    dropped_attachments: int = 0
    """Attachments dropped with ``resync`` because their unsent events hit the bound."""
