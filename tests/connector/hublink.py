"""A :class:`~connector.sessions.links.LinkFactory` attached to the emulator's Hub (a seam we own).

It stands in for the XMPP wire while the session layer is tested: each link is an ``XmppSession`` of the
emulator's hub, authenticates with the emulator's cluster (counting toward its account lock) and reports
presence to it exactly as the emulator's XMPP servers do, so Finesse-side behaviour (forced logout after
presence loss, side drop) is the emulator's own. Tests can cut links and refuse new ones.
"""

from __future__ import annotations

import asyncio

from connector.finesse.credentials import BearerCredentials, Credentials, PasswordCredentials
from connector.sessions.links import LinkFailed, NotificationHandler, SideName
from fingress.emulator.credentials import BearerVerifier
from fingress.emulator.server import EmulatorServer


class HubLink:
    def __init__(
        self, *, factory: HubLinkFactory, side: SideName, agent_id: str, handler: NotificationHandler
    ) -> None:
        self._factory = factory
        self.side = side
        self.agent_id = agent_id
        self._handler = handler
        self._closed = asyncio.Event()
        self._reason = ""

    # XmppSession (what the hub calls)
    def deliver(self, node: str, item_id: str, notification_xml: str) -> None:
        if not self._closed.is_set():
            # Called from inside the emulator: hand it over on the next loop turn, as a socket would.
            asyncio.get_running_loop().call_soon(self._deliver, node, notification_xml)

    def _deliver(self, node: str, notification_xml: str) -> None:
        if not self._closed.is_set():
            self._handler.notification(node, notification_xml)

    def close(self, condition: str) -> None:
        self._drop(condition)

    # NotificationLink (what the session calls)
    async def wait_closed(self) -> LinkFailed:
        await self._closed.wait()
        return LinkFailed(self._reason)

    async def aclose(self) -> None:
        self._drop("closed")

    def _drop(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self._reason = reason
        self._closed.set()
        self._factory.detached(self)


class _Link:
    """Adapts :class:`HubLink` to the NotificationLink protocol (its ``close`` is the hub's)."""

    def __init__(self, link: HubLink) -> None:
        self.link = link

    async def wait_closed(self) -> LinkFailed:
        return await self.link.wait_closed()

    async def close(self) -> None:
        await self.link.aclose()


class HubLinkFactory:
    """``bearer``: how Finesse's XMPP server would check a token given as the SASL password (SSO
    deployments); without it only passwords are accepted. ``tokens_used`` records each token a link
    was opened with, in order."""

    def __init__(self, emulator: EmulatorServer, *, bearer: BearerVerifier | None = None) -> None:
        self._emulator = emulator
        self._bearer = bearer
        self.links: dict[str, HubLink] = {}
        self.refused: set[SideName] = set()
        self.opened = 0
        self.tokens_used: list[str] = []

    async def open(self, *, side: SideName, credentials: Credentials, handler: NotificationHandler) -> _Link:
        cluster = self._emulator.cluster
        if side in self.refused or not cluster.in_service(side):
            raise LinkFailed("connect_failed")
        if isinstance(credentials, BearerCredentials):
            self.tokens_used.append(credentials.token)
            if self._bearer is None or self._bearer.agent_id(credentials.token) != credentials.agent_id:
                raise LinkFailed("auth_failed", auth_failed=True)
        else:
            assert isinstance(credentials, PasswordCredentials)
            if not cluster.authenticate(side, credentials.agent_id, credentials.password):
                raise LinkFailed("auth_failed", auth_failed=True)
        link = HubLink(factory=self, side=side, agent_id=credentials.agent_id, handler=handler)
        self.links[credentials.agent_id] = link
        self._emulator.hub.attach(side, credentials.agent_id, link)
        cluster.presence_changed(side, credentials.agent_id, True)
        self.opened += 1
        return _Link(link)

    def detached(self, link: HubLink) -> None:
        self._emulator.hub.detach(link.side, link.agent_id, link)
        if not self._emulator.hub.sessions(link.side, link.agent_id):
            self._emulator.cluster.presence_changed(link.side, link.agent_id, False)

    def cut(self, agent_id: str) -> None:
        """The connection dies under the agent's session (as a network failure would)."""
        self.links[agent_id].close("connection-lost")
