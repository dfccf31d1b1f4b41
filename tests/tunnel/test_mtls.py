"""Mutual TLS and the identity allow list on the real listener, and hostile peers after TLS."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from connector.tunnel.client import TunnelClient
from connector.tunnel.dial import DialFailed, dial
from edge.relay.relay import TunnelRelay
from edge.tunnel.errors import ConfigError
from edge.tunnel.protocol import ConnectorSide
from tests.support.timing import seconds
from tests.tunnel.conftest import CONNECTOR_NAME, Tunnel, connector_context
from tests.tunnel.fakes import EchoService


async def dial_with(context: ssl.SSLContext, url: str) -> None:
    async with asyncio.timeout(seconds(5)):
        connection = await dial(
            url,
            ssl_context=context,
            open_timeout_s=seconds(3),
            max_frame_bytes=1 << 20,
            keepalive_interval_s=10,
            keepalive_timeout_s=10,
        )
        await connection.close()


async def test_allowed_connector_gets_through(tunnel: Tunnel) -> None:
    await dial_with(tunnel.connector_ssl, tunnel.url)


async def test_no_client_certificate_is_refused(tunnel: Tunnel, ca: trustme.CA) -> None:
    with pytest.raises(DialFailed) as caught:
        await dial_with(connector_context(ca, None), tunnel.url)
    # Under TLS 1.3 the client learns of the rejection only when it reads: a broken handshake.
    assert caught.value.reason in {"handshake", "tls", "network"}
    assert tunnel.relay.stats.connections_accepted == 0


async def test_certificate_from_another_ca_is_refused(tunnel: Tunnel, ca: trustme.CA) -> None:
    stranger = trustme.CA().issue_cert(CONNECTOR_NAME)
    with pytest.raises(DialFailed) as caught:
        await dial_with(connector_context(ca, stranger), tunnel.url)
    assert caught.value.reason in {"handshake", "tls", "network"}
    assert tunnel.relay.stats.connections_accepted == 0


async def test_unknown_identity_is_refused_with_403(tunnel: Tunnel, ca: trustme.CA) -> None:
    intruder = ca.issue_cert("intruder.fingress.test")
    with pytest.raises(DialFailed) as caught:
        await dial_with(connector_context(ca, intruder), tunnel.url)
    assert caught.value.reason == "refused"
    assert "403" in caught.value.detail
    assert tunnel.relay.stats.connections_refused == 1


async def test_identity_may_be_the_subject_common_name(
    make_relay: Callable[..., TunnelRelay], ca: trustme.CA
) -> None:
    relay = make_relay(allowed_identities={"connector-by-cn"})
    await relay.start()
    leaf = ca.issue_cert(common_name="connector-by-cn")
    await dial_with(connector_context(ca, leaf), f"wss://localhost:{relay.port}/tunnel")


async def test_edge_certificate_from_an_untrusted_ca_is_refused_by_the_connector(
    tunnel: Tunnel, connector_cert: trustme.LeafCert
) -> None:
    with pytest.raises(DialFailed) as caught:
        await dial_with(connector_context(trustme.CA(), connector_cert), tunnel.url)
    assert caught.value.reason == "edge_certificate"


async def test_wrong_path_is_refused(tunnel: Tunnel) -> None:
    with pytest.raises(DialFailed) as caught:
        await dial_with(tunnel.connector_ssl, tunnel.url.replace("/tunnel", "/other"))
    assert caught.value.reason == "refused"


async def test_version_mismatch_is_refused_clearly(tunnel: Tunnel) -> None:
    future = ConnectorSide(connector_id="from-the-future", versions=(7,))
    async with asyncio.timeout(seconds(5)), connect(tunnel.url, ssl=tunnel.connector_ssl, proxy=None) as ws:
        for frame in future.data_to_send():
            await ws.send(frame, text=True)
        answer = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert answer["type"] == "error"
    assert answer["code"] == "version_mismatch"
    assert ws.close_code == 1002
    assert not tunnel.relay.ready


@pytest.mark.parametrize(
    "garbage",
    [b"\x00\xff", "not json", "[]", '{"type":"hello"}', '{"type":"request","sid":1}', "{" * 100_000],
)
async def test_garbage_from_an_authenticated_peer_closes_only_that_connection(
    tunnel: Tunnel, garbage: str | bytes
) -> None:
    await tunnel.client(connections=1).start()
    await tunnel.connected(1)
    async with asyncio.timeout(seconds(5)), connect(tunnel.url, ssl=tunnel.connector_ssl, proxy=None) as ws:
        await ws.send(garbage)
        answer = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert answer["type"] == "error"
    assert answer["code"] in {"malformed_frame", "unknown_frame", "handshake_required"}
    assert ws.close_code == 1002
    assert tunnel.relay.ready  # the good connector is still served
    assert tunnel.relay.stats.protocol_errors == 1


@pytest.mark.parametrize(
    "message",
    [
        b'{"type":"ping","nonce":"\xff"}',
        b'{"type":"ping","nonce":"\xed\xa0\x80"}',
        b'{"type":"ping","nonce":"\\ud800"}',
    ],
    ids=["invalid-utf8", "encoded-surrogate", "escaped-lone-surrogate"],
)
async def test_a_text_message_that_is_not_unicode_is_a_malformed_frame_after_the_handshake(
    tunnel: Tunnel, message: bytes
) -> None:
    # Past the handshake the frame pump hands the message's bytes to the decoder, which refuses them
    # itself (websockets would have closed with 1007 on its own, without telling the peer why).
    connector = ConnectorSide(connector_id=CONNECTOR_NAME)
    async with asyncio.timeout(seconds(5)), connect(tunnel.url, ssl=tunnel.connector_ssl, proxy=None) as ws:
        for frame in connector.data_to_send():
            await ws.send(frame, text=True)
        connector.receive_message(await ws.recv(decode=False))
        assert connector.is_open
        await ws.send(message, text=True)
        answer = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert (answer["type"], answer["code"]) == ("error", "malformed_frame")
    assert ws.close_code == 1002
    assert tunnel.relay.stats.protocol_errors == 1


async def test_frames_are_bounded(
    make_relay: Callable[..., TunnelRelay], connector_ssl: ssl.SSLContext
) -> None:
    relay = make_relay(max_frame_bytes=4096)
    await relay.start()
    async with (
        asyncio.timeout(seconds(5)),
        connect(f"wss://localhost:{relay.port}/tunnel", ssl=connector_ssl, proxy=None) as ws,
    ):
        await ws.send("x" * 10_000)
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1009  # message too big, enforced by the WebSocket layer


def test_listener_refuses_a_context_without_client_verification(server_ssl_context: ssl.SSLContext) -> None:
    with pytest.raises(ConfigError, match="CERT_REQUIRED"):
        TunnelRelay(ssl_context=server_ssl_context, allowed_identities={"x"})


def test_client_refuses_plain_urls_and_unverified_edges(connector_ssl: ssl.SSLContext) -> None:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with pytest.raises(ConfigError) as caught:
        TunnelClient(
            urls=["ws://edge:8444/tunnel"], ssl_context=unverified, service=EchoService(), connector_id="c"
        )
    assert {path for path, _ in caught.value.problems} == {"urls", "ssl_context"}
