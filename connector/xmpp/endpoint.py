"""Where an XMPP server listens and how to reach it, and the TLS context to trust it with."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TransportKind = Literal["websocket", "tls"]


@dataclass(frozen=True, slots=True)
class XmppEndpoint:
    """One XMPP listener. Finesse: ``websocket`` on 8445 path ``/ws/`` (recommended), ``tls`` on 5223.

    ``server_hostname`` is the name the certificate must carry (and the SNI sent); empty means ``host``.
    """

    host: str
    port: int = 8445
    transport: TransportKind = "websocket"
    path: str = "/ws/"
    server_hostname: str = ""

    def __post_init__(self) -> None:
        if self.transport not in ("websocket", "tls"):
            raise ValueError("transport must be 'websocket' or 'tls'")
        if not self.host or not 0 < self.port < 65536:
            raise ValueError("endpoint needs a host and a port in 1..65535")
        if not self.path.startswith("/"):
            raise ValueError("WebSocket path must start with '/'")

    @property
    def tls_name(self) -> str:
        return self.server_hostname or self.host

    @property
    def websocket_uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"wss://{host}:{self.port}{self.path}"

    def describe(self) -> str:
        """For logs and error messages."""
        return self.websocket_uri if self.transport == "websocket" else f"tls://{self.host}:{self.port}"


def client_ssl_context(*, ca_file: Path | None = None, verify: bool = True) -> ssl.SSLContext:
    """A client TLS context: system trust store, or only ``ca_file`` when given; TLS 1.2 or later.

    Build one per process and share it across sessions: each context costs ~20 ms and memory.
    ``verify=False`` turns certificate checks off (lab use only; never the default).
    """
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
