"""Benchmark (not a test): where the edge's resident memory per open event socket goes, layer by layer.

For each variant a server process is started, a separate client process opens ``--warmup`` sockets (so
one-time costs — imports, caches, first-use arenas — are paid), the server's RSS is read, the client opens
``--sockets`` more, and the growth divided by ``--sockets`` is the figure. The layers, each adding to the
one before:

``tcp``       an asyncio server whose protocol holds the connection and does nothing (the loop's transport)
``tls``       the same over TLS (+ the SSL object, OpenSSL's buffers, the loop's TLS transport)
``ws-tcp``    uvicorn with a bare ASGI WebSocket app (accept, then relay from an idle stream), plain TCP
``ws``        the same over TLS
``edge``      the real public app (:class:`edge.server.EdgeServer`: every middleware, JWT per socket, the
              event socket's duties) over TLS, in front of an idle in-process upstream
``edge-http`` the same edge, each connection an HTTPS keep-alive connection idle after one API request
              (answered 503 by this benchmark's upstream): what a client's pooled connections cost it

``--tracemalloc`` runs each variant a second time with tracemalloc on and prints the Python allocations
per socket by source line (RSS beyond them is C: OpenSSL, the loop, the allocator's slack), and the objects
the garbage collector tracks per socket by type (``sys.getsizeof``; a coroutine's size includes its frame).
``--events K`` then pushes K events to every socket and prints the server's CPU time per event delivered.

    PYTHONPATH=. .venv/bin/python benchmarks/edge_socket_memory.py --sockets 500
    PYTHONPATH=. .venv/bin/python benchmarks/edge_socket_memory.py --layers edge --loops uvloop \\
        --tracemalloc --events 20
    PYTHONPATH=. .venv/bin/python benchmarks/edge_socket_memory.py --layers ws --ws-impls websockets-sansio \\
        websockets wsproto
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import socket
import ssl
import sys
import tempfile
import time
import tracemalloc
import types
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAYERS = ("tcp", "tls", "ws-tcp", "ws", "edge", "edge-http")
LOOPS = ("uvloop", "asyncio")
# "trimmed" is what the edge runs (edge.events.protocol.EventSocketProtocol); the others are uvicorn's own.
WS_IMPLS = ("trimmed", "websockets-sansio", "websockets", "wsproto")
_TRACE_FRAMES = 6
# A dialog.updated frame of a realistic size (call variables, participants): what the edge relays.
_EVENT_DATA = {
    "id": "16777216",
    "state": "ACTIVE",
    "from": "3001",
    "to": "1001",
    "participants": [{"extension": "1001", "state": "ACTIVE"}, {"extension": "3001", "state": "ACTIVE"}],
    "call_variables": {f"callVariable{n}": f"value {n}" for n in range(1, 11)},
}


def mapped_kib(pid: int) -> dict[str, int]:
    """Resident KiB by kind of mapping: malloc's brk heap (where fragmentation shows) and anonymous
    mappings (pymalloc's arenas, large malloc blocks: uvloop's 256 KiB TLS read buffer per connection, once
    malloc maps blocks that size separately)."""
    totals = {"heap": 0, "anon": 0}
    kind: str | None = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            name = fields[5] if len(fields) > 5 else ""
            kind = "heap" if name == "[heap]" else None if name else "anon"
        elif fields[:1] == ["Rss:"] and kind is not None:
            totals[kind] += int(fields[1])
    return totals


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# --------------------------------------------------------------------------------------------- server


class IdleStream:
    """An ``edge.upstream.EventStream`` that yields what :meth:`push` gives it (deque + event, like the
    relay's own stream), so the edge layer holds what it would in front of the real relay."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self._queue: deque[Any] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False

    def push(self, event: Any) -> None:
        self._queue.append(event)
        self._wakeup.set()

    def __aiter__(self) -> IdleStream:
        return self

    async def __anext__(self) -> Any:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._queue.popleft()

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()


class Hub:
    """Every open stream of the server process, for pushing events to all of them."""

    def __init__(self) -> None:
        self.streams: list[Any] = []
        self._seq = 0

    def open(self, agent_id: str) -> IdleStream:
        stream = IdleStream(agent_id)
        self.streams.append(stream)
        return stream

    def open_relay_stream(self, principal: Any, since: int | None) -> Any:
        """The edge's own per-socket stream (:class:`edge.relay.stream.RelayEventStream`), as the relay
        makes it for each socket, so the edge layer counts what the real one holds."""
        from edge.relay.stream import RelayEventStream

        stream = RelayEventStream(
            principal=principal,
            since=since,
            max_queued_events=1000,
            on_close=lambda _stream: None,
            on_overflow=lambda _stream: None,
        )
        stream.attached.set_result(None)
        self.streams.append(stream)
        return stream

    def push_first(self, size_bytes: int, since_index: int) -> int:
        """One event of about ``size_bytes`` to every stream opened since ``since_index`` (what a socket
        gets first: the agent's snapshot); returns how many streams got one."""
        from edge.tunnel.messages import AgentEvent, AgentId

        self._seq += 1
        streams = self.streams[since_index:]
        for stream in streams:
            frame = {"seq": self._seq, "type": "snapshot", "at": "2026-11-21T10:00:00.000Z"}
            text = json.dumps({**frame, "data": {"padding": "x" * max(0, size_bytes - 80)}})
            event = AgentEvent(AgentId(stream.agent_id), self._seq, "snapshot", text)
            (stream.deliver if hasattr(stream, "deliver") else stream.push)(event)
        return len(streams)

    async def push_rounds(self, rounds: int, event_bytes: int = 0) -> None:
        from edge.tunnel.messages import AgentEvent, AgentId

        for _ in range(rounds):
            self._seq += 1
            for stream in self.streams:
                frame = {"seq": self._seq, "type": "dialog.updated", "at": "2026-11-21T10:00:00.000Z"}
                data = {**_EVENT_DATA, "padding": "x" * event_bytes} if event_bytes else _EVENT_DATA
                text = json.dumps({**frame, "data": data}, separators=(",", ":"))
                event = AgentEvent(AgentId(stream.agent_id), self._seq, "dialog.updated", text)
                # The relay's stream takes events through deliver(), the bare one through push().
                (stream.deliver if hasattr(stream, "deliver") else stream.push)(event)
            await asyncio.sleep(0)


class HubUpstream:
    """The edge's ``Upstream`` for this benchmark: always ready, streams from the hub, no requests."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    @property
    def ready(self) -> bool:
        return True

    async def request(self, request: Any, *, timeout_s: float) -> Any:
        # The benchmark only opens event sockets; a request would get the answer of an edge with no route.
        from edge.tunnel.errors import Unavailable  # imported late like the rest: memory is measured

        raise Unavailable("not_routed", "this benchmark's edge forwards no API requests")

    async def open_events(self, principal: Any, *, since: int | None) -> Any:
        return self._hub.open_relay_stream(principal, since)


class _HoldProtocol(asyncio.Protocol):
    def __init__(self, held: set[asyncio.BaseTransport]) -> None:
        self._held = held
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._held.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._held.discard(self._transport)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    return sock


def _bare_ws_app(hub: Hub) -> Callable[..., Any]:
    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        stream = hub.open(f"ws-{id(scope)}")
        with contextlib.suppress(Exception):
            async for event in stream:
                await send({"type": "websocket.send", "text": event.json})

    return app


@dataclass
class ServerSetup:
    port: int
    hub: Hub
    keep: Any = None  # what must stay referenced while serving


async def _start_raw(layer: str, tls: ssl.SSLContext) -> ServerSetup:
    held: set[asyncio.BaseTransport] = set()
    server = await asyncio.get_running_loop().create_server(
        lambda: _HoldProtocol(held), sock=_listening_socket(), ssl=tls if layer == "tls" else None
    )
    return ServerSetup(port=server.sockets[0].getsockname()[1], hub=Hub(), keep=(server, held))


async def _start_bare_ws(layer: str, tls: ssl.SSLContext, ws_impl: str) -> ServerSetup:
    import uvicorn

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    hub = Hub()
    from edge.events.protocol import EventSocketProtocol

    config = uvicorn.Config(
        _bare_ws_app(hub),
        ws=EventSocketProtocol if ws_impl == "trimmed" else ws_impl,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        ssl_context_factory=(lambda _c, _d: tls) if layer == "ws" else None,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    sock = _listening_socket()
    server = Quiet(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    # The socket listens already: early connections wait in the backlog until uvicorn accepts.
    return ServerSetup(port=sock.getsockname()[1], hub=hub, keep=(server, task))


async def _start_edge(
    tls: ssl.SSLContext,
    ca_file: Path,
    workdir: Path,
    tokens: int,
    ws_impl: str,
    *,
    tls_piece_bytes: int | None,
    malloc_tuning: bool,
) -> ServerSetup:
    from edge.config import AdminListener, EdgeConfig, Listener, ServerLimits
    from edge.malloc_tuning import fix_mmap_threshold
    from edge.server import EdgeServer
    from tests.edge.conftest import policy_data, render_toml
    from tests.edge.servers import IdentityProvider, serve

    hub = Hub()
    idp = IdentityProvider()
    idp_cm = serve(idp.app(), ssl_context=tls)
    idp_port = await idp_cm.__aenter__()
    idp.base_url = f"https://127.0.0.1:{idp_port}"
    policy = policy_data(
        idp,
        ca_file,
        rate_limits={"per_ip": "1000000/minute", "per_agent": "1000/minute", "sign_in": "100/minute"},
        events={"heartbeat_s": 25},
    )
    policy_path = workdir / "policy.toml"
    policy_path.write_text(render_toml(policy))
    config = EdgeConfig(
        policy_file=policy_path,
        public=Listener(host="127.0.0.1", port=0),
        admin=AdminListener(host="127.0.0.1", port=0),
        server=ServerLimits(graceful_shutdown_s=1),
    )
    if ws_impl != "trimmed":
        import edge.server as edge_server

        original = edge_server._uvicorn_config

        def with_impl(*args: Any, **kwargs: Any) -> Any:
            uv_config = original(*args, **kwargs)
            uv_config.ws = ws_impl
            return uv_config

        edge_server._uvicorn_config = with_impl
    if tls_piece_bytes is not None:
        from edge.events import protocol

        protocol.PiecewiseTlsWrites.__init__.__kwdefaults__["piece_bytes"] = tls_piece_bytes  # type: ignore[index]
    server = EdgeServer(
        config=config,
        upstream=HubUpstream(hub),
        ssl_context_factory=lambda: tls,
        tune_malloc=fix_mmap_threshold if malloc_tuning else lambda: None,
    )
    await server.start()
    # ES256 tokens, one agent each, valid for the run: the edge verifies and caches each one once.
    minted = [idp.mint(str(100000 + n), alg="ES256", lifetime_s=3600) for n in range(tokens)]
    (workdir / "tokens.json").write_text(json.dumps(minted))
    return ServerSetup(port=server.public_port, hub=hub, keep=(server, idp_cm))


def _python_allocations(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, sockets: int
) -> list[dict[str, Any]]:
    rows = []
    for stat in after.compare_to(before, "traceback")[:30]:
        # Innermost first: what allocated, then who asked for it.
        where = " <- ".join(
            f"{_short(frame.filename)}:{frame.lineno}" for frame in list(stat.traceback)[::-1][:4]
        )
        rows.append(
            {"where": where, "bytes_per_socket": stat.size_diff / sockets, "count": stat.count_diff / sockets}
        )
    by_file: dict[str, int] = {}
    for stat in after.compare_to(before, "filename"):
        name = _short(stat.traceback[0].filename)
        by_file[name] = by_file.get(name, 0) + stat.size_diff
    total = sum(by_file.values())
    rows.append({"where": "TOTAL", "bytes_per_socket": total / sockets, "count": 0})
    for name, size in sorted(by_file.items(), key=lambda item: -item[1])[:30]:
        rows.append({"where": f"[file] {name}", "bytes_per_socket": size / sockets, "count": 0})
    return rows


# Containers and small helper objects are named after the object holding them ("builtins.list <-
# websockets.server.ServerProtocol"), which says more than the bare type.
_NAMED_BY_HOLDER = frozenset(
    {
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.method",
        "builtins.function",
        "builtins.builtin_function_or_method",
        "builtins.cell",
        "collections.deque",
        "_contextvars.Context",
        "_asyncio.Future",
        "_asyncio.FutureIter",
        "weakref.ReferenceType",
    }
)


def _type_name(obj: object) -> str:
    kind = type(obj)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if isinstance(obj, types.CoroutineType):
        name += f" {obj.cr_code.co_qualname}"
    elif isinstance(obj, types.GeneratorType):
        name += f" {obj.gi_code.co_qualname}"
    return name


def _census(known: set[int] | None = None) -> tuple[dict[str, tuple[int, int]], set[int]]:
    """``{type name: (objects, bytes)}`` of every object the garbage collector tracks, and their ids.
    Objects not in ``known`` (new since an earlier census) of a type in :data:`_NAMED_BY_HOLDER` are
    named after the first new object that refers to them."""
    objects = gc.get_objects()
    ids = {id(obj) for obj in objects}
    holders: dict[int, str] = {}
    if known is not None:
        for obj in objects:
            if id(obj) in known:
                continue
            holder = _type_name(obj)
            for child in gc.get_referents(obj):
                holders.setdefault(id(child), holder)
    totals: dict[str, tuple[int, int]] = {}
    for obj in objects:
        name = _type_name(obj)
        if known is not None and id(obj) not in known and name in _NAMED_BY_HOLDER:
            name = f"{name} <- {holders.get(id(obj), '?')}"
        count, size = totals.get(name, (0, 0))
        totals[name] = (count + 1, size + sys.getsizeof(obj))
    del objects
    return totals, ids


def _census_rows(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], sockets: int
) -> list[dict[str, Any]]:
    rows = []
    for name, (count, size) in after.items():
        count_before, size_before = before.get(name, (0, 0))
        if count - count_before >= sockets // 2:
            rows.append(
                {
                    "type": name,
                    "per_socket": round((count - count_before) / sockets, 2),
                    "bytes_per_socket": round((size - size_before) / sockets),
                }
            )
    return sorted(rows, key=lambda row: -row["bytes_per_socket"])


def _short(filename: str) -> str:
    for marker in ("site-packages/", "python3.11/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


async def serve_main(args: argparse.Namespace) -> None:
    import structlog
    import trustme

    # Standard output is the control channel: logs go to standard error, warnings only.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    workdir = Path(args.workdir)
    ca = trustme.CA()
    ca_file = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(tls)
    if args.num_tickets is not None:
        tls.num_tickets = args.num_tickets
    if args.layer in ("tcp", "tls"):
        setup = await _start_raw(args.layer, tls)
    elif args.layer in ("ws", "ws-tcp"):
        setup = await _start_bare_ws(args.layer, tls, args.ws_impl)
    else:  # edge, edge-http
        setup = await _start_edge(
            tls,
            ca_file,
            workdir,
            args.tokens,
            args.ws_impl,
            tls_piece_bytes=args.tls_piece_bytes,
            malloc_tuning=not args.no_malloc_tuning,
        )
    if args.tracemalloc:
        tracemalloc.start(_TRACE_FRAMES)
    snapshots: dict[str, tracemalloc.Snapshot] = {}
    censuses: dict[str, dict[str, tuple[int, int]]] = {}
    known_ids: set[int] = set()
    cpu_started = 0.0
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _reply({"port": setup.port})
    while line := (await reader.readline()).decode().strip():
        command, _, argument = line.partition(" ")
        if command == "measure":
            gc.collect()
            if args.tracemalloc:
                # Neither counts the other's own objects: the census before includes the first snapshot,
                # the census after is taken before the second.
                if argument == "before":
                    snapshots[argument] = tracemalloc.take_snapshot()
                    censuses[argument], known_ids = _census()
                else:
                    censuses[argument], known_ids = _census(known_ids)
                    snapshots[argument] = tracemalloc.take_snapshot()
            _reply({"streams": len(setup.hub.streams)})
        elif command == "allocations":
            sockets = int(argument)
            _reply(
                {
                    "rows": _python_allocations(snapshots["before"], snapshots["after"], sockets),
                    "census": _census_rows(censuses["before"], censuses["after"], sockets),
                }
            )
        elif command == "first":
            size_bytes, _, since_index = argument.partition(" ")
            _reply({"pushed": setup.hub.push_first(int(size_bytes), int(since_index))})
        elif command == "push":
            cpu_started = time.process_time()
            await setup.hub.push_rounds(int(argument), args.event_padding_bytes)
            _reply({"pushed": int(argument)})
        elif command == "cpu":
            _reply({"cpu_s": time.process_time() - cpu_started})
        elif command == "quit":
            break
    # Nothing to keep: a graceful stop of hundreds of sockets would only slow the run down.
    os._exit(0)


def _reply(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------- client


async def client_main(args: argparse.Namespace) -> None:
    from websockets.asyncio.client import connect

    tokens: list[str] = json.loads(Path(args.tokens).read_text()) if args.tokens else []
    tls: ssl.SSLContext | None = None
    if args.mode in ("tls", "wss", "https"):
        tls = ssl.create_default_context(cafile=args.ca)
    scheme = "wss" if args.mode == "wss" else "ws"
    url = f"{scheme}://127.0.0.1:{args.port}/api/v1/events"
    held: list[Any] = []
    received = 0
    api: Any = None
    if args.requests_per_socket:
        import httpx

        # Like the load generator's fleet: a small pool of kept-alive HTTPS connections for API calls.
        api = httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{args.port}",
            verify=tls or False,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )
    readers: list[asyncio.Task[None]] = []
    stack = contextlib.AsyncExitStack()  # never closed: the process exits with its sockets open

    async def read(ws: Any) -> None:
        nonlocal received
        with contextlib.suppress(Exception):
            async for _ in ws:
                received += 1

    async def open_one(index: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            if args.mode == "https":
                reader, writer = await asyncio.open_connection("127.0.0.1", args.port, ssl=tls)
                request = (
                    f"GET /api/v1/agent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: Bearer {tokens[index]}\r\n\r\n"
                )
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                held.append(writer)  # kept alive, idle, like a pooled connection
                return
            if args.mode in ("tcp", "tls"):
                _, writer = await asyncio.open_connection("127.0.0.1", args.port, ssl=tls)
                held.append(writer)
                return
            headers = {"authorization": f"Bearer {tokens[index]}"} if tokens else {}
            for _ in range(args.requests_per_socket):
                await api.post("/api/v1/agent/session", json={"extension": "1001"}, headers=headers)
            ws = await stack.enter_async_context(
                connect(url, ssl=tls, additional_headers=headers, proxy=None, ping_interval=None)
            )
            held.append(ws)
            readers.append(asyncio.create_task(read(ws)))

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _reply({"ready": True})
    firsts = 0
    while line := (await reader.readline()).decode().strip():
        command, _, argument = line.partition(" ")
        if command == "open":
            gate = asyncio.Semaphore(args.open_concurrency)
            start = len(held)
            await asyncio.gather(*(open_one(start + n, gate) for n in range(int(argument))))
            _reply({"open": len(held)})
        elif command == "churn":
            # Connections that come and go (an HTTP client's idle pooled connection closing): the
            # server's loop frees their TLS read buffers, which moves glibc's mmap threshold.
            for _ in range(int(argument)):
                _, writer = await asyncio.open_connection("127.0.0.1", args.port, ssl=tls)
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            _reply({"churned": int(argument)})
        elif command == "first":
            # Every socket opened so far has one (snapshot-sized) event more to read.
            firsts = len(held)
            deadline = time.monotonic() + 120
            while received < firsts and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            _reply({"received": received})
        elif command == "expect":
            wanted = int(argument) + firsts
            deadline = time.monotonic() + 120
            while received < wanted and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            _reply({"received": received})
        elif command == "quit":
            break
    os._exit(0)


# --------------------------------------------------------------------------------------------- driver


class Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *argv: str) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
        return cls(process)

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 300)
        if not line:
            raise RuntimeError(f"child {self.process.pid} ended")
        result: dict[str, Any] = json.loads(line)
        return result

    async def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.read()

    async def quit(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(Exception):
            self.process.stdin.write(b"quit\n")
            await self.process.stdin.drain()
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@dataclass
class Variant:
    layer: str
    loop: str
    ws_impl: str

    @property
    def name(self) -> str:
        impl = f" {self.ws_impl}" if self.layer in ("ws", "ws-tcp", "edge") else ""
        return f"{self.layer:<7} {self.loop:<8}{impl}"


async def run_variant(variant: Variant, args: argparse.Namespace, *, traced: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edge-socket-memory-") as workdir:
        total = args.warmup + args.sockets
        server = await Child.start(
            "serve",
            "--layer",
            variant.layer,
            "--loop",
            variant.loop,
            "--ws-impl",
            variant.ws_impl,
            "--workdir",
            workdir,
            "--tokens",
            str(total),
            *(["--tracemalloc"] if traced else []),
            *(["--num-tickets", str(args.num_tickets)] if args.num_tickets is not None else []),
            "--event-padding-bytes",
            str(args.event_padding_bytes),
            *(["--tls-piece-bytes", str(args.tls_piece_bytes)] if args.tls_piece_bytes else []),
            *(["--no-malloc-tuning"] if args.no_malloc_tuning else []),
        )
        client: Child | None = None
        try:
            port = (await server.read())["port"]
            mode = {
                "tcp": "tcp",
                "tls": "tls",
                "ws-tcp": "ws",
                "ws": "wss",
                "edge": "wss",
                "edge-http": "https",
            }[variant.layer]
            tokens = ["--tokens", f"{workdir}/tokens.json"] if variant.layer.startswith("edge") else []
            client = await Child.start(
                "client",
                "--port",
                str(port),
                "--mode",
                mode,
                "--ca",
                f"{workdir}/ca.pem",
                "--open-concurrency",
                str(args.open_concurrency),
                "--requests-per-socket",
                str(args.requests_per_socket if variant.layer == "edge" else 0),
                *tokens,
            )
            await client.read()
            if args.churn:
                await client.ask(f"churn {args.churn}")
            await client.ask(f"open {args.warmup}")
            await _first_events(server, client, args, variant, since_index=0)
            await server.ask("measure before")
            before_kib = rss_kib(server.process.pid)
            mapped_before = mapped_kib(server.process.pid)
            opened = (await client.ask(f"open {args.sockets}"))["open"]
            await _first_events(server, client, args, variant, since_index=args.warmup)
            streams = (await server.ask("measure after"))["streams"]
            after_kib = rss_kib(server.process.pid)
            mapped_after = mapped_kib(server.process.pid)
            result: dict[str, Any] = {
                "variant": variant.name,
                "sockets": opened - args.warmup,
                "rss_kib_before": before_kib,
                "kib_per_socket": round((after_kib - before_kib) / args.sockets, 1),
                "kib_per_socket_by_mapping": {
                    kind: round((mapped_after[kind] - mapped_before[kind]) / args.sockets, 1)
                    for kind in mapped_after
                },
            }
            if traced:
                answer = await server.ask(f"allocations {args.sockets}")
                result["allocations"], result["census"] = answer["rows"], answer["census"]
            elif args.events and variant.layer in ("ws", "ws-tcp", "edge"):
                assert streams == total, f"{streams} streams for {total} sockets"
                await server.ask(f"push {args.events}")
                got = (await client.ask(f"expect {total * args.events}"))["received"]
                if args.first_event_bytes:
                    got -= total
                cpu_s = (await server.ask("cpu"))["cpu_s"]
                result["events_received"] = got
                result["cpu_us_per_event"] = round(cpu_s / max(got, 1) * 1e6, 1)
                # What traffic leaves behind per socket (buffers grown and kept, caches filled).
                await server.ask("measure events")
                result["kib_per_socket_after_events"] = round(
                    (rss_kib(server.process.pid) - before_kib) / args.sockets, 1
                )
            return result
        finally:
            if client is not None:
                await client.quit()
            await server.quit()


async def _first_events(
    server: Child, client: Child, args: argparse.Namespace, variant: Variant, *, since_index: int
) -> None:
    if args.first_event_bytes and variant.layer in ("ws", "ws-tcp", "edge"):
        await server.ask(f"first {args.first_event_bytes} {since_index}")
        await client.ask("first")


def _print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"{'variant':<36} {'sockets':>7} {'KiB/socket':>10} {'heap':>6} {'anon':>6}"
        f" {'CPU µs/event':>13} {'KiB/socket after':>17}"
    )
    for row in results:
        cpu = row.get("cpu_us_per_event", "-")
        after = row.get("kib_per_socket_after_events", "-")
        mapped = row["kib_per_socket_by_mapping"]
        print(
            f"{row['variant']:<36} {row['sockets']:>7} {row['kib_per_socket']:>10} {mapped['heap']:>6}"
            f" {mapped['anon']:>6} {cpu:>13} {after:>17}"
        )


def _print_allocations(variant: str, rows: list[dict[str, Any]], census: list[dict[str, Any]]) -> None:
    print(f"\nPython allocations per socket (tracemalloc), {variant}:")
    for row in rows:
        print(f"  {row['bytes_per_socket']:>9.0f} B  {row['count']:>6.1f} blocks  {row['where']}")
    print(f"\nObjects the garbage collector tracks, per socket, by type, {variant}:")
    for row in census:
        print(f"  {row['bytes_per_socket']:>9} B  {row['per_socket']:>6}  {row['type']}")
    print(f"  {sum(row['bytes_per_socket'] for row in census):>9} B  total")


async def driver_main(args: argparse.Namespace) -> None:
    variants = [
        Variant(layer, loop, impl)
        for layer in args.layers
        for loop in args.loops
        for impl in (args.ws_impls if layer in ("ws", "ws-tcp", "edge") else args.ws_impls[:1])
    ]
    results = []
    traces: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = []
    for variant in variants:
        result = await run_variant(variant, args, traced=False)
        results.append(result)
        print(json.dumps(result), file=sys.stderr, flush=True)
        if args.tracemalloc and variant.layer in ("ws", "ws-tcp", "edge"):
            traced = await run_variant(variant, args, traced=True)
            traces.append((variant.name, traced["allocations"], traced["census"]))
    print(f"\n{args.sockets} sockets after {args.warmup} warm-up sockets, RSS growth of the server process")
    if args.num_tickets is not None:
        print(f"(num_tickets={args.num_tickets})")
    _print_table(results)
    for name, rows, census in traces:
        _print_allocations(name, rows, census)
    if args.json:
        allocations = {name: rows for name, rows, _ in traces}
        censuses = {name: census for name, _, census in traces}
        print(json.dumps({"results": results, "allocations": allocations, "census": censuses}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="role")
    driver = sub.add_parser("run")
    for options in (parser, driver):
        options.add_argument("--sockets", type=int, default=500)
        options.add_argument("--warmup", type=int, default=50)
        options.add_argument("--layers", nargs="+", choices=LAYERS, default=list(LAYERS))
        options.add_argument("--loops", nargs="+", choices=LOOPS, default=list(LOOPS))
        options.add_argument("--ws-impls", nargs="+", choices=WS_IMPLS, default=["trimmed"])
        options.add_argument("--tracemalloc", action="store_true")
        options.add_argument("--events", type=int, default=0, help="events pushed to every socket")
        options.add_argument("--json", action="store_true")
        options.add_argument(
            "--open-concurrency", type=int, default=32, help="handshakes the client runs at once"
        )
        options.add_argument(
            "--num-tickets", type=int, help="TLS 1.3 session tickets per handshake (OpenSSL's default: 2)"
        )
        options.add_argument(
            "--event-padding-bytes", type=int, default=0, help="--events: this much more per event"
        )
        options.add_argument(
            "--tls-piece-bytes", type=int, help="edge: largest piece handed to the TLS transport at once"
        )
        options.add_argument(
            "--no-malloc-tuning", action="store_true", help="edge: leave glibc's mmap threshold dynamic"
        )
        options.add_argument(
            "--churn",
            type=int,
            default=0,
            help="TLS connections opened and closed before the warm-up (layers over TLS)",
        )
        options.add_argument(
            "--first-event-bytes",
            type=int,
            default=0,
            help="one event of this size to each socket as it opens (the agent's snapshot)",
        )
        options.add_argument(
            "--requests-per-socket",
            type=int,
            default=0,
            help="edge: API requests (sign-in, over a pool of 16 connections) before each socket opens",
        )
    serve = sub.add_parser("serve")
    serve.add_argument("--layer", choices=LAYERS, required=True)
    serve.add_argument("--loop", choices=LOOPS, required=True)
    serve.add_argument("--ws-impl", choices=WS_IMPLS, default="trimmed")
    serve.add_argument("--workdir", required=True)
    serve.add_argument("--tokens", type=int, default=0)
    serve.add_argument("--tracemalloc", action="store_true")
    serve.add_argument("--num-tickets", type=int)
    serve.add_argument("--event-padding-bytes", type=int, default=0)
    serve.add_argument("--tls-piece-bytes", type=int)
    serve.add_argument("--no-malloc-tuning", action="store_true")
    client = sub.add_parser("client")
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--mode", choices=("tcp", "tls", "ws", "wss", "https"), required=True)
    client.add_argument("--ca", required=True)
    client.add_argument("--tokens")
    client.add_argument("--open-concurrency", type=int, default=32)
    client.add_argument("--requests-per-socket", type=int, default=0)
    args = parser.parse_args()
    if args.role == "serve":
        factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
        if args.loop == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve_main(args))
    elif args.role == "client":
        asyncio.run(client_main(args))
    else:
        asyncio.run(driver_main(args))


if __name__ == "__main__":
    main()
