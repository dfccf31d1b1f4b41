"""Benchmark (not a test): requests per second and latency through the whole public chain — TLS, request
id, access log, security headers, allow list, IP and agent rate limits (memory), cached JWT verification,
body validation — to a stub upstream that answers at once.

    .venv/bin/python -m tests.edge.bench_public_api [--connections 32] [--seconds 5] [--loop uvloop]

The edge and the client share one process and loop: by default the edge's own (``fingress.loops.EDGE_LOOP``).
A minimal keep-alive HTTP/1.1 client on raw asyncio TLS streams drives it (httpx's pool would be the
bottleneck, see LAB-NOTES). Logging is switched off so the numbers are the app's, not the console's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import structlog
import trustme

from edge.config import AdminListener, EdgeConfig, Listener
from edge.server import EdgeServer
from edge.tunnel.messages import TunnelRequest, TunnelResponse
from fingress.loops import EDGE_LOOP, LOOPS, run_on
from tests.edge.conftest import policy_data, render_toml
from tests.edge.fakes import FakeUpstream
from tests.edge.servers import IdentityProvider, serve


async def _answer(request: TunnelRequest) -> TunnelResponse:
    return TunnelResponse(200, {"content-type": "application/json"}, b'{"state":"READY"}')


async def _client(
    port: int, context: ssl.SSLContext, request: bytes, stop_at: float, latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        latencies.append(time.perf_counter() - started)
    writer.close()


async def main(connections: int, seconds: float, method: str, path: str, body: bytes) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    idp = IdentityProvider()
    with tempfile.TemporaryDirectory() as folder:
        ca_file = Path(folder) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        async with serve(idp.app(), ssl_context=server_context) as idp_port:
            idp.base_url = f"https://127.0.0.1:{idp_port}"
            policy = Path(folder) / "policy.toml"
            policy.write_text(
                render_toml(
                    policy_data(
                        idp,
                        ca_file,
                        rate_limits={"per_ip": "100000000/minute", "per_agent": "100000000/minute"},
                    )
                )
            )
            config = EdgeConfig(
                policy_file=policy,
                public=Listener(host="127.0.0.1", port=0),
                admin=AdminListener(host="127.0.0.1", port=0),
            )
            server = EdgeServer(
                config=config,
                upstream=FakeUpstream(handler=_answer),
                ssl_context_factory=lambda: server_context,
            )
            async with server:
                head = f"{method} {path} HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {idp.mint()}\r\n"
                if body:
                    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                request = head.encode() + b"\r\n" + body
                latencies: list[float] = []
                stop_at = time.perf_counter() + seconds
                await asyncio.gather(
                    *(
                        _client(server.public_port, client_context, request, stop_at, latencies)
                        for _ in range(connections)
                    )
                )
    latencies.sort()
    count = len(latencies)
    print(
        json.dumps(
            {
                "route": f"{method} {path}",
                "connections": connections,
                "requests": count,
                "req_per_s": round(count / seconds),
                "p50_ms": round(statistics.median(latencies) * 1000, 2),
                "p99_ms": round(latencies[int(count * 0.99) - 1] * 1000, 2),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--state-change", action="store_true", help="PUT /api/v1/agent/state with a body")
    parser.add_argument("--loop", choices=LOOPS, default=EDGE_LOOP, help=f"event loop (default {EDGE_LOOP})")
    args = parser.parse_args()
    if args.state_change:
        route = ("PUT", "/api/v1/agent/state", b'{"state": "READY"}')
    else:
        route = ("GET", "/api/v1/agent", b"")
    run_on(args.loop, main(args.connections, args.seconds, *route))
