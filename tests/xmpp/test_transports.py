"""The asyncio transports against scripted servers on loopback: dead links, drops, hostile servers,
refused connections and timeouts, over real TLS and real WebSocket connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any
from xml.etree.ElementTree import Element

import pytest

from connector.xmpp import errors
from connector.xmpp.connection import XmppConnection
from connector.xmpp.endpoint import TransportKind, XmppEndpoint
from connector.xmpp.errors import XmppError
from connector.xmpp.events import PubsubItemReceived, SessionClosed, SessionFailed
from connector.xmpp.settings import SessionOptions
from tests.support.timing import seconds
from tests.xmpp import transcripts as t
from tests.xmpp.scripted import BIG_TEXT, Behaviour, ScriptedServer, tls_server, websocket_server

TRANSPORTS: list[TransportKind] = ["websocket", "tls"]
# Keep-alive pings at the default 20 s: no test sees a ping it did not ask for.
QUICK = SessionOptions(close_timeout_s=seconds(0.3), establish_timeout_s=seconds(2))
# Pings every 50 ms, and a link taken for dead 200 ms after an unanswered one.
DEAD_LINK = SessionOptions(
    ping_interval_s=seconds(0.05), ping_timeout_s=seconds(0.2), close_timeout_s=seconds(0.3)
)
# Pings every 50 ms, with a timeout no loaded machine reaches when the server answers.
KEEPALIVE = SessionOptions(
    ping_interval_s=seconds(0.05), ping_timeout_s=seconds(3), close_timeout_s=seconds(0.3)
)


def scripted(
    transport: TransportKind,
) -> Callable[..., contextlib.AbstractAsyncContextManager[ScriptedServer]]:
    return websocket_server if transport == "websocket" else tls_server


async def connect(
    server: ScriptedServer, context: ssl.SSLContext, options: SessionOptions = QUICK, **kwargs: Any
) -> XmppConnection:
    assert server.endpoint is not None
    async with asyncio.timeout(seconds(5)):
        return await XmppConnection.connect(
            account=t.account(), endpoint=server.endpoint, ssl_context=context, options=options, **kwargs
        )


@contextlib.asynccontextmanager
async def connected(
    transport: TransportKind,
    behaviour: Behaviour,
    server_context: ssl.SSLContext,
    client_context: ssl.SSLContext,
    options: SessionOptions = QUICK,
) -> AsyncIterator[tuple[ScriptedServer, XmppConnection]]:
    async with scripted(transport)(behaviour, server_context) as server:
        connection = await connect(server, client_context, options)
        try:
            yield server, connection
        finally:
            async with asyncio.timeout(seconds(5)):
                await connection.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_unanswered_pings_mean_a_dead_link(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with connected(transport, "silent", server_ssl_context, client_ssl_context, DEAD_LINK) as (
        server,
        connection,
    ):
        async with asyncio.timeout(seconds(5)):
            outcome = await connection.wait_closed()
        assert isinstance(outcome, SessionFailed)
        assert (outcome.reason, outcome.condition) == (errors.TIMEOUT, "connection-timeout")
        assert '<ping xmlns="urn:xmpp:ping"/>' in server.text
        async with asyncio.timeout(seconds(5)):
            await server.disconnected.wait()  # and the link was closed


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_answered_pings_keep_the_link_up(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with connected(transport, "pong", server_ssl_context, client_ssl_context, KEEPALIVE) as (
        server,
        connection,
    ):
        async with asyncio.timeout(seconds(5)):
            # A ping goes out only once the previous one was answered: three means answers are matched.
            await server.three_pings_answered.wait()
        assert connection.is_open
        assert server.text.count('<ping xmlns="urn:xmpp:ping"/>') >= 3


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_dropped_connection_is_reported(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with connected(transport, "drop", server_ssl_context, client_ssl_context) as (_, connection):
        async with asyncio.timeout(seconds(5)):
            outcome = await connection.wait_closed()
        assert isinstance(outcome, SessionFailed)
        assert outcome.reason == errors.CONNECTION_LOST


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_hostile_server_gets_a_stream_error_and_the_session_ends(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with connected(transport, "hostile", server_ssl_context, client_ssl_context) as (
        server,
        connection,
    ):
        async with asyncio.timeout(seconds(5)):
            outcome = await connection.wait_closed()
            await server.disconnected.wait()
        assert isinstance(outcome, SessionFailed)
        assert outcome.reason == errors.STREAM_ERROR
        assert outcome.condition in ("restricted-xml", "not-well-formed")
        assert f'<{outcome.condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>' in server.text


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_events_iterator_ends_with_the_terminal_event(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with connected(transport, "drop", server_ssl_context, client_ssl_context) as (_, connection):
        async with asyncio.timeout(seconds(5)):
            seen = [event async for event in connection.events()]
        assert isinstance(seen[-1], SessionFailed)
        assert seen[0].__class__.__name__ == "SessionEstablished"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_server_that_never_speaks_times_out(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted(transport)("mute", server_ssl_context) as server:
        options = SessionOptions(establish_timeout_s=seconds(0.2))
        with pytest.raises(XmppError) as raised:
            await connect(server, client_ssl_context, options)
        assert (raised.value.reason, raised.value.condition) == (errors.TIMEOUT, "connection-timeout")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_close_does_not_wait_for_a_server_that_never_closes(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    options = SessionOptions(close_timeout_s=seconds(0.2))
    async with scripted(transport)("silent", server_ssl_context) as server:
        connection = await connect(server, client_ssl_context, options)
        async with asyncio.timeout(seconds(3)):
            assert await connection.close() == SessionClosed(by_peer=False)
            await server.disconnected.wait()
        assert server.text.rstrip().endswith(
            ('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>', "</stream:stream>")
        )
        assert '<presence type="unavailable"' in server.text or '" type="unavailable"/>' in server.text


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_closed_port_is_a_connect_failure(
    transport: TransportKind, client_ssl_context: ssl.SSLContext
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        endpoint = XmppEndpoint(host="127.0.0.1", port=port, transport=transport)
        with pytest.raises(XmppError) as raised:
            async with asyncio.timeout(seconds(5)):
                await XmppConnection.connect(
                    account=t.account(), endpoint=endpoint, ssl_context=client_ssl_context
                )
    assert raised.value.reason == errors.CONNECT_FAILED
    assert isinstance(raised.value.__cause__, OSError)
    assert t.PASSWORD not in str(raised.value)


async def test_a_websocket_server_without_the_xmpp_subprotocol_is_refused(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with websocket_server("silent", server_ssl_context, subprotocol=None) as server:
        with pytest.raises(XmppError) as raised:
            await connect(server, client_ssl_context)
    assert raised.value.reason == errors.CONNECT_FAILED
    assert "xmpp" in raised.value.detail


async def test_a_tls_endpoint_that_is_not_websocket_is_a_connect_failure(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with tls_server("mute", server_ssl_context) as server:
        assert server.endpoint is not None
        as_websocket = XmppEndpoint(host="127.0.0.1", port=server.endpoint.port, server_hostname="localhost")
        with pytest.raises(XmppError) as raised:
            async with asyncio.timeout(seconds(5)):
                await XmppConnection.connect(
                    account=t.account(),
                    endpoint=as_websocket,
                    ssl_context=client_ssl_context,
                    options=SessionOptions(establish_timeout_s=seconds(0.3)),
                )
    assert raised.value.reason in (errors.CONNECT_FAILED, errors.TIMEOUT)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_failing_event_handler_does_not_take_the_link_down(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    calls: list[str] = []

    def handler(event: object) -> None:
        calls.append(type(event).__name__)
        raise RuntimeError("bug in the session layer")

    async with scripted(transport)("drop", server_ssl_context) as server:
        connection = await connect(server, client_ssl_context, on_event=handler)
        async with asyncio.timeout(seconds(5)):
            outcome = await connection.wait_closed()
    assert isinstance(outcome, SessionFailed)
    assert calls == ["SessionEstablished", "SessionFailed"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cancelling_connect_leaves_nothing_running(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted(transport)("mute", server_ssl_context) as server:
        before = len(asyncio.all_tasks())
        attempt = asyncio.create_task(connect(server, client_ssl_context, SessionOptions()))
        await asyncio.sleep(0)  # let it start: the cancel must reach an attempt in progress
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        async with asyncio.timeout(seconds(5)):
            while len(asyncio.all_tasks()) > before:
                await asyncio.sleep(0)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_stanzas_larger_than_a_tls_record_arrive_whole(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with connected(transport, "big", server_ssl_context, client_ssl_context) as (_, connection):
        items: list[PubsubItemReceived] = []
        async with asyncio.timeout(seconds(5)):
            async for event in connection.events():
                if isinstance(event, PubsubItemReceived):
                    items.append(event)
                if len(items) == 2:
                    break
        assert [item.notification_text for item in items] == [BIG_TEXT, BIG_TEXT]
        assert connection.is_open


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_server_that_hangs_up_during_the_tls_handshake_is_a_connect_failure(
    transport: TransportKind, client_ssl_context: ssl.SSLContext
) -> None:
    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def plaintext(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # not TLS at all
        await writer.drain()
        writer.close()

    for handler in (hang_up, plaintext):
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            endpoint = XmppEndpoint(
                host="127.0.0.1", port=port, transport=transport, server_hostname="localhost"
            )
            with pytest.raises(XmppError) as raised:
                async with asyncio.timeout(seconds(5)):
                    await XmppConnection.connect(
                        account=t.account(), endpoint=endpoint, ssl_context=client_ssl_context
                    )
            assert raised.value.reason == errors.CONNECT_FAILED


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_close_ends_the_session_even_when_nobody_reads_events(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    async with scripted(transport)("big", server_ssl_context) as server:
        # Room for one event: once an item arrives the pump waits for a reader that never comes.
        connection = await connect(server, client_ssl_context, max_buffered_events=1)
        async with asyncio.timeout(seconds(5)):
            await server.logged_in.wait()
            assert await connection.close() == SessionClosed(by_peer=False)
            seen = [event async for event in connection.events()]
        assert seen[0].__class__.__name__ == "SessionEstablished"
        assert seen[-1] == SessionClosed(by_peer=False)
        assert len(seen) <= 4  # bounded: never more than the buffer, the blocked event and the end


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_stanza_over_the_size_limit_is_a_policy_violation_on_both_transports(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    options = SessionOptions(max_stanza_bytes=64 * 1024, establish_timeout_s=seconds(2))
    async with scripted(transport)("big", server_ssl_context) as server:
        connection = await connect(server, client_ssl_context, options)
        async with asyncio.timeout(seconds(5)):
            outcome = await connection.wait_closed()
    assert isinstance(outcome, SessionFailed)
    assert (outcome.reason, outcome.condition) == (errors.STREAM_ERROR, "policy-violation")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_peer_that_stops_reading_ends_the_session_when_writes_stall(
    transport: TransportKind, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    # No keep-alive ping in the test's time: only the stalled write can notice.
    options = SessionOptions(ping_interval_s=60, ping_timeout_s=seconds(0.3), close_timeout_s=seconds(0.3))
    payload = Element("{urn:example:bulk}data")
    payload.text = "x" * 65536
    async with connected(transport, "deaf", server_ssl_context, client_ssl_context, options) as (
        _,
        connection,
    ):
        requests: list[asyncio.Task[object]] = []
        async with asyncio.timeout(seconds(10)):
            while connection.is_open and len(requests) < 400:  # 25 MiB: far more than loopback buffers
                requests.append(asyncio.create_task(connection.request("set", payload)))
                await asyncio.sleep(0)
            outcome = await connection.wait_closed()
            answers = await asyncio.gather(*requests, return_exceptions=True)
        assert isinstance(outcome, SessionFailed)
        assert (outcome.reason, outcome.condition) == (errors.TIMEOUT, "connection-timeout")
        assert outcome.text.startswith("could not write")
        assert all(isinstance(answer, XmppError) for answer in answers)
