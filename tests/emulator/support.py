"""Helpers for emulator tests: a recording XMPP session on the Hub seam, config with fast timings."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import defusedxml.ElementTree as SafeET

from fingress.emulator.config import EmulatorConfig, load_config
from tests.support.timing import seconds

FAST_TIMING = {
    "async_processing_delay_s": 0.0,
    "presence_logout_delay_s": 60.0,
    "ring_timeout_s": 30.0,
    "nailed_answer_timeout_s": 30.0,
    "failure_detection_s": 0.0,
}


def fast_config(
    *, timing: dict[str, Any] | None = None, behaviour: dict[str, Any] | None = None
) -> EmulatorConfig:
    """The packaged sample cluster with test timings (and optional overrides)."""
    base = load_config()
    return base.model_copy(
        update={
            "timing": base.timing.model_copy(update={**FAST_TIMING, **(timing or {})}),
            "behaviour": base.behaviour.model_copy(update=behaviour or {}),
        }
    )


@dataclass(frozen=True)
class Notification:
    node: str
    item_id: str
    xml: str

    @property
    def update(self) -> ET.Element:
        root: ET.Element = SafeET.fromstring(self.xml)
        return root

    def text(self, path: str) -> str | None:
        return self.update.findtext(path)

    @property
    def event(self) -> str:
        return self.text("event") or ""

    @property
    def request_id(self) -> str:
        return self.text("requestId") or ""


class RecordingSession:
    """An XmppSession (the Hub seam) that records every notification delivered to it."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self.closed_with: str | None = None
        self._arrived = asyncio.Event()

    def deliver(self, node: str, item_id: str, notification_xml: str) -> None:
        self.notifications.append(Notification(node, item_id, notification_xml))
        self._arrived.set()

    def close(self, condition: str) -> None:
        self.closed_with = condition

    def clear(self) -> None:
        self.notifications.clear()

    def users(self) -> list[Notification]:
        return [n for n in self.notifications if n.update.find("data/user") is not None]

    def errors(self) -> list[Notification]:
        return [n for n in self.notifications if n.update.find("data/apiErrors") is not None]

    def dialog_events(self) -> list[Notification]:
        return [
            n
            for n in self.notifications
            if n.node.endswith("/Dialogs") and n.update.find("data/apiErrors") is None
        ]

    def last_state(self) -> str | None:
        users = self.users()
        return users[-1].text("data/user/state") if users else None

    async def wait_for(self, predicate: Any, *, timeout_s: float = 2.0) -> Notification:
        """The first recorded notification matching ``predicate`` (waiting, bounded, for it to arrive)."""
        async with asyncio.timeout(seconds(timeout_s)):
            while True:
                for notification in self.notifications:
                    if predicate(notification):
                        return notification
                self._arrived.clear()
                await self._arrived.wait()
