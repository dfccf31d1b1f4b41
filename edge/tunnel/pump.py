"""The I/O of one tunnel connection, the same on both tiers: a reader that feeds every message to the
sans-I/O protocol and hands what it reports to the owner, and a single writer that drains the protocol's
output in batches (one writer keeps frames in the order the protocol queued them). The edge
(:mod:`edge.relay.link`) and the connector (:mod:`connector.tunnel.link`) differ only in what they do with
the protocol's events and when a connection ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

from edge.tunnel.protocol import TunnelEvent, TunnelSide

WRITE_BATCH_FRAMES = 64
# How long the writer may keep flushing once the connection is ending (last answers, a drain's detaches).
FLUSH_ON_CLOSE_S = 1.0


class FramePump:
    """Moves frames between one WebSocket connection and its protocol side."""

    def __init__(
        self,
        *,
        connection: Connection,
        protocol: TunnelSide,
        dispatch: Callable[[list[TunnelEvent]], None],
        writer_name: str,
    ) -> None:
        self._connection = connection
        self._protocol = protocol
        self._dispatch = dispatch
        self._writer_name = writer_name
        self._wake = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        """The connection is ending: the writer flushes what is queued and stops."""
        return self._closing

    def wake(self) -> None:
        """The protocol has something to send."""
        self._wake.set()

    def close_soon(self) -> None:
        """Let the writer flush what is queued, then stop."""
        self._closing = True
        self._wake.set()

    async def flushed(self, *, timeout_s: float = FLUSH_ON_CLOSE_S) -> None:
        """After :meth:`close_soon`: wait (bounded) until the writer has put everything on the wire."""
        if self._writer is not None:
            await asyncio.wait({self._writer}, timeout=timeout_s)

    async def run(self) -> None:
        """Serve the connection until it ends (the peer closed, or the protocol failed or finished);
        then let the writer flush (bounded) and tell the protocol the connection is gone."""
        writer = self._writer = asyncio.create_task(self._write_loop(), name=self._writer_name)
        try:
            while True:
                # Bytes as they came: the frame decoder validates UTF-8 as it parses (a str would be
                # decoded here only to be encoded again for it). Invalid UTF-8 is its malformed_frame.
                message = await self._connection.recv(decode=False)
                self._protocol.receive_message(message)
                self._dispatch(self._protocol.events_received())
                self._wake.set()
                if not self._protocol.is_open:
                    break
        except ConnectionClosed:
            pass
        finally:
            self.close_soon()
            try:
                async with asyncio.timeout(FLUSH_ON_CLOSE_S):
                    await writer
            except TimeoutError:
                writer.cancel()
            self._protocol.connection_lost()

    async def _write_loop(self) -> None:
        try:
            while True:
                frames = self._protocol.data_to_send(WRITE_BATCH_FRAMES)
                if not frames:
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                for frame in frames:
                    # UTF-8 already: a text message without a round trip through str.
                    await self._connection.send(frame, text=True)
        except ConnectionClosed:
            return
