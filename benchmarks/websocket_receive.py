"""Benchmark (not a test): µs per received WebSocket message, WebSocketPipe with and without its fast path.

    PYTHONPATH=. .venv/bin/python benchmarks/websocket_receive.py [--number 5000] [--repeat 5]
        [--messages 20000] [--paced 2000] [--pause-s 0.001] [--loop uvloop|asyncio] [--skip-loopback]

Part 1, bytes in, messages out (no network, no event loop): ``WebSocketPipe.receive()`` over a scripted
pipe that hands out one chunk per read, as the TLS pipe does, with ``fast_path=False`` (the ``websockets``
protocol's parser alone, as before) and with the fast path; best of ``repeat`` runs of ``number``
messages, the two timed in turns. Chunks: one message each of 200 B, 2 KB (an event frame, a Finesse
notification) and 12 KB (a 16-bit length; a TLS pipe reads at most 16 KiB at a time, so a longer message
spans reads and goes to the protocol anyway), and ten 200 B messages in one chunk.

Part 2, loopback: the whole ``receive()`` over a :class:`TlsPipe` (TLS 1.3, ``127.0.0.1``). A
``websockets`` server in a child process sends ~2 KB text messages, ``messages`` of them back to back
(reads then carry several), then ``paced`` of them ``pause_s`` apart (one message per read and per
wake-up, as an event socket at one event a second sees them); the client's CPU time per message while
they came (``process_time``: the server's CPU is in the other process) for the fast path, the protocol
alone, and ``websockets.asyncio.client`` (what the bench's event sockets used before: a Connection with
its own reader task and assembler). On this shared 2-core machine figures move by ±10 %:
compare runs made back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import ssl
import tempfile
import time
from collections.abc import Callable, Coroutine
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import trustme
import uvloop
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from connector.xmpp.tls_pipe import TlsPipe
from connector.xmpp.websocket_pipe import WebSocketPipe
from tests.ws_fast.script import ScriptedPipe, frame, run

MAX_MESSAGE_BYTES = 1 << 20


def event_text(size: int) -> str:
    """A JSON event frame of about ``size`` bytes, in the shape the edge sends."""
    variables = {f"callVariable{index}": "order 4711 & co" for index in range(1, 11)}
    event = {"seq": 42, "type": "dialog.updated", "at": "2026-11-21T10:00:00.123Z", "data": {}}
    text = orjson.dumps({**event, "data": {"id": "16817", "call_variables": variables}}).decode()
    padding = max(0, size - len(text) - len(',"pad":""'))
    return text[:-1] + f',"pad":"{"x" * padding}"}}'


def pipe_over(chunks: list[bytes], *, fast_path: bool) -> WebSocketPipe:
    stream = b"".join(chunks)
    cuts = list(itertools.accumulate(len(chunk) for chunk in chunks))
    pipe = ScriptedPipe(stream, cuts=cuts, subprotocols=None)
    return run(
        WebSocketPipe.handshake(
            pipe,
            "wss://localhost/",
            subprotocol=None,
            max_message_bytes=MAX_MESSAGE_BYTES,
            fast_path=fast_path,
        )
    )


def us_per_message(chunks: list[bytes], messages: int, *, fast_path: bool) -> float:
    websocket = pipe_over(chunks, fast_path=fast_path)
    receive = websocket.receive
    started = time.perf_counter()
    for _ in range(messages):
        run(receive())
    return (time.perf_counter() - started) / messages * 1e6


def bytes_in_messages_out(*, number: int, repeat: int) -> None:
    cases = {
        "1 x 200 B per chunk": [frame(0x1, event_text(200).encode())],
        "1 x 2 KB per chunk": [frame(0x1, event_text(2000).encode())],
        "1 x 12 KB per chunk": [frame(0x1, event_text(12000).encode())],
        "10 x 200 B per chunk": [b"".join([frame(0x1, event_text(200).encode())] * 10)],
    }
    print("bytes in, messages out (µs per message)")
    print(f"  {'case':28s} {'protocol':>9s} {'fast':>9s} {'saved':>7s}")
    for label, chunk in cases.items():
        per_chunk = 10 if label.startswith("10 ") else 1
        chunks = chunk * (number // per_chunk)
        best = {False: float("inf"), True: float("inf")}
        for _ in range(repeat):
            for fast_path in (False, True):
                cost = us_per_message(chunks, len(chunks) * per_chunk, fast_path=fast_path)
                best[fast_path] = min(best[fast_path], cost)
        saved = 1 - best[True] / best[False]
        print(f"  {label:28s} {best[False]:7.2f}µs {best[True]:7.2f}µs {saved:7.0%}")


# --- part 2: over loopback TLS ----------------------------------------------------------------------------


def _serve(cert_file: str, key_file: str, text: str, ready: Connection) -> None:
    """The child process: a websockets server that, asked ``go N PAUSE_S``, sends N copies of ``text``,
    pausing ``PAUSE_S`` after each (0: none)."""

    async def handler(connection: ServerConnection) -> None:
        _, count, pause_s = str(await connection.recv()).split()
        for _ in range(int(count)):
            await connection.send(text)
            if float(pause_s):
                await asyncio.sleep(float(pause_s))
        await connection.close()

    async def main() -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        async with serve(handler, "127.0.0.1", 0, ssl=context, compression=None, max_size=None) as server:
            ready.send(server.sockets[0].getsockname()[1])
            await asyncio.Future()

    uvloop.run(main())


Timing = tuple[float, float]  # (client CPU s, wall s) while the messages came


async def _through_websocket_pipe(
    port: int, trust: ssl.SSLContext, command: str, *, fast_path: bool
) -> Timing:
    pipe = await TlsPipe.connect("127.0.0.1", port, ssl_context=trust, server_hostname="localhost")
    websocket = await WebSocketPipe.handshake(
        pipe,
        f"wss://localhost:{port}/",
        subprotocol=None,
        max_message_bytes=MAX_MESSAGE_BYTES,
        fast_path=fast_path,
    )
    cpu, wall = time.process_time(), time.perf_counter()
    await websocket.send_text([command])
    while await websocket.receive() is not None:
        pass
    timing = time.process_time() - cpu, time.perf_counter() - wall
    await websocket.close(5)
    return timing


async def _through_websockets_connection(port: int, trust: ssl.SSLContext, command: str) -> Timing:
    async with connect(
        f"wss://localhost:{port}/",
        ssl=trust,
        compression=None,
        ping_interval=None,
        max_size=MAX_MESSAGE_BYTES,
    ) as websocket:
        cpu, wall = time.process_time(), time.perf_counter()
        await websocket.send(command)
        async for _ in websocket:
            pass
        return time.process_time() - cpu, time.perf_counter() - wall


def over_loopback(*, bursts: int, paced: int, pause_s: float, repeat: int, loop: str) -> None:
    authority = trustme.CA()
    leaf = authority.issue_cert("localhost", "127.0.0.1")
    trust = ssl.create_default_context()
    authority.configure_trust(trust)
    text = event_text(2000)
    runner = uvloop.run if loop == "uvloop" else asyncio.run
    runs = (("back to back", bursts, 0.0), (f"{pause_s * 1e3:g} ms apart", paced, pause_s))
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        leaf.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        leaf.private_key_pem.write_to_path(str(key_file))
        ours, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("fork").Process(
            target=_serve, args=(str(cert_file), str(key_file), text, theirs), daemon=True
        )
        child.start()
        try:
            port = ours.recv()
            for label, count, pause in runs:
                command = f"go {count} {pause}"
                variants: dict[str, Callable[[], Coroutine[Any, Any, Timing]]] = {
                    "websockets.asyncio.client": partial(
                        _through_websockets_connection, port, trust, command
                    ),
                    "WebSocketPipe, protocol": partial(
                        _through_websocket_pipe, port, trust, command, fast_path=False
                    ),
                    "WebSocketPipe, fast path": partial(
                        _through_websocket_pipe, port, trust, command, fast_path=True
                    ),
                }
                best = {name: (float("inf"), float("inf")) for name in variants}
                for _ in range(repeat):
                    for name, variant in variants.items():
                        best[name] = min(best[name], runner(variant()))
                print(f"receive() over loopback TLS, {loop}: {count} x {len(text)} B messages {label}")
                print(f"  {'client':28s} {'CPU/msg':>9s} {'wall/msg':>10s}")
                for name, (cpu_s, wall_s) in best.items():
                    print(f"  {name:28s} {cpu_s / count * 1e6:7.2f}µs {wall_s / count * 1e6:8.1f}µs")
        finally:
            child.kill()
            child.join()


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    arguments.add_argument("--number", type=int, default=5000, help="messages per timed run (part 1)")
    arguments.add_argument("--repeat", type=int, default=5, help="timed runs; the best counts")
    arguments.add_argument("--messages", type=int, default=20000, help="messages back to back (part 2)")
    arguments.add_argument("--paced", type=int, default=2000, help="messages sent --pause-s apart (part 2)")
    arguments.add_argument("--pause-s", type=float, default=0.001, help="the server's pause between those")
    arguments.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    arguments.add_argument("--skip-loopback", action="store_true", help="part 1 only")
    options = arguments.parse_args()
    bytes_in_messages_out(number=options.number, repeat=options.repeat)
    if not options.skip_loopback:
        over_loopback(
            bursts=options.messages,
            paced=options.paced,
            pause_s=options.pause_s,
            repeat=options.repeat,
            loop=options.loop,
        )


if __name__ == "__main__":
    main()
