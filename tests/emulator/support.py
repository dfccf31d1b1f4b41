"""Helpers for emulator tests: a recording XMPP session on the Hub seam, config with fast timings."""

from __future__ import annotations

import asyncio
import ssl
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import defusedxml.ElementTree as SafeET

from fingress.emulator.cluster import Cluster
from fingress.emulator.commands import DialogRequest, UserUpdate
from fingress.emulator.config import EmulatorConfig, load_config
from fingress.emulator.hub import Hub, Side
from fingress.emulator.model import Agent, Dialog
from fingress.emulator.server import EmulatorServer
from fingress.emulator.timers import ManualScheduler
from tests.support.timing import seconds

FAST_TIMING = {
    "async_processing_delay_s": 0.0,
    "presence_logout_delay_s": 60.0,
    "ring_timeout_s": 30.0,
    "nailed_answer_timeout_s": 30.0,
    "failure_detection_s": 0.0,
    # MAKE_CALL steps at once on the manual clock (tests of the progression set their own delays).
    "make_call_initiated_delay_s": 0.0,
    "make_call_alerting_delay_s": 0.0,
    "outside_answer_delay_s": 0.0,
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
        self.presences: list[tuple[str, bool]] = []
        self._arrived = asyncio.Event()

    def deliver(self, node: str, item_id: str, notification_xml: str) -> None:
        self.notifications.append(Notification(node, item_id, notification_xml))
        self._arrived.set()

    def close(self, condition: str) -> None:
        self.closed_with = condition

    def receive_presence(self, from_jid: str, available: bool) -> None:
        self.presences.append((from_jid, available))

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

    async def wait_for(self, predicate: Any, *, timeout_s: float = 5.0) -> Notification:
        """The first recorded notification matching ``predicate`` (waiting, bounded, for it to arrive)."""
        async with asyncio.timeout(seconds(timeout_s)):
            while True:
                for notification in self.notifications:
                    if predicate(notification):
                        return notification
                self._arrived.clear()
                await self._arrived.wait()


class Harness:
    """The cluster model alone, on a manual clock: requests go through the same façade REST uses and
    asynchronous work runs when :meth:`settle` (or :meth:`advance`) is called."""

    def __init__(self, emulator_config: EmulatorConfig | None = None) -> None:
        self.scheduler = ManualScheduler()
        self.hub = Hub()
        self.cluster = Cluster(
            cluster_config=emulator_config or fast_config(), hub=self.hub, scheduler=self.scheduler
        )
        self.sessions: dict[tuple[Side, str], RecordingSession] = {}

    def watch(self, agent_id: str, side: Side = "A") -> RecordingSession:
        session = RecordingSession()
        self.hub.attach(side, agent_id, session)
        self.sessions[(side, agent_id)] = session
        return session

    def agent(self, agent_id: str) -> Agent:
        return self.cluster.cti.agents[agent_id]

    def settle(self) -> None:
        self.scheduler.run_pending()

    def advance(self, seconds_: float) -> None:
        self.scheduler.advance(seconds_)

    def put_user(
        self,
        agent_id: str,
        *,
        actor: str | None = None,
        side: Side = "A",
        request_id: str = "",
        **fields: Any,
    ) -> None:
        update = UserUpdate(**fields)
        self.cluster.update_user(side, self.cluster.actor(actor or agent_id), agent_id, update, request_id)
        self.settle()

    def sign_in(self, agent_id: str, extension: str, *, side: Side = "A", **fields: Any) -> None:
        self.put_user(agent_id, side=side, state="LOGIN", extension=extension, **fields)

    def ready(self, agent_id: str, **fields: Any) -> None:
        self.put_user(agent_id, state="READY", **fields)

    def not_ready(self, agent_id: str, reason_code_id: str | None = "1", **fields: Any) -> None:
        self.put_user(agent_id, state="NOT_READY", reason_code_id=reason_code_id, **fields)

    def logout(self, agent_id: str, reason_code_id: str | None = "11", **fields: Any) -> None:
        self.put_user(agent_id, state="LOGOUT", reason_code_id=reason_code_id, **fields)

    def act(self, agent_id: str, dialog_id: str, action: str, *, request_id: str = "", **fields: Any) -> None:
        own = self.agent(agent_id).extension
        request = DialogRequest(requested_action=action, target_media_address=own, **fields)
        self.cluster.dialog_action(self.cluster.actor(agent_id), dialog_id, request, request_id)
        self.settle()

    def make_call(self, agent_id: str, to: str, *, request_id: str = "") -> None:
        own = self.agent(agent_id).extension
        request = DialogRequest(requested_action="MAKE_CALL", from_address=own, to_address=to)
        self.cluster.make_call(self.cluster.actor(agent_id), agent_id, request, request_id)
        self.settle()

    def offer(self, agent_id: str | None = None, caller: str = "5551234", **variables: str) -> str:
        return self.cluster.offer_call(agent_id=agent_id, from_address=caller, call_variables=variables)

    def dialog(self, dialog_id: str) -> Dialog:
        return self.cluster.cti.dialogs[dialog_id]

    def ready_agent(self, agent_id: str, extension: str) -> RecordingSession:
        session = self.watch(agent_id)
        self.sign_in(agent_id, extension)
        self.ready(agent_id)
        assert self.agent(agent_id).state == "READY"
        return session


class BackgroundEmulator:
    """The emulator on its own event loop in a thread, for synchronous tests (Hypothesis drives those)."""

    def __init__(self, *, emulator_config: EmulatorConfig, ssl_context: ssl.SSLContext) -> None:
        self._config = emulator_config
        self._ssl_context = ssl_context
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="emulator", daemon=True)
        self.server: EmulatorServer | None = None
        self.failure: BaseException | None = None

    def __enter__(self) -> EmulatorServer:
        self._thread.start()
        if not self._ready.wait(seconds(10)) or self.server is None:
            raise RuntimeError(f"the emulator did not start: {self.failure!r}")
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(seconds(10))

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with EmulatorServer(
                emulator_config=self._config,
                ssl_context=self._ssl_context,
                host="127.0.0.1",
                https_ports={"A": 0, "B": 0},
                xmpp_ports={"A": 0, "B": 0},
            ) as server:
                self.server = server
                self._ready.set()
                await self._stop.wait()
        except BaseException as error:  # reported to the test thread
            self.failure = error
            self._ready.set()
