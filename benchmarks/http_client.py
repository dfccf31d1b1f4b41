"""Benchmark (not a test): the client's CPU per HTTPS request, httpcore's anyio network backend against
the asyncio-native one (connector/finesse/http_backend.py, both of its TLS layers) under httpcore's pool,
and the connector's own transport (connector/finesse/http_transport.py: its pool and h11 on that backend),
on asyncio and uvloop.

A TLS uvicorn app (uvloop, httptools) runs in a child process and answers every request with a ~1 KiB
body (the size of a Finesse User document). Each client configuration runs in a fresh child process: it
opens the pool (C requests at once, connections kept alive), then sends N keep-alive requests from C
concurrent workers, GETs and PUTs with a small body alternating, and reports the CPU time of its own
process (``time.process_time``) per request, the wall-clock rate, and the resident-set growth per pooled
connection after the pool was opened.

    PYTHONPATH=. .venv/bin/python benchmarks/http_client.py [--requests 2000] [--concurrency 16 200]
        [--rounds 3] [--pool-size 16] [--one-pool] [--backends NAME ...]

The machine is shared: read the median of the rounds, and compare rows measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import select
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore
import httpx
import trustme

from connector.finesse.http_backend import AsyncioNetworkBackend, TlsLayer, httpcore_http_transport
from connector.finesse.http_transport import AsyncioHttpTransport, asyncio_http_transport

_BODY = b"<User>" + b"x" * 1000 + b"</User>"
_PUT_BODY = b"<User><state>READY</state></User>"
# Longer than any run: the pool's connections must stay open for the whole measurement.
_SERVER_KEEP_ALIVE_S = 120
_CLIENT_KEEP_ALIVE_S = 60.0

# "asyncio+…": httpx's transport, httpcore's pool with LinearAssignmentPool's assignment, on the asyncio
# backend (the connector's transport before its own); "…+httpcore_pool": httpcore's unchanged pool there.
# "own_pool+…": the connector's own transport (asyncio_http_transport) on the same backend.
BACKENDS = (
    "anyio",
    "anyio+poll_idle",
    "asyncio+memory_bio",
    "asyncio+memory_bio+httpcore_pool",
    "asyncio+loop_tls",
    "own_pool+memory_bio",
    "own_pool+loop_tls",
)
LOOPS = ("asyncio", "uvloop")


async def _app(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/xml"), (b"content-length", str(len(_BODY)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": _BODY})


def _serve(cert_file: str, key_file: str, sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(
        _app,
        loop="uvloop",
        http="httptools",
        interface="asgi3",
        lifespan="off",
        log_config=None,
        access_log=False,
        ssl_certfile=cert_file,
        ssl_keyfile=key_file,
        timeout_keep_alive=_SERVER_KEEP_ALIVE_S,
        backlog=1024,
    )
    uvicorn.Server(config).run(sockets=[sock])


@dataclass(frozen=True)
class Result:
    cpu_us_per_request: float
    requests_per_s: float
    rss_kib_per_connection: float
    connections: int


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _PolledIdleStream(httpcore.AsyncNetworkStream):
    """The connector's previous backend: httpcore's anyio streams, with the pool's idle check answered by
    polling the raw socket instead of through anyio's typed attributes."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _PolledIdleStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            poller = select.poll()
            poller.register(self._socket.fileno(), select.POLLIN)
            return bool(poller.poll(0))
        return self._inner.get_extra_info(info)


class _PolledIdleBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _PolledIdleStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _httpcore_pool(
    context: ssl.SSLContext, connections: int, backend: httpcore.AsyncNetworkBackend
) -> httpcore.AsyncConnectionPool:
    """httpcore's own pool (not the transport's LinearAssignmentPool) on ``backend``."""
    return httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=_CLIENT_KEEP_ALIVE_S,
        network_backend=backend,
    )


def _client(backend: str, context: ssl.SSLContext, connections: int) -> httpx.AsyncClient:
    if backend == "anyio+poll_idle":
        transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
        transport._pool = _httpcore_pool(context, connections, _PolledIdleBackend())
        return httpx.AsyncClient(transport=transport, trust_env=False)
    if backend == "anyio":
        # What an unmodified httpx client does: httpcore's AutoBackend, which is anyio on asyncio.
        limits = httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=_CLIENT_KEEP_ALIVE_S,
        )
        return httpx.AsyncClient(verify=context, limits=limits, trust_env=False)
    tls: TlsLayer = "loop" if backend.endswith("+loop_tls") else "memory_bio"
    if backend.startswith("own_pool"):
        return httpx.AsyncClient(
            transport=asyncio_http_transport(
                ssl_context=context,
                max_connections=connections,
                max_keepalive_connections=connections,
                keepalive_expiry_s=_CLIENT_KEEP_ALIVE_S,
                tls=tls,
            ),
            trust_env=False,
        )
    transport = httpcore_http_transport(
        ssl_context=context,
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry_s=_CLIENT_KEEP_ALIVE_S,
        tls=tls,
    )
    if backend.endswith("+httpcore_pool"):
        transport._pool = _httpcore_pool(context, connections, AsyncioNetworkBackend())
    return httpx.AsyncClient(transport=transport, trust_env=False)


def _network_backend(client: httpx.AsyncClient) -> object:
    transport = client._transport
    if isinstance(transport, AsyncioHttpTransport):
        return transport.network_backend
    pool = transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    return pool._network_backend


def _connections(client: httpx.AsyncClient) -> int:
    transport = client._transport
    if isinstance(transport, AsyncioHttpTransport):
        return transport.pool.held
    pool = transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    return len(pool.connections)


