"""The HTTP/1.1 protocol the public listener runs: uvicorn's ``httptools`` protocol, letting go of itself
when its connection is upgraded to a WebSocket.

At an upgrade uvicorn hands the connection to the WebSocket protocol and forgets the HTTP one, but the HTTP
protocol and its parser point at each other (the parser calls back into the protocol), so every event
socket left an HTTP protocol (its parser, flow control, request headers and two deques) to the cycle
collector. The edge runs full collections rarely (:mod:`fingress.gc_tuning`), and such a protocol has
lived through the handshake long enough to reach the oldest generation: after a sign-in storm hundreds
of them waited, their number set by when the last full collection happened to run (265 and 897 at the
same point of two otherwise equal ``fingress bench`` runs at 2,000 agents), and the heap they held stayed
in the edge's resident memory. Dropping the parser once the upgrade is done frees the protocol by reference
counting at once, as uvicorn's own ``connection_lost`` does for a connection that closes.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class UpgradeReleasingHttpProtocol(HttpToolsProtocol):
    """uvicorn's protocol, unchanged until an upgrade. Pass the class as ``uvicorn.Config(http=...)``."""

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # The transport now calls the WebSocket protocol; nothing reads this parser again (uvicorn's
        # ``data_received`` returns right after the upgrade).
        self.parser = None  # type: ignore[assignment]
