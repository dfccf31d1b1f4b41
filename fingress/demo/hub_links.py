"""Agents' notification links attached directly to the embedded emulator's hub.

In the demo the emulator runs in the same process as the connector, so the connector's sessions attach to
the emulator's notification hub the way the emulator's own XMPP servers do: credentials are checked by the
emulator's cluster (a wrong password counts toward its account lock), presence is reported to it (so losing
a link makes the emulator apply Finesse's forced-logout rule), and a side going out of service closes the
links. Everything between the app and Finesse — edge, tunnel, connector sessions, REST — is the real thing.
"""

from __future__ import annotations

import asyncio

from connector.finesse.credentials import Credentials, PasswordCredentials
from connector.sessions.links import LinkFailed, NotificationHandler, NotificationLink, SideName
from fingress.emulator.server import EmulatorServer


class _HubLink:
    """One agent's link on one side, as the hub sees it (an ``XmppSession``)."""

    def __init__(
        self, *, emulator: EmulatorServer, side: SideName, agent_id: str, handler: NotificationHandler
    ) -> None:
        self._emulator = emulator
        self._side: SideName = side
        self._agent_id = agent_id
        self._handler = handler
        self._closed = asyncio.Event()
        self._reason = "closed"

    # --- what the hub calls ---------------------------------------------------------------------------

    def deliver(self, node: str, item_id: str, notification_xml: str) -> None:
        if not self._closed.is_set():
            # Called from inside the emulator's model: deliver on the next loop turn, as a socket would.
            asyncio.get_running_loop().call_soon(self._deliver, node, notification_xml)

    def _deliver(self, node: str, notification_xml: str) -> None:
        if not self._closed.is_set():
            self._handler.notification(node, notification_xml)

    def close(self, condition: str) -> None:
        """End the link (the hub calls this when the side goes down; the session through its adapter)."""
        if self._closed.is_set():
            return
        self._reason = condition
        self._closed.set()
        hub = self._emulator.hub
        hub.detach(self._side, self._agent_id, self)
        if not hub.sessions(self._side, self._agent_id):
            self._emulator.cluster.presence_changed(self._side, self._agent_id, False)

    async def wait_closed(self) -> LinkFailed:
        await self._closed.wait()
        return LinkFailed(self._reason)


class _SessionLink:
    """The face of a link the agent session sees: its ``close()`` takes no condition."""

    def __init__(self, link: _HubLink) -> None:
        self._link = link

    async def wait_closed(self) -> LinkFailed:
        return await self._link.wait_closed()

    async def close(self) -> None:
        self._link.close("closed")


class HubLinkFactory:
    """A ``LinkFactory`` on the emulator running in this process."""

    def __init__(self, *, emulator: EmulatorServer) -> None:
        self._emulator = emulator

    async def open(
        self, *, side: SideName, credentials: Credentials, handler: NotificationHandler
    ) -> NotificationLink:
        cluster = self._emulator.cluster
        if not cluster.in_service(side):
            raise LinkFailed("connect_failed")
        if not isinstance(credentials, PasswordCredentials):
            raise LinkFailed("auth_failed", auth_failed=True)
        if not cluster.authenticate(side, credentials.agent_id, credentials.password):
            raise LinkFailed("auth_failed", auth_failed=True)
        link = _HubLink(emulator=self._emulator, side=side, agent_id=credentials.agent_id, handler=handler)
        self._emulator.hub.attach(side, credentials.agent_id, link)
        cluster.presence_changed(side, credentials.agent_id, True)
        return _SessionLink(link)
