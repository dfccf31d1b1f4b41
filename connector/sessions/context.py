"""What every agent session of one connector process shares (one reference per session, not copies)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

import httpx

from connector.config import ConnectorConfig
from connector.finesse.client import FinesseClient
from connector.finesse.observer import CallObserver
from connector.ops.metrics import ConnectorMetrics
from connector.sessions.eventlog import utc_now
from connector.sessions.links import LinkFactory, SideName


@dataclass(slots=True)
class SideTracker:
    """The side new sessions start on: the configured side A until a session finds it out of service."""

    active: SideName = "A"

    def other(self, side: SideName) -> SideName:
        return "B" if side == "A" else "A"


@dataclass(frozen=True, slots=True)
class SessionContext:
    """The shared dependencies of the sessions; built once by the composition root."""

    config: ConnectorConfig
    # One REST client per configured side.
    finesse: Mapping[SideName, FinesseClient]
    links: LinkFactory
    metrics: ConnectorMetrics
    # The REST client that reads the devices of a given extension (shared line / multiline). Finesse's
    # device-list URI is unconfirmed and the REST client's path template has no extension, so the
    # composition root decides (see :func:`extension_devices_client`); None: the side's own client.
    devices_client: Callable[[SideName, str], FinesseClient] | None = None
    sides: SideTracker = field(default_factory=SideTracker)
    now: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def has_side(self, side: SideName) -> bool:
        return side in self.finesse


def extension_devices_client(
    *, http: httpx.AsyncClient, base_urls: Mapping[SideName, str], observer: CallObserver | None = None
) -> Callable[[SideName, str], FinesseClient]:
    """Device lists at ``/finesse/api/User/{id}/Devices?extension=N`` (the emulator's URI)."""

    def client(side: SideName, extension: str) -> FinesseClient:
        path = f"/finesse/api/User/{{agent_id}}/Devices?extension={quote(extension, safe='')}"
        return FinesseClient(
            http=http, base_url=base_urls[side], side=side, devices_path=path, observer=observer
        )

    return client
