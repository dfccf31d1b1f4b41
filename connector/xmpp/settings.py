"""Who the client logs in as, and how the session behaves. Immutable, validated on construction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from connector.xmpp.xmlstream import DEFAULT_MAX_DEPTH

RESERVED_RESOURCES = frozenset({"desktop"})  # Finesse's own desktop binds "desktop"
MAX_RESOURCE_CHARS = 256


def unique_resource() -> str:
    """A resource no other session uses: ``fingress-<random>``."""
    return f"fingress-{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class XmppAccount:
    """An XMPP account: ``username@domain/resource``. The password never appears in ``repr``."""

    username: str
    domain: str
    password: str = field(repr=False)
    resource: str = field(default_factory=unique_resource)

    def __post_init__(self) -> None:
        if not self.username or any(char in self.username for char in "@/ \0"):
            raise ValueError("XMPP username must be a non-empty local part")
        if not self.domain or any(char in self.domain for char in "@/ \0"):
            raise ValueError("XMPP domain must be a non-empty domain part")
        if not self.resource or len(self.resource) > MAX_RESOURCE_CHARS or "\0" in self.resource:
            raise ValueError("XMPP resource must be 1-256 characters")
        if self.resource.lower() in RESERVED_RESOURCES:
            raise ValueError(f"XMPP resource {self.resource!r} is reserved for the Finesse desktop")

    @property
    def bare_jid(self) -> str:
        return f"{self.username}@{self.domain}"


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Timings and limits of one client session (seconds, bytes)."""

    # Finesse expects a XEP-0199 ping from its clients every 20 s.
    ping_interval_s: float = 20.0
    # No answer to a ping within this long means the link is dead.
    ping_timeout_s: float = 10.0
    # From the first byte sent until the session is established (SASL, bind, session).
    establish_timeout_s: float = 15.0
    # An iq request (subscribe, unsubscribe, ping, ...) unanswered this long fails with a timeout.
    iq_timeout_s: float = 10.0
    # How long a graceful close waits for the server's end of the stream.
    close_timeout_s: float = 2.0
    # Finesse notifications are a few KiB; a dialog list with many call variables stays far below this.
    max_stanza_bytes: int = 256 * 1024
    max_depth: int = DEFAULT_MAX_DEPTH
    # Finesse offers PLAIN; SCRAM-SHA-1 is used when a server offers only that.
    sasl_mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-1")
    # The XEP-0060 service; empty means ``pubsub.<domain>`` as Finesse has it. Pubsub events from any
    # other sender are ignored.
    pubsub_service: str = ""

    def __post_init__(self) -> None:
        for name in ("ping_interval_s", "ping_timeout_s", "establish_timeout_s", "iq_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.close_timeout_s < 0:
            raise ValueError("close_timeout_s must not be negative")
        if self.max_stanza_bytes < 1024 or self.max_depth < 4:
            raise ValueError("max_stanza_bytes must be >= 1024 and max_depth >= 4")
        unknown = set(self.sasl_mechanisms) - {"PLAIN", "SCRAM-SHA-1"}
        if unknown or not self.sasl_mechanisms:
            raise ValueError("sasl_mechanisms must list PLAIN and/or SCRAM-SHA-1")
