"""Where the demo listens: every listener on the base port N, N+1, …, all on loopback."""

from __future__ import annotations

import socket
from dataclasses import astuple, dataclass, fields

from edge.tunnel.errors import FingressError

DEFAULT_BASE_PORT = 8443
HOST = "127.0.0.1"


class PortInUse(FingressError):
    """A demo port is taken by another process."""

    def __init__(self, port: int, name: str) -> None:
        self.port = port
        self.name = name
        super().__init__(f"port {port} ({name.replace('_', ' ')}) is in use; pick another --base-port")


@dataclass(frozen=True)
class DemoPorts:
    """The demo's listeners, in base-port order."""

    public: int
    admin: int
    tunnel: int
    idp: int
    emulator_a: int
    emulator_b: int
    emulator_xmpp_a: int
    emulator_xmpp_b: int
    connector_admin: int

    @classmethod
    def from_base(cls, base_port: int) -> DemoPorts:
        """N, N+1, … in field order. Raises ``ValueError`` when they do not fit below 65536."""
        count = len(fields(cls))
        if not 1 <= base_port <= 65536 - count:
            raise ValueError(f"--base-port must be between 1 and {65536 - count}")
        return cls(*range(base_port, base_port + count))

    def named(self) -> list[tuple[str, int]]:
        return [(field.name, port) for field, port in zip(fields(self), astuple(self), strict=True)]

    def check_free(self, host: str = HOST) -> None:
        """Raise :class:`PortInUse` for the first port something else listens on (the demo binds them a
        moment later; a race with another program is reported the same way when it binds)."""
        for name, port in self.named():
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
            except OSError:
                raise PortInUse(port, name) from None
            finally:
                probe.close()
