"""What every agent session of one connector process shares (one reference per session, not copies)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from connector.config import ConnectorConfig
from connector.finesse.client import FinesseClient
from connector.ops.metrics import ConnectorMetrics
from connector.sessions.eventlog import StreamOrigins, utc_now
from connector.sessions.links import LinkFactory, SideName


@dataclass(slots=True)
class SideTracker:
    """The side new sessions start on: the configured side A until a session finds it out of service."""

    active: SideName = "A"

    def other(self, side: SideName) -> SideName:
        return "B" if side == "A" else "A"


@dataclass(frozen=True, slots=True)
class SessionContext:
    """The shared dependencies of the sessions; built once by the composition root.

    ``config`` is the one field that changes after start: :meth:`replace_config` swaps it (a reload). Code
    that reads ``context.config`` when it acts sees the new settings from then on; an operation that already
    read it finishes on the settings it started with.
    """

    config: ConnectorConfig
    # One REST client per configured side.
    finesse: Mapping[SideName, FinesseClient]
    links: LinkFactory
    metrics: ConnectorMetrics
    sides: SideTracker = field(default_factory=SideTracker)
    now: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    # Where each new session's event stream starts numbering (never among an earlier session's numbers).
    stream_origins: StreamOrigins = field(default_factory=StreamOrigins)

    def replace_config(self, config: ConnectorConfig) -> None:
        """Swap the settings every session reads at use time (one reference, so the swap is atomic).

        The caller (:meth:`connector.runtime.Connector.reload`) has checked that nothing baked into the
        other fields (clients, links) differs in ``config``."""
        # The dataclass stays frozen so nothing else can rebind a field; this is the one sanctioned write.
        object.__setattr__(self, "config", config)

    def has_side(self, side: SideName) -> bool:
        return side in self.finesse
