"""TLS session resumption in TlsPipe: a later connection to the same endpoint resumes the session an
earlier one got, and a session is never offered anywhere else. Real TLS servers on loopback (the test
CA's certificates), on both event loops."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trustme

from connector.xmpp.tls_pipe import TlsPipe
from connector.xmpp.tls_sessions import TlsSessionCache
from tests.support.streams import stream_server
from tests.support.timing import seconds


class Server:
    """A TLS server on loopback whose certificate and ticket keys can change under the same port: each
    connection starts TLS with whatever :attr:`context` is at that moment, and reads a greeting (the
    client's first read is where TLS 1.3 tickets arrive)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.port = 0

    async def greet(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(self.context)
            writer.write(b"hello")
            await writer.drain()
        except (ssl.SSLError, OSError):
            writer.close()  # the client refused the certificate


@asynccontextmanager
async def serving(context: ssl.SSLContext) -> AsyncIterator[Server]:
    server = Server(context)
    async with stream_server(server.greet) as port:
        server.port = port
        yield server


def _server_context(cert: trustme.LeafCert, *, tickets: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    if not tickets:
        context.options |= ssl.OP_NO_TICKET
        context.num_tickets = 0
    return context


async def _connect(
    port: int,
    client: ssl.SSLContext,
    sessions: TlsSessionCache | None,
    *,
    name: str = "localhost",
) -> bool:
    """One connection that reads the greeting; whether its handshake resumed a session."""
    async with asyncio.timeout(seconds(5)):
        pipe = await TlsPipe.connect(
            "127.0.0.1", port, ssl_context=client, server_hostname=name, tls_sessions=sessions
        )
        try:
            assert await pipe.read() == b"hello"
            return pipe.session_reused
        finally:
            pipe.close()


async def test_the_second_connection_resumes_the_first_ones_session(
    server_cert: trustme.LeafCert, client_ssl_context: ssl.SSLContext
) -> None:
    sessions = TlsSessionCache(client_ssl_context)
    async with serving(_server_context(server_cert)) as server:
        assert await _connect(server.port, client_ssl_context, sessions) is False
        resumed = [await _connect(server.port, client_ssl_context, sessions) for _ in range(3)]
        assert resumed == [True, True, True]


async def test_without_a_cache_every_handshake_is_full(
    server_cert: trustme.LeafCert, client_ssl_context: ssl.SSLContext
) -> None:
    async with serving(_server_context(server_cert)) as server:
        assert [await _connect(server.port, client_ssl_context, None) for _ in range(2)] == [False, False]


async def test_a_session_is_offered_only_to_the_endpoint_it_was_verified_for(
    server_cert: trustme.LeafCert, client_ssl_context: ssl.SSLContext
) -> None:
    sessions = TlsSessionCache(client_ssl_context)
    context = _server_context(server_cert)  # one server context: it would resume anything it issued
    async with serving(context) as first, serving(context) as second:
        await _connect(first.port, client_ssl_context, sessions, name="localhost")
        # Same server key and certificate, another port or another checked name: not offered.
        assert await _connect(second.port, client_ssl_context, sessions, name="localhost") is False
        assert await _connect(first.port, client_ssl_context, sessions, name="127.0.0.1") is False
        assert await _connect(first.port, client_ssl_context, sessions, name="localhost") is True


async def test_a_session_is_offered_only_with_the_context_that_verified_it(
    server_cert: trustme.LeafCert, client_ssl_context: ssl.SSLContext, ca: trustme.CA
) -> None:
    sessions = TlsSessionCache(client_ssl_context)
    reloaded = ssl.create_default_context()
    ca.configure_trust(reloaded)
    async with serving(_server_context(server_cert)) as server:
        await _connect(server.port, client_ssl_context, sessions)
        assert await _connect(server.port, reloaded, sessions) is False  # a reloaded trust store: afresh
        assert sessions.session_for(("127.0.0.1", server.port, "localhost"), reloaded) is None
        assert await _connect(server.port, client_ssl_context, sessions) is True


async def test_a_server_without_tickets_gets_full_handshakes_and_nothing_is_kept(
    server_cert: trustme.LeafCert, client_ssl_context: ssl.SSLContext
) -> None:
    sessions = TlsSessionCache(client_ssl_context)
    async with serving(_server_context(server_cert, tickets=False)) as server:
        assert [await _connect(server.port, client_ssl_context, sessions) for _ in range(2)] == [False, False]
        assert sessions.session_for(("127.0.0.1", server.port, "localhost"), client_ssl_context) is None


async def test_a_ticket_the_server_no_longer_accepts_falls_back_to_a_full_handshake(
    server_cert: trustme.LeafCert, client_ssl_context: ssl.SSLContext
) -> None:
    """The server restarted (new ticket keys, same certificate): the old session is refused, the
    handshake is full and succeeds, and its new session replaces the old one."""
    sessions = TlsSessionCache(client_ssl_context)
    async with serving(_server_context(server_cert)) as server:
        await _connect(server.port, client_ssl_context, sessions)
        endpoint = ("127.0.0.1", server.port, "localhost")
        old = sessions.session_for(endpoint, client_ssl_context)
        server.context = _server_context(server_cert)
        assert await _connect(server.port, client_ssl_context, sessions) is False
        new = sessions.session_for(endpoint, client_ssl_context)
        assert old is not None
        assert new is not None
        assert new != old
        assert await _connect(server.port, client_ssl_context, sessions) is True


async def test_a_failed_handshake_with_an_offered_session_forgets_it_and_still_checks_the_certificate(
    server_cert: trustme.LeafCert, client_ssl_context: ssl.SSLContext
) -> None:
    """The endpoint now presents a certificate from a CA the client does not trust: having a session for
    it changes nothing (not resumed: new keys), verification fails as without one, the session is dropped."""
    sessions = TlsSessionCache(client_ssl_context)
    async with serving(_server_context(server_cert)) as server:
        await _connect(server.port, client_ssl_context, sessions)
        endpoint = ("127.0.0.1", server.port, "localhost")
        assert sessions.session_for(endpoint, client_ssl_context) is not None
        server.context = _server_context(trustme.CA().issue_cert("localhost"))
        with pytest.raises(ssl.SSLCertVerificationError):
            await _connect(server.port, client_ssl_context, sessions)
        assert sessions.session_for(endpoint, client_ssl_context) is None


async def test_the_cache_keeps_a_bounded_number_of_endpoints(
    server_cert: trustme.LeafCert, client_ssl_context: ssl.SSLContext
) -> None:
    """The least recently kept endpoint goes first."""
    sessions = TlsSessionCache(client_ssl_context, max_endpoints=1)
    context = _server_context(server_cert)
    async with serving(context) as first, serving(context) as second:
        await _connect(first.port, client_ssl_context, sessions)
        await _connect(second.port, client_ssl_context, sessions)
        assert await _connect(first.port, client_ssl_context, sessions) is False
        assert await _connect(first.port, client_ssl_context, sessions) is True
