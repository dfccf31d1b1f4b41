"""Benchmark (not a test): many XMPP client sessions in one process against a local Prosody.

Measures how long N sessions take to come up (connect, TLS, SASL PLAIN, bind, presence), the client
process's resident memory per session, and ping round trips across all sessions, for one transport::

    .venv/bin/python -m tests.xmpp.bench_sessions --sessions 2000 --transport websocket
    .venv/bin/python -m tests.xmpp.bench_sessions --sessions 2000 --transport tls --loop uvloop

Accounts are written straight into Prosody's ``internal`` storage (registering 2,000 users with
``prosodyctl`` one process at a time would take minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import resource
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
import trustme

from connector.xmpp.connection import XmppConnection
from connector.xmpp.endpoint import TransportKind, client_ssl_context
from connector.xmpp.settings import XmppAccount
from tests.xmpp.conftest import endpoint_of
from tests.xmpp.prosody import ProsodyServer, running_prosody


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def write_accounts(server: ProsodyServer, count: int) -> None:
    """Prosody's internal_plain account files: data/<host>/accounts/<user>.dat."""
    accounts = server.config_path.parent / "data" / server.domain / "accounts"
    accounts.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (accounts / f"agent{index}.dat").write_text(f'return {{\n\t["password"] = "pw{index}";\n}};\n')
    for path in [accounts.parent, accounts, *accounts.iterdir()]:
        path.chmod(0o777 if path.is_dir() else 0o666)


@contextmanager
def raised_file_limit() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # Prosody inherits it too
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def run(
    server: ProsodyServer, ca: trustme.CA, sessions: int, transport: TransportKind, parallel: int
) -> None:
    context = client_ssl_context()
    ca.configure_trust(context)
    endpoint = endpoint_of(server, transport)
    gate = asyncio.Semaphore(parallel)

    async def one(index: int) -> XmppConnection:
        async with gate:
            return await XmppConnection.connect(
                account=XmppAccount(username=f"agent{index}", domain=server.domain, password=f"pw{index}"),
                endpoint=endpoint,
                ssl_context=context,
                on_event=lambda _event: None,
            )

    # Warm up imports, the TLS context and the first handshake, so they do not count per session.
    warm = await one(0)
    await warm.close()
    gc.collect()
    before = rss_kib()
    started = time.perf_counter()
    connections = await asyncio.gather(*(one(index) for index in range(1, sessions + 1)))
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_kib()
    rtts = await asyncio.gather(*(connection.ping() for connection in connections))
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"transport={transport} loop={loop} sessions={sessions} parallel_connects={parallel}")
    print(f"  up in {elapsed:.2f} s ({sessions / elapsed:.0f} sessions/s)")
    grown_kib = after - before
    print(f"  client RSS +{grown_kib / 1024:.1f} MiB = {grown_kib / sessions:.1f} KiB per session")
    p50_ms, p99_ms = statistics.median(rtts) * 1000, sorted(rtts)[int(len(rtts) * 0.99) - 1] * 1000
    print(f"  ping with all sessions at once: p50 {p50_ms:.1f} ms, p99 {p99_ms:.1f} ms")
    started = time.perf_counter()
    await asyncio.gather(*(connection.close() for connection in connections))
    print(f"  closed in {time.perf_counter() - started:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--transport", choices=["websocket", "tls"], default="websocket")
    parser.add_argument("--parallel", type=int, default=100, help="connects in flight at once")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    arguments = parser.parse_args()
    # This script is its own composition root: one log line per session would measure the console.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    ca = trustme.CA()
    with raised_file_limit(), running_prosody(ca=ca, users={}) as server:
        write_accounts(server, arguments.sessions + 1)
        factory = asyncio.new_event_loop
        if arguments.loop == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(run(server, ca, arguments.sessions, arguments.transport, arguments.parallel))


if __name__ == "__main__":
    main()
