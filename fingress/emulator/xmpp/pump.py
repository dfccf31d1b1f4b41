"""Running one connection: read into the framing, write what the session produces, stop when it ends.

Shared by both transports; they supply ``receive`` (read once and feed the framing, ``False`` at the end
of input) and ``flush`` (write what is pending, waiting for the peer as backpressure requires).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from fingress.emulator.xmpp.session import ServerSession


class ConnectionPump:
    """Create it first, hand :meth:`wake` to the :class:`ServerSession`, then :meth:`run`."""

    def __init__(self, *, idle_timeout_s: float | None, close_timeout_s: float) -> None:
        self._idle_timeout_s = idle_timeout_s
        self._close_timeout_s = close_timeout_s
        self._output_ready = asyncio.Event()
        self._session_finished = asyncio.Event()
        self._session: ServerSession | None = None

    def wake(self) -> None:
        """The session has output (or has finished)."""
        self._output_ready.set()
        if self._session is not None and self._session.finished:
            self._session_finished.set()

    async def run(
        self,
        *,
        session: ServerSession,
        receive: Callable[[], Awaitable[bool]],
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        """Pump until the session finished and its last output went out (or ``close_timeout_s`` passed:
        a client that does not read its stream error does not hold the connection open)."""
        self._session = session
        self.wake()
        reading = asyncio.create_task(self._read_loop(session, receive))
        writing = asyncio.create_task(self._write_loop(session, flush))
        try:
            await self._session_finished.wait()
            await asyncio.wait({writing}, timeout=self._close_timeout_s)
        finally:
            for task in (reading, writing):
                task.cancel()
            await asyncio.gather(reading, writing, return_exceptions=True)
            session.connection_lost()

    async def _read_loop(self, session: ServerSession, receive: Callable[[], Awaitable[bool]]) -> None:
        try:
            while not session.finished:
                if self._idle_timeout_s is None:
                    more = await receive()
                else:
                    try:
                        async with asyncio.timeout(self._idle_timeout_s):
                            more = await receive()
                    except TimeoutError:
                        session.idle_timeout_expired()
                        return
                if not more:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a broken connection, whatever the library calls it
            structlog.get_logger("fingress.emulator.xmpp").debug(
                "xmpp_read_failed", error=type(error).__name__
            )
            session.connection_lost()

    async def _write_loop(self, session: ServerSession, flush: Callable[[], Awaitable[None]]) -> None:
        try:
            while True:
                await self._output_ready.wait()
                self._output_ready.clear()
                await flush()
                # Every output sets the event, so when it is clear nothing is left to write.
                if session.finished and not self._output_ready.is_set():
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            structlog.get_logger("fingress.emulator.xmpp").debug(
                "xmpp_write_failed", error=type(error).__name__
            )
            with contextlib.suppress(Exception):
                session.connection_lost()
