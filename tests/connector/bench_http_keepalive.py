"""Benchmark (not a test) for build_http_client's keep-alive pool. Sustained load: 1,600 requests,
16 in flight, against a TLS HTTP/1.1 server in another thread answering after 5 ms (a Finesse-like
latency); counts the connections (= TLS handshakes) the server accepted.

    PYTHONPATH=. .venv/bin/python tests/connector/bench_http_keepalive.py -    # the default pool
    PYTHONPATH=. .venv/bin/python tests/connector/bench_http_keepalive.py 8    # 8 of 16 kept alive
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import threading
import time

import trustme

from connector.finesse.client import build_http_client

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Counter:
    def __init__(self) -> None:
        self.accepted = 0


async def handle(counter: Counter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    counter.accepted += 1
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            await asyncio.sleep(0.005)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass


def serve(context: ssl.SSLContext, counter: Counter, ready: list[int], started: threading.Event) -> None:
    async def run() -> None:
        server = await asyncio.start_server(
            lambda reader, writer: handle(counter, reader, writer), "127.0.0.1", 0, ssl=context
        )
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        await asyncio.Event().wait()

    asyncio.run(run())


async def main(keepalive: int | None) -> None:
    ca = trustme.CA()
    sc = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(sc)
    cc = ssl.create_default_context()
    ca.configure_trust(cc)
    port: list[int] = []
    started = threading.Event()
    counter = Counter()
    threading.Thread(target=serve, args=(sc, counter, port, started), daemon=True).start()
    started.wait()
    slots = asyncio.Semaphore(16)
    async with build_http_client(ssl_context=cc, max_keepalive_connections=keepalive) as http:

        async def one(n: int) -> None:
            async with slots:
                assert (await http.get(f"https://127.0.0.1:{port[0]}/{n}")).status_code == 200

        t0 = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(1600)))
        print(
            f"1600 requests, 16 in flight, keep-alive {keepalive or 'default (16)'}: "
            f"{counter.accepted} TLS handshakes, {time.perf_counter() - t0:.2f} s"
        )


asyncio.run(main(None if sys.argv[1] == "-" else int(sys.argv[1])))
