"""Notification links on the XMPP client (:mod:`connector.xmpp`): the production :class:`LinkFactory`.

Each link is one :class:`~connector.xmpp.connection.XmppConnection` to the side's notification service,
over WebSocket (Finesse's recommended ``wss://…:8445/ws/``) or direct TLS (5223), authenticated as the
agent. Finesse subscribes the agent's own nodes itself, so nothing is subscribed here. Pubsub items and
presences go straight to the session's handler, in the connection's one pump task.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from connector.config import ConnectorConfig, FinesseSide
from connector.finesse.credentials import BearerCredentials, Credentials
from connector.sessions.links import LinkFailed, NotificationHandler, SideName
from connector.xmpp.connection import XmppConnection
from connector.xmpp.endpoint import XmppEndpoint
from connector.xmpp.errors import AUTH_FAILED, XmppError
from connector.xmpp.events import PresenceReceived, PubsubItemReceived, SessionFailed, XmppEvent
from connector.xmpp.settings import SessionOptions, XmppAccount
from connector.xmpp.tls_sessions import TlsSessionCache


def endpoint_for(side: FinesseSide) -> XmppEndpoint:
    """The XMPP endpoint a configured side names (validated by the configuration already)."""
    tls_name = side.server_hostname or ""
    if side.xmpp_transport == "ws":
        url = urlsplit(side.xmpp_address)
        return XmppEndpoint(
            host=url.hostname or "",
            port=url.port or 443,
            transport="websocket",
            path=url.path or "/",
            server_hostname=tls_name,
        )
    host, _, port = side.xmpp_address.rpartition(":")
    return XmppEndpoint(host=host.strip("[]"), port=int(port), transport="tls", server_hostname=tls_name)


class XmppLink:
    """One agent's notification link (a :class:`~connector.sessions.links.NotificationLink`)."""

    def __init__(self, connection: XmppConnection) -> None:
        self._connection = connection

    def __repr__(self) -> str:
        return f"XmppLink({self._connection!r})"

    async def wait_closed(self) -> LinkFailed:
        outcome = await self._connection.wait_closed()
        if isinstance(outcome, SessionFailed):
            return LinkFailed(outcome.reason, auth_failed=outcome.reason == AUTH_FAILED)
        return LinkFailed("closed_by_server" if outcome.by_peer else "closed")

    async def close(self) -> None:
        await self._connection.close()


class XmppLinkFactory:
    """Opens XMPP notification links for sessions; one shared TLS context for every connection."""

    def __init__(
        self,
        *,
        config: ConnectorConfig,
        ssl_context: ssl.SSLContext,
        options: SessionOptions | None = None,
    ) -> None:
        self._config = config
        self._ssl_context = ssl_context
        # One agent's connection after another to the same Finesse node resumes a TLS session instead of
        # a full handshake each (a restart opens them all at once).
        self._tls_sessions = TlsSessionCache(ssl_context)
        self._options = options or SessionOptions(
            ping_interval_s=config.xmpp.ping_interval_s,
            establish_timeout_s=config.xmpp.connect_timeout_s,
        )
        self._endpoints: dict[SideName, XmppEndpoint] = {}
        for name in ("A", "B"):
            side = config.finesse.side(name)
            if side is not None:
                self._endpoints[name] = endpoint_for(side)

    async def open(
        self, *, side: SideName, credentials: Credentials, handler: NotificationHandler
    ) -> XmppLink:
        side_config = self._config.finesse.side(side)
        endpoint = self._endpoints.get(side)
        if side_config is None or endpoint is None:
            raise LinkFailed("side_not_configured")
        # SSO deployments: Finesse takes the agent's token as the XMPP password (SASL PLAIN).
        secret = credentials.token if isinstance(credentials, BearerCredentials) else credentials.password
        try:
            account = XmppAccount(
                username=credentials.agent_id, domain=side_config.xmpp_domain, password=secret
            )
        except ValueError as error:
            raise LinkFailed("invalid_account", auth_failed=True) from error

        def on_event(event: XmppEvent) -> None:
            if isinstance(event, PubsubItemReceived):
                handler.notification(event.node, event.notification_text)
            elif isinstance(event, PresenceReceived):
                handler.presence(event.from_jid, event.available)
            # The end of the session is reported through wait_closed(); other events are not needed.

        try:
            connection = await XmppConnection.connect(
                account=account,
                endpoint=endpoint,
                ssl_context=self._ssl_context,
                options=self._options,
                on_event=on_event,
                tls_sessions=self._tls_sessions,
            )
        except XmppError as error:
            raise LinkFailed(error.reason, auth_failed=error.reason == AUTH_FAILED) from error
        return XmppLink(connection)
