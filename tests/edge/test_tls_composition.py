"""The edge composed with the TLS engineer's reloadable context: a policy reload that changes the
certificate paths reaches new handshakes while an open event socket stays up; a bad certificate path
vetoes the whole reload. And a graceful stop closes event sockets instead of hanging."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edge.config import AdminListener, EdgeConfig, Listener, ServerLimits
from edge.server import EdgeServer
from edge.tls import ReloadableServerContext, TlsPolicyParticipant
from tests.edge.conftest import policy_data, render_toml
from tests.edge.fakes import FakeUpstream
from tests.edge.servers import IdentityProvider
from tests.support.timing import seconds


def _write_pair(cert: trustme.LeafCert, folder: Path, name: str) -> tuple[Path, Path]:
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return cert_file, key_file


async def _served_fingerprint(port: int, client: ssl.SSLContext) -> str:
    _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    return hashlib.sha256(der).hexdigest()


async def test_policy_reload_rotates_the_certificate_and_keeps_open_sockets(
    idp: IdentityProvider, ca: trustme.CA, ca_file: Path, tmp_path: Path, client_ssl_context: ssl.SSLContext
) -> None:
    first = _write_pair(ca.issue_cert("127.0.0.1", "localhost"), tmp_path, "first")
    second = _write_pair(ca.issue_cert("127.0.0.1", "localhost"), tmp_path, "second")
    tls = ReloadableServerContext(cert_file=first[0], key_file=first[1])
    policy_path = tmp_path / "policy.toml"

    def write_policy(pair: tuple[Path, Path], **extra: Any) -> None:
        tls_section = {"cert_file": str(pair[0]), "key_file": str(pair[1])}
        policy_path.write_text(render_toml(policy_data(idp, ca_file, tls=tls_section, **extra)))

    write_policy(first)
    upstream = FakeUpstream()
    config = EdgeConfig(
        policy_file=policy_path,
        policy_poll_s=60,
        public=Listener(host="127.0.0.1", port=0),
        admin=AdminListener(host="127.0.0.1", port=0),
        server=ServerLimits(graceful_shutdown_s=1),
    )
    server = EdgeServer(
        config=config,
        upstream=upstream,
        ssl_context_factory=tls.context_factory,
        participants=(TlsPolicyParticipant(tls=tls),),
    )
    async with server, asyncio.timeout(seconds(15)):
        port = server.public_port
        url = f"wss://127.0.0.1:{port}/api/v1/events"
        headers = {"authorization": f"Bearer {idp.mint()}"}
        before = await _served_fingerprint(port, client_ssl_context)
        async with connect(url, ssl=client_ssl_context, additional_headers=headers, proxy=None) as ws:
            stream = await upstream.opened.get()
            write_policy(second)
            assert (await server.policy.reload(trigger="test")).applied
            after = await _served_fingerprint(port, client_ssl_context)
            assert after != before
            stream.push(1, "agent.updated")
            assert '"seq": 1' in await ws.recv()

            write_policy((tmp_path / "missing.pem", second[1]), http={"allow": ["GET /api/v1/agent"]})
            outcome = await server.policy.reload(trigger="test")
            assert not outcome.applied
            assert outcome.error is not None
            assert await _served_fingerprint(port, client_ssl_context) == after
            assert len(server.policy.current.policy.http.allow) == 12


async def test_stop_closes_open_event_sockets(make_edge: Any, client_ssl_context: ssl.SSLContext) -> None:
    edge = await make_edge()
    async with asyncio.timeout(seconds(10)):
        async with connect(
            edge.ws_url, ssl=client_ssl_context, additional_headers=edge.auth(), proxy=None
        ) as ws:
            stream = await edge.upstream.opened.get()
            await edge.client.aclose()
            await edge.admin.aclose()
            await edge.server.stop()
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code in (1001, 1012)
        assert stream.closed.is_set()
