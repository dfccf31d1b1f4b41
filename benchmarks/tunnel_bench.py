"""Tunnel benchmark (not a test): request round trips and event throughput through ONE tunnel
connection on loopback, with real mutual TLS (trustme certificates) and the real edge/connector code.

    .venv/bin/python benchmarks/tunnel_bench.py [--requests 3000] [--events 50000] [--uvloop]

Prints: sequential request latency p50/p99, request throughput at a given concurrency, and events per
second from the connector's sink to the edge stream's consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import time

import trustme

from connector.tunnel.client import TunnelClient
from connector.tunnel.service import EventSink
from edge.relay.relay import TunnelRelay
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest, TunnelResponse

AGENT = Principal(agent_id=AgentId("1001"), subject="bench")
REQUEST = TunnelRequest(
    request_id="bench",
    method="PUT",
    path="/api/v1/agent/state",
    query="",
    headers={"content-type": "application/json"},
    body=b'{"state":"NOT_READY","reason_code_id":12}',
    principal=AGENT,
)
RESPONSE = TunnelResponse(
    200, {"content-type": "application/json"}, json.dumps({"state": "NOT_READY"}).encode()
)


class BenchService:
    def __init__(self) -> None:
        self.sink: EventSink | None = None
        self.attached = asyncio.Event()

    async def handle(self, request: TunnelRequest) -> TunnelResponse:
        return RESPONSE

    async def attach(self, principal: Principal, since: int | None, sink: EventSink) -> None:
        self.sink = sink
        self.attached.set()

    async def detach(self, agent_id: AgentId, sink: EventSink) -> None:
        self.sink = None


def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    edge = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(edge)
    ca.configure_trust(edge)
    edge.verify_mode = ssl.CERT_REQUIRED
    connector = ssl.create_default_context()
    ca.configure_trust(connector)
    ca.issue_cert("connector.bench").configure_cert(connector)
    return edge, connector


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(requests: int, concurrency: int, events: int, window: int) -> None:
    edge_ssl, connector_ssl = contexts()
    service = BenchService()
    relay = TunnelRelay(
        ssl_context=edge_ssl, allowed_identities={"connector.bench"}, port=0, max_queued_events=window * 2
    )
    await relay.start()
    client = TunnelClient(
        urls=[f"wss://localhost:{relay.port}/tunnel"],
        ssl_context=connector_ssl,
        service=service,
        connector_id="bench",
        connections_per_edge=1,
        max_pending_events=window * 2,
    )
    await client.start()
    async with asyncio.timeout(10):
        await relay.wait_for_connections(1)

    for _ in range(200):  # warm up
        await relay.request(REQUEST, timeout_s=5)

    latencies_ms = []
    for _ in range(requests):
        started = time.perf_counter()
        await relay.request(REQUEST, timeout_s=5)
        latencies_ms.append((time.perf_counter() - started) * 1000)
    print(
        f"request round trip, sequential, n={requests}: p50 {percentile(latencies_ms, 0.5):.3f} ms, "
        f"p99 {percentile(latencies_ms, 0.99):.3f} ms, mean {statistics.fmean(latencies_ms):.3f} ms"
    )

    async def worker(count: int) -> None:
        for _ in range(count):
            await relay.request(REQUEST, timeout_s=10)

    total = requests * 4
    started = time.perf_counter()
    await asyncio.gather(*(worker(total // concurrency) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    done = (total // concurrency) * concurrency
    print(f"request throughput, {concurrency} concurrent, n={done}: {done / elapsed:,.0f} requests/s")

    stream = await relay.open_events(AGENT, since=None)
    await service.attached.wait()
    sink = service.sink
    assert sink is not None
    payload = json.dumps(
        {
            "seq": 0,
            "type": "dialog.updated",
            "at": "2026-11-21T10:00:00.000Z",
            "data": {
                "id": "16777283",
                "state": "ACTIVE",
                "participants": [{"extension": "1001", "state": "ACTIVE"}] * 2,
            },
        }
    )
    received = 0
    started = time.perf_counter()
    seq = 0
    # Windowed producer: the sink never blocks, so a benchmark that ignores the bounds would only
    # measure the drop policy. Push one window, let the consumer drain it, repeat.
    while seq < events:
        for _ in range(min(window, events - seq)):
            seq += 1
            sink.push(AgentEvent(agent_id=AGENT.agent_id, seq=seq, type="dialog.updated", json=payload))
        while received < seq:
            await anext(stream)
            received += 1
    elapsed = time.perf_counter() - started
    print(
        f"events through one connection, n={events} ({len(payload)} B each, window {window}): "
        f"{events / elapsed:,.0f} events/s"
    )
    print(f"edge stats: {relay.stats}")
    await stream.close()
    await client.drain(timeout_s=5)
    await relay.drain(timeout_s=5)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio's loop")
    args = parser.parse_args()
    coroutine = run(args.requests, args.concurrency, args.events, args.window)
    if args.uvloop:
        import uvloop

        uvloop.run(coroutine)
    else:
        asyncio.run(coroutine)


if __name__ == "__main__":
    main()
