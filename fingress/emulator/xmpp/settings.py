"""Tunables of the emulator's XMPP servers, shared by both transports."""

from __future__ import annotations

from dataclasses import dataclass

from connector.xmpp.xmlstream import DEFAULT_MAX_DEPTH
from edge.tunnel.errors import ConfigError
from fingress.emulator.xmpp.namespaces import NOTIFICATION_NAMESPACES, PUSH


@dataclass(frozen=True, slots=True)
class XmppServerSettings:
    """How an emulated Finesse notification service behaves.

    ``notification_namespace`` is the namespace of ``<notification>`` inside pubsub events: Finesse 12.5
    sends ``urn:xmpp:push:0`` (the captures), other releases ``http://jabber.org/protocol/pubsub``.
    ``max_queued_notifications`` bounds the stanzas (notifications, and answers to the client's requests)
    waiting for a slow client; a session whose queue overflows is closed with ``policy-violation``.
    ``idle_timeout_s`` (off when ``None``) closes a session that sent nothing for that long with
    ``connection-timeout``; Finesse clients ping every 20 s. ``max_stanza_bytes`` and ``max_depth`` bound
    every incoming stanza; ``close_timeout_s`` is how long a closing stream may take to flush its goodbye.
    """

    notification_namespace: str = PUSH
    max_stanza_bytes: int = 64 * 1024
    max_depth: int = DEFAULT_MAX_DEPTH
    max_queued_notifications: int = 1000
    max_auth_attempts: int = 3
    idle_timeout_s: float | None = None
    close_timeout_s: float = 2.0
    tls_handshake_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        if self.notification_namespace not in NOTIFICATION_NAMESPACES:
            problems.append(
                ("notification_namespace", f"expected one of {', '.join(NOTIFICATION_NAMESPACES)}")
            )
        for name in ("max_stanza_bytes", "max_depth", "max_queued_notifications", "max_auth_attempts"):
            if getattr(self, name) < 1:
                problems.append((name, "expected a positive number"))
        for name in ("close_timeout_s", "tls_handshake_timeout_s"):
            if getattr(self, name) <= 0:
                problems.append((name, "expected a positive number of seconds"))
        if self.idle_timeout_s is not None and self.idle_timeout_s <= 0:
            problems.append(("idle_timeout_s", "expected a positive number of seconds, or none"))
        if problems:
            raise ConfigError("xmpp server settings", problems)
