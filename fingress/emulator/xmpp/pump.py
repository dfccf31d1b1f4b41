"""Running one connection: read into the framing, write what the session produces, stop when it ends.

Shared by both transports; they supply ``receive`` (read once and feed the framing, ``False`` at the end
of input) and ``flush`` (write what is pending, waiting for the peer as backpressure requires), and may
supply ``write_now``: write what is pending without waiting, if the peer takes it.

With ``write_now`` a notification leaves as soon as the session queues it, as Finesse sends one, instead
of when the writer task next runs: after every other notification published in the same loop iteration
(a call-data batch is dozens), and for the price of a task wake-up each.
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
        self._write_now: Callable[[], bool] | None = None
        # The writer waits for output (nothing of the session's is pending in the transport).
        self._writer_idle = False

    def wake(self) -> None:
        """The session has output (or has finished)."""
        if self._session is not None and self._session.finished:
            self._output_ready.set()  # the writer flushes the last output and ends
            self._session_finished.set()
            return
        if self._writer_idle and self._write_now is not None:
            # A failure here is left to the writer, which meets it again and ends the session.
            with contextlib.suppress(Exception):
                if self._write_now():
                    return
        self._output_ready.set()

    async def run(
        self,
        *,
        session: ServerSession,
        receive: Callable[[], Awaitable[bool]],
        flush: Callable[[], Awaitable[None]],
        write_now: Callable[[], bool] | None = None,
    ) -> None:
        """Pump until the session finished and its last output went out (or ``close_timeout_s`` passed:
        a client that does not read its stream error does not hold the connection open). ``write_now``
        returns whether everything pending was written; when not, the rest is ``flush``'s."""
        self._session = session
        self._write_now = write_now
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
                self._writer_idle = True
                try:
                    await self._output_ready.wait()
                finally:
                    self._writer_idle = False
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
