"""The asyncio face of the XMPP client: one task per connection pumping a :class:`ClientSession`.

::

    connection = await XmppConnection.connect(
        account=XmppAccount(username="1001", domain="finesse-a.example", password=...),
        endpoint=XmppEndpoint(host="finesse-a.example"),        # wss://finesse-a.example:8445/ws/
        ssl_context=shared_context,                              # client_ssl_context(ca_file=...)
        on_event=handler,                                        # or iterate connection.events()
    )
    await connection.subscribe("/finesse/api/Team/5005/Users")
    outcome = await connection.wait_closed()                     # SessionFailed | SessionClosed
    await connection.close()

The pump task reads, feeds the session, sleeps only until the session's next deadline (one timer,
which interrupts the read), dispatches events and writes what the session produced. Requests from other
tasks queue output in the session and interrupt the read too, so only the pump ever writes. Per
connection: one task, one session, one link.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from xml.etree.ElementTree import Element

import structlog

from connector.xmpp import errors
from connector.xmpp.endpoint import XmppEndpoint
from connector.xmpp.errors import XmppError
from connector.xmpp.events import (
    IqError,
    IqResult,
    SessionClosed,
    SessionEstablished,
    SessionFailed,
    TerminalEvent,
    XmppEvent,
)
from connector.xmpp.framing import Framing, StreamFraming, WebSocketFraming
from connector.xmpp.session import ClientSession
from connector.xmpp.settings import SessionOptions, XmppAccount
from connector.xmpp.tls_pipe import ReadInterrupted
from connector.xmpp.tls_sessions import TlsSessionCache
from connector.xmpp.transport import Link, TlsLink, WebSocketLink

EventHandler = Callable[[XmppEvent], None]


class _EventBuffer:
    """Events for :meth:`XmppConnection.events`, bounded: a slow reader slows the pump (and so the
    socket), it never grows memory. The terminal event always fits."""

    def __init__(self, limit: int) -> None:
        self._items: deque[XmppEvent] = deque()
        self._limit = limit
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    async def put(self, event: XmppEvent, *, force: bool = False) -> None:
        while not force and len(self._items) >= self._limit:
            self._writable.clear()
            await self._writable.wait()
        self._items.append(event)
        self._readable.set()

    async def get(self) -> XmppEvent:
        while not self._items:
            self._readable.clear()
            await self._readable.wait()
        self._writable.set()
        return self._items.popleft()


async def _open_link(
    endpoint: XmppEndpoint,
    *,
    ssl_context: ssl.SSLContext,
    options: SessionOptions,
    tls_sessions: TlsSessionCache | None,
) -> tuple[Link, Framing]:
    if endpoint.transport == "tls":
        tls = await TlsLink.open(
            endpoint,
            ssl_context=ssl_context,
            timeout_s=options.establish_timeout_s,
            tls_sessions=tls_sessions,
        )
        return tls, StreamFraming(max_stanza_bytes=options.max_stanza_bytes, max_depth=options.max_depth)
    websocket = await WebSocketLink.open(
        endpoint,
        ssl_context=ssl_context,
        timeout_s=options.establish_timeout_s,
        close_timeout_s=options.close_timeout_s,
        max_message_bytes=options.max_stanza_bytes,
        tls_sessions=tls_sessions,
    )
    return websocket, WebSocketFraming(max_stanza_bytes=options.max_stanza_bytes, max_depth=options.max_depth)


def _error_for(outcome: TerminalEvent) -> XmppError:
    if isinstance(outcome, SessionClosed):
        return XmppError(errors.CONNECTION_LOST, "the server closed the stream")
    return XmppError(outcome.reason, outcome.text, condition=outcome.condition)


class XmppConnection:
    """An established XMPP session over WebSocket or direct TLS. Create with :meth:`connect`."""

    def __init__(
        self,
        *,
        session: ClientSession,
        link: Link,
        options: SessionOptions,
        on_event: EventHandler | None,
        max_buffered_events: int,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self._session = session
        self._link = link
        self._options = options
        self._on_event = on_event
        self._buffer = _EventBuffer(max_buffered_events) if on_event is None else None
        self._log = log
        self._loop = asyncio.get_running_loop()
        self._established: asyncio.Future[SessionEstablished | TerminalEvent] = self._loop.create_future()
        self._closed: asyncio.Future[TerminalEvent] = self._loop.create_future()
        self._waiters: dict[str, asyncio.Future[IqResult | IqError]] = {}
        # The pump's one deadline timer, re-armed only when the session's next deadline moves (most
        # received stanzas leave it where it was: a timer per stanza was ~4 % of the connector's CPU).
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._deadline_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._terminal_delivered = False

    def __repr__(self) -> str:
        return f"XmppConnection(jid={self._session.jid!r}, phase={self._session.phase.value})"

    @classmethod
    async def connect(
        cls,
        *,
        account: XmppAccount,
        endpoint: XmppEndpoint,
        ssl_context: ssl.SSLContext,
        options: SessionOptions | None = None,
        on_event: EventHandler | None = None,
        max_buffered_events: int = 256,
        tls_sessions: TlsSessionCache | None = None,
    ) -> XmppConnection:
        """Connect, authenticate, bind, send presence; return once the session is established.

        With ``tls_sessions`` (shared by a process's connections) the TLS handshake resumes the session
        of an earlier connection to the same endpoint when the server allows it.

        Events go to ``on_event`` (called in the pump task; it must not block or raise) or, without one,
        to :meth:`events`. Raises :class:`XmppError`: ``connect_failed``, ``timeout``, ``auth_failed``,
        ``stream_error``, ``refused`` or ``connection_lost``.
        """
        options = options or SessionOptions()
        log = structlog.get_logger("fingress.connector.xmpp").bind(
            jid=account.bare_jid, endpoint=endpoint.describe()
        )
        link, framing = await _open_link(
            endpoint, ssl_context=ssl_context, options=options, tls_sessions=tls_sessions
        )
        session = ClientSession(account=account, framing=framing, options=options)
        connection = cls(
            session=session,
            link=link,
            options=options,
            on_event=on_event,
            max_buffered_events=max_buffered_events,
            log=log,
        )
        session.start(connection._loop.time())
        connection._task = asyncio.create_task(connection._pump(), name=f"xmpp {account.bare_jid}")
        try:
            outcome = await asyncio.shield(connection._established)
        except asyncio.CancelledError:
            connection._task.cancel()
            raise
        if not isinstance(outcome, SessionEstablished):
            await connection.wait_closed()
            raise _error_for(outcome)
        return connection

    # ----------------------------------------------------------------- state

    @property
    def jid(self) -> str:
        """The full JID the server bound."""
        return self._session.jid

    @property
    def is_open(self) -> bool:
        return not self._closed.done()

    @property
    def outcome(self) -> TerminalEvent | None:
        """How the session ended, once it has."""
        return self._closed.result() if self._closed.done() else None

    async def wait_closed(self) -> TerminalEvent:
        """Wait until the session has ended and say how (never raises). This is how a caller learns
        that the link died: ``SessionFailed`` (with its reason) or ``SessionClosed``."""
        return await asyncio.shield(self._closed)

    async def events(self) -> AsyncIterator[XmppEvent]:
        """Every event in order, ending with the terminal one. Only without ``on_event``."""
        if self._buffer is None:
            raise RuntimeError("events go to on_event for this connection")
        while True:
            event = await self._buffer.get()
            yield event
            if isinstance(event, SessionFailed | SessionClosed):
                return

    # ----------------------------------------------------------------- requests

    async def subscribe(self, node: str, *, service: str = "") -> None:
        """Subscribe to a pubsub node (``pubsub.<domain>`` unless ``service``). Raises :class:`XmppError`
        (``refused`` with the server's condition, ``timeout``, ``not_established``)."""
        await self._request(lambda now: self._session.subscribe(node, now, service=service))

    async def unsubscribe(self, node: str, *, service: str = "") -> None:
        """Unsubscribe from a pubsub node. Raises like :meth:`subscribe`."""
        await self._request(lambda now: self._session.unsubscribe(node, now, service=service))

    async def ping(self, *, to: str = "") -> float:
        """A XEP-0199 ping to the server (or ``to``); returns the round trip in seconds."""
        # perf_counter, not loop.time(): uvloop's clock only moves once per loop iteration (1 ms steps).
        started = time.perf_counter()
        await self._request(lambda now: self._session.ping(now, to=to))
        return time.perf_counter() - started

    async def request(self, iq_type: str, payload: Element, *, to: str = "") -> Element | None:
        """Any iq ``get``/``set``; returns the answer element. Raises like :meth:`subscribe`."""
        result = await self._request(lambda now: self._session.send_iq(iq_type, payload, now, to=to))
        return result.element

    async def close(self) -> TerminalEvent:
        """Send unavailable presence and close the stream, then the link. Safe to call more than once."""
        task = self._task
        if task is not None and not task.done():
            self._session.close(self._loop.time())
            self._wake_pump()
            try:
                async with asyncio.timeout(self._options.close_timeout_s + 1.0):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()  # e.g. a reader of events() that stopped reading
                await asyncio.wait([task])
        return await self.wait_closed()

    async def _request(self, send: Callable[[float], str]) -> IqResult:
        if self._closed.done():
            raise XmppError(errors.NOT_ESTABLISHED, "the session has ended")
        iq_id = send(self._loop.time())
        waiter: asyncio.Future[IqResult | IqError] = self._loop.create_future()
        self._waiters[iq_id] = waiter
        try:
            self._wake_pump()
            answer = await waiter
        finally:
            self._waiters.pop(iq_id, None)
        if isinstance(answer, IqError):
            reason = errors.TIMEOUT if answer.timed_out else errors.REFUSED
            raise XmppError(reason, answer.text, condition=answer.condition)
        return answer

    # ----------------------------------------------------------------- the pump

    def _wake_pump(self) -> None:
        """Make the pump flush output and look at the deadlines now (it may be waiting for input)."""
        self._link.interrupt()

    def _arm_deadline(self, when: float | None) -> None:
        """Have the pump woken at ``when`` (the session's next deadline; ``None``: no deadline)."""
        if when == self._deadline_at and self._deadline_timer is not None:
            return
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._deadline_at = when
        self._deadline_timer = None if when is None else self._loop.call_at(when, self._deadline_reached)

    def _deadline_reached(self) -> None:
        self._deadline_timer = None
        self._link.interrupt()

    async def _pump(self) -> None:
        session = self._session
        try:
            await self._flush()
            while not session.finished:
                self._arm_deadline(session.wake_at())
                try:
                    # Idle between notifications, the pump waits on one future, not inside the link.
                    if (waiter := self._link.input_waiter()) is not None:
                        await waiter
                    data = await self._link.receive()
                except ReadInterrupted:
                    pass  # a deadline, or a request from another task: tick and flush below
                except XmppError as error:
                    failure = SessionFailed(error.reason, error.condition, error.detail)
                    session.connection_lost(self._loop.time(), failure=failure)
                else:
                    if data is None:
                        session.connection_lost(self._loop.time())
                    else:
                        session.receive_data(data, self._loop.time())
                session.tick(self._loop.time())
                await self._dispatch()
                await self._flush()
        except Exception as error:
            self._log.exception("xmpp_pump_failed")
            self._record_end(SessionFailed(errors.INTERNAL_ERROR, "", type(error).__name__))
        finally:
            self._arm_deadline(None)
            await self._finish()

    async def _flush(self) -> None:
        while pieces := self._session.data_to_send():
            try:
                # A peer that stopped reading would hold the pump here, where no ping timeout can fire.
                async with asyncio.timeout(self._options.ping_timeout_s):
                    await self._link.send(pieces)
            except TimeoutError:
                text = f"could not write for {self._options.ping_timeout_s:g} s"
                failure = SessionFailed(errors.TIMEOUT, "connection-timeout", text)
            except XmppError as error:
                failure = SessionFailed(error.reason, error.condition, error.detail)
            else:
                continue
            self._session.connection_lost(self._loop.time(), failure=failure)
            await self._dispatch()
            return

    async def _dispatch(self) -> None:
        for event in self._session.events_received():
            if isinstance(event, IqResult | IqError) and (waiter := self._waiters.get(event.iq_id)):
                if not waiter.done():
                    waiter.set_result(event)
                continue
            if isinstance(event, SessionEstablished):
                self._log.info("xmpp_session_established", full_jid=event.jid)
                self._established.set_result(event)
            elif isinstance(event, SessionFailed | SessionClosed):
                self._record_end(event)
            await self._deliver(event)

    async def _deliver(self, event: XmppEvent) -> None:
        self._terminal_delivered = self._terminal_delivered or isinstance(
            event, SessionFailed | SessionClosed
        )
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                # A handler bug must not take the agent's link down with it.
                self._log.exception("xmpp_event_handler_failed", event_type=type(event).__name__)
        elif self._buffer is not None:
            await self._buffer.put(event, force=isinstance(event, SessionFailed | SessionClosed))

    def _record_end(self, event: TerminalEvent) -> None:
        if self._closed.done():
            return
        if isinstance(event, SessionFailed):
            self._log.info(
                "xmpp_session_failed", reason=event.reason, condition=event.condition, text=event.text
            )
        else:
            self._log.info("xmpp_session_closed", by_peer=event.by_peer)
        self._closed.set_result(event)
        if not self._established.done():
            self._established.set_result(event)
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(_error_for(event))

    async def _finish(self) -> None:
        """However the pump ended (the session ended, or a cancel): close the link and tell everyone."""
        try:
            await self._link.aclose()
        finally:
            if not self._closed.done():
                self._record_end(SessionClosed(by_peer=False))  # cancelled
            if not self._terminal_delivered:  # ended by a cancel or a bug: the consumer still hears of it
                await self._deliver(self._closed.result())