async def _measure(
    url: str,
    backend: str,
    ca_file: str,
    requests: int,
    concurrency: int,
    pool_size: int,
    one_pool: bool,
) -> Result:
    context = ssl.create_default_context(cafile=ca_file)
    async with _client(backend, context, 1) as warm_up:
        await warm_up.get(url)  # first-time costs (imports, caches) out of the memory figure
    # C workers over ceil(C / pool size) clients, worker n on client n % clients, as the bench shards.
    # With one_pool, all C workers share one pool (requests queue in it, as the connector's do).
    shards = 1 if one_pool else max(1, -(-concurrency // pool_size))
    clients = [_client(backend, context, pool_size) for _ in range(shards)]
    if not backend.startswith("anyio"):
        assert all(isinstance(_network_backend(client), AsyncioNetworkBackend) for client in clients)
    try:
        before_pool = _rss_kib()
        # Open the pools: requests at once on empty pools hold one connection each (all wait for their
        # TLS handshakes), kept alive afterwards.
        await asyncio.gather(*(clients[n % len(clients)].get(url) for n in range(concurrency)))
        connections = sum(_connections(client) for client in clients)
        rss_per_connection = (_rss_kib() - before_pool) / max(1, connections)
        remaining = requests

        async def worker(n: int) -> None:
            nonlocal remaining
            client = clients[n % len(clients)]
            while remaining > 0:
                remaining -= 1
                if remaining % 2:
                    response = await client.get(url)
                else:
                    response = await client.put(url, content=_PUT_BODY)
                if response.status_code != 200 or len(response.content) != len(_BODY):
                    raise RuntimeError(f"unexpected answer: {response.status_code}")

        started_cpu, started_wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        cpu_s, wall_s = time.process_time() - started_cpu, time.perf_counter() - started_wall
    finally:
        for client in clients:
            await client.aclose()
    return Result(cpu_s / requests * 1e6, requests / wall_s, rss_per_connection, connections)


def _client_main(arguments: argparse.Namespace) -> None:
    """One configuration in this (fresh) process; prints its result as JSON."""
    coroutine = _measure(
        arguments.url,
        arguments.backend,
        arguments.ca_file,
        arguments.requests,
        arguments.concurrency[0],
        arguments.pool_size,
        arguments.one_pool,
    )
    if arguments.loop == "uvloop":
        import uvloop

        result = uvloop.run(coroutine)
    else:
        result = asyncio.run(coroutine)
    print(json.dumps(result.__dict__))


def _run_one(
    arguments: argparse.Namespace, url: str, ca_file: str, backend: str, loop: str, c: int
) -> Result:
    command = [
        sys.executable,
        __file__,
        "--client",
        "--url",
        url,
        "--ca-file",
        ca_file,
        "--backend",
        backend,
        "--loop",
        loop,
        "--requests",
        str(arguments.requests),
        "--concurrency",
        str(c),
        "--pool-size",
        str(arguments.pool_size),
        *(["--one-pool"] if arguments.one_pool else []),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return Result(**json.loads(output.strip().splitlines()[-1]))


def _main(arguments: argparse.Namespace) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file, ca_file = (
            str(Path(folder) / name) for name in ("cert.pem", "key.pem", "ca.pem")
        )
        leaf.private_key_and_cert_chain_pem.write_to_path(cert_file)
        leaf.private_key_pem.write_to_path(key_file)
        ca.cert_pem.write_to_path(ca_file)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)  # listening before the server starts: clients wait in the backlog, not refused
        url = f"https://127.0.0.1:{sock.getsockname()[1]}/finesse/api/User/1001"
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(cert_file, key_file, sock), daemon=True
        )
        server.start()
        try:
            print(
                f"{arguments.requests} keep-alive requests per round (GET/PUT alternating, ~1 KiB answers), "
                f"C workers over {'one pool' if arguments.one_pool else 'pools'} of "
                f"{arguments.pool_size} connections"
            )
            print("client CPU µs/request (median of rounds, min-max) | req/s | RSS KiB per pooled connection")
            for c in arguments.concurrency:
                for loop in LOOPS:
                    for backend in arguments.backends:
                        results = [
                            _run_one(arguments, url, ca_file, backend, loop, c)
                            for _ in range(arguments.rounds)
                        ]
                        cpu = [r.cpu_us_per_request for r in results]
                        print(
                            f"C={c:<4} {loop:<8} {backend:<34} "
                            f"{statistics.median(cpu):7.1f} µs ({min(cpu):.1f}-{max(cpu):.1f})  "
                            f"{statistics.median(r.requests_per_s for r in results):7.0f} req/s  "
                            f"{statistics.median(r.rss_kib_per_connection for r in results):6.1f} KiB "
                            f"({results[0].connections} connections)",
                            flush=True,
                        )
        finally:
            server.terminate()
            server.join(5)
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 200])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--pool-size",
        type=int,
        default=16,
        help="connections per client (the connector: one pool of 16; the bench: pools of 8); C workers "
        "share ceil(C / pool size) clients",
    )
    parser.add_argument(
        "--one-pool",
        action="store_true",
        help="all C workers on one client of --pool-size connections: with C above it, requests queue "
        "in the pool, as the connector's do in a sign-in storm",
    )
    parser.add_argument(
        "--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="the rows to measure"
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ca-file", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=LOOPS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.client:
        _client_main(arguments)
    else:
        _main(arguments)


if __name__ == "__main__":
    main()
