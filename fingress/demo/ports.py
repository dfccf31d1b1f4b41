"""Where the demo listens: every listener on the base port N, N+1, …, all on loopback."""

from __future__ import annotations

import socket
from dataclasses import Field, dataclass, fields, replace

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
    """The demo's listeners, in base-port order. ``more_connector_admins`` are the admin ports of connectors
    2…N when several connector processes run (the benchmark's ``--connectors``), after all the others."""

    public: int
    admin: int
    tunnel: int
    idp: int
    emulator_a: int
    emulator_b: int
    emulator_xmpp_a: int
    emulator_xmpp_b: int
    connector_admin: int
    more_connector_admins: tuple[int, ...] = ()

    @classmethod
    def from_base(cls, base_port: int, *, connectors: int = 1) -> DemoPorts:
        """N, N+1, … in field order, then one more admin port per connector after the first. Raises
        ``ValueError`` when ``connectors`` < 1 or the ports do not fit below 65536."""
        if connectors < 1:
            raise ValueError("connectors must be at least 1")
        singles = len(_single_fields())
        count = singles + connectors - 1
        if not 1 <= base_port <= 65536 - count:
            raise ValueError(f"--base-port must be between 1 and {65536 - count}")
        ports = range(base_port, base_port + count)
        return replace(cls(*ports[:singles]), more_connector_admins=tuple(ports[singles:]))

    @property
    def connector_admins(self) -> tuple[int, ...]:
        """Every connector's admin port, the first connector's first."""
        return (self.connector_admin, *self.more_connector_admins)

    def named(self) -> list[tuple[str, int]]:
        singles = [(field.name, int(getattr(self, field.name))) for field in _single_fields()]
        more = [
            (f"connector_admin_{index}", port) for index, port in enumerate(self.more_connector_admins, 2)
        ]
        return singles + more

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


def _single_fields() -> tuple[Field[int], ...]:
    """The fields that hold one port each (all but ``more_connector_admins``)."""
    return tuple(field for field in fields(DemoPorts) if field.name != "more_connector_admins")
