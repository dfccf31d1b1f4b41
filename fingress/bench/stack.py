"""``--spawn-demo``: the demo's stack run by the benchmark itself, one process per tier (N for the connector).

The emulator, the edge and the connectors run as ``fingress emulator|edge|connector`` child processes from
the same configuration files the demo writes (so each connector reaches the emulator over real XMPP over
WebSocket, as it would reach Finesse); the development identity provider is served from the benchmark's own
process, which also mints the agents' tokens. The connector tier is ``connectors`` processes, each with its
own identity, certificate and admin port, all dialling the one edge, which spreads the agents over them
(rendezvous hashing of the agent id). Separate processes make two things possible: the resident memory and
CPU time of each tier (summed over its processes) are read from ``/proc``, and the connector tier can be
stopped and started again (the ``storm`` scenario).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from edge.tls import ReloadableServerContext
from fingress.bench.cluster import BenchAgent, bench_agents, bench_emulator_config
from fingress.bench.target import Target
from fingress.demo.files import (
    AGENT_CLAIM,
    AUDIENCE,
    CONNECTIONS_PER_EDGE,
    SCOPE,
    RateLimitPolicy,
    connector_ids,
    issuer_url,
    write_demo_files,
)
from fingress.demo.ports import HOST, DemoPorts, PortInUse
from fingress.devidp import DevIdentityProvider, DevIdpSettings, create_app
from fingress.loops import CONNECTOR_LOOP, DEFAULT_LOOP, EDGE_LOOP
from fingress.pki import ensure_dev_pki, write_atomically

# (the pids a reading covers, their CPU seconds summed): the pids tell a restarted tier from its predecessor.
CpuReading = tuple[tuple[int, ...], float | None]
_TUNNEL_GAUGE = "fingress_edge_tunnel_connections"
_ACTIVE_SESSIONS = 'fingress_connector_sessions{state="active"}'

# How often a wait for the edge's tunnel connections reads its /metrics: a restart is timed to the first
# reading that sees the connections, so a coarse poll adds half its interval to each wait.
_TUNNEL_POLL_S = 0.02

# Every simulated agent comes from 127.0.0.1: the per-address limit would otherwise stop the run.
_BENCH_RATE_LIMITS = RateLimitPolicy(per_ip="1000000/second", per_agent="1000/second", sign_in="1000/second")


def resident_kib(pid: int) -> int | None:
    """``VmRSS`` of a process in KiB, or None when it is gone (or not on Linux)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def open_sockets(pid: int) -> int | None:
    """How many sockets a process holds open, or None when it is gone (or not on Linux). Read with the
    memory: each connection costs a server its buffers and TLS state, the load generator's pooled HTTPS
    connections as much as the agents' event sockets."""
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return None
    count = 0
    for descriptor in descriptors:
        try:
            count += os.readlink(descriptor).startswith("socket:")
        except OSError:
            continue  # closed meanwhile
    return count


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used, in seconds, or None when it is gone (or not on Linux)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces, hence the split after its closing parenthesis):
    # utime and stime are the 12th and 13th, in clock ticks.
    fields = text.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class StackOptions:
    data_dir: Path
    agents: int
    disconnect_grace_s: float = 30.0
    start_timeout_s: float = 60.0
    # Connector processes (connector-1 … connector-N).
    connectors: int = 1
    # The event loops of the spawned processes ("asyncio" or "uvloop"): the tiers' own defaults.
    edge_loop: str = EDGE_LOOP
    connector_loop: str = CONNECTOR_LOOP
    emulator_loop: str = DEFAULT_LOOP


class _Child:
    """One ``fingress`` subcommand running as a child process, its output in a log file."""

    def __init__(self, *, name: str, argv: list[str], log_file: Path, loop: str = "asyncio") -> None:
        self.name = name
        self._argv = argv
        self._loop = loop
        self._log_file = log_file
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self._log_file.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "fingress.bench.launch",
                self._loop,
                *self._argv,
                stdout=log,
                stderr=log,
                stdin=None,
            )

    @property
    def pid(self) -> int | None:
        return None if self.process is None or self.process.returncode is not None else self.process.pid

    async def stop(self, *, kill: bool = False, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout_s):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


class _IdpServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the benchmark owns the process's signals


class SpawnedStack:
    """Emulator, edge and ``options.connectors`` connector processes plus an in-process identity provider.

    ``start()`` raises ``TimeoutError`` when the stack does not become ready (every connector's tunnel
    connections up at the edge) within ``start_timeout_s`` (the child logs are in ``data_dir/logs``);
    ``stop()`` is idempotent."""

    def __init__(self, *, options: StackOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir.resolve()
        self.agents: list[BenchAgent] = bench_agents(options.agents)
        self.ports: DemoPorts | None = None
        self._provider: DevIdentityProvider | None = None
        self._emulator: _Child | None = None
        self._edge: _Child | None = None
        self._connectors: list[_Child] = []
        self._idp_server: _IdpServer | None = None
        self._idp_task: asyncio.Task[None] | None = None
        self._ca_file: Path | None = None
        # One client for the edge's admin listener, kept across restarts (a new one costs ~20 ms).
        self._admin_http: httpx.AsyncClient | None = None

    async def start(self) -> Target:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        ports = _free_ports(self.options.connectors)
        self.ports = ports
        pki = ensure_dev_pki(self.data_dir / "pki", connector_ids=connector_ids(self.options.connectors))
        self._ca_file = pki.ca_file
        toml_text, emulator_config = bench_emulator_config(self.agents)
        emulator_file = self.data_dir / "bench-emulator.toml"
        write_atomically(emulator_file, toml_text.encode(), mode=0o600)
        files = write_demo_files(
            self.data_dir,
            ports=ports,
            pki=pki,
            emulator=emulator_config,
            disconnect_grace_s=self.options.disconnect_grace_s,
            rate_limits=_BENCH_RATE_LIMITS,
        )
        self._provider = DevIdentityProvider.create_or_open(
            self.data_dir,
            settings=DevIdpSettings(
                issuer=issuer_url(ports), audience=AUDIENCE, agent_claim=AGENT_CLAIM, scopes=(SCOPE,)
            ),
        )
        try:
            await self._serve_idp(pki.server_cert_file, pki.server_key_file)
            self._emulator = self._child(
                "emulator",
                [
                    "emulator",
                    "--config", str(emulator_file),
                    "--host", HOST,
                    "--port-a", str(ports.emulator_a),
                    "--port-b", str(ports.emulator_b),
                    "--xmpp-port-a", str(ports.emulator_xmpp_a),
                    "--xmpp-port-b", str(ports.emulator_xmpp_b),
                    "--cert", str(pki.server_cert_file),
                    "--key", str(pki.server_key_file),
                ],
                loop=self.options.emulator_loop,
            )  # fmt: skip
            await self._emulator.start()
            await self._wait_for(f"https://{HOST}:{ports.emulator_a}/emulator/timing", verify=True)
            self._edge = self._child(
                "edge",
                ["edge", "--config", str(files.edge), "--log-format", "json"],
                loop=self.options.edge_loop,
            )
            await self._edge.start()
            self._connectors = [
                self._child(
                    path.stem,
                    ["connector", "--config", str(path), "--log-format", "json"],
                    loop=self.options.connector_loop,
                )
                for path in files.connectors
            ]
            await self.start_connector()
        except BaseException:
            await self.stop()
            raise
        return self.target()

    def target(self) -> Target:
        if self.ports is None or self._ca_file is None:
            raise RuntimeError("the stack is not started")
        provider = self._provider
        assert provider is not None
        return Target(
            public_url=f"https://{HOST}:{self.ports.public}",
            emulator_url=f"https://{HOST}:{self.ports.emulator_a}",
            ca_file=self._ca_file,
            agents=self.agents,
            mint_token=lambda agent_id: provider.issue_token(agent_id).access_token,
        )

    def _child(self, name: str, argv: list[str], *, loop: str) -> _Child:
        return _Child(name=name, argv=argv, log_file=self.data_dir / "logs" / f"{name}.log", loop=loop)

    async def _serve_idp(self, cert_file: Path, key_file: Path) -> None:
        assert self.ports is not None
        assert self._provider is not None
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.ports.idp))
        listener.listen(64)
        tls = ReloadableServerContext(cert_file=cert_file, key_file=key_file)
        config = uvicorn.Config(
            create_app(self._provider),
            ssl_context_factory=tls.uvicorn_context_factory,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self._idp_server = _IdpServer(config)
        self._idp_task = asyncio.create_task(self._idp_server.serve(sockets=[listener]))

    async def _wait_for(self, url: str, *, verify: bool) -> None:
        """Poll ``url`` until it answers 200 (bounded by ``start_timeout_s``): a child process gives no
        other readiness signal the benchmark can wait on."""
        trust: ssl.SSLContext | bool = False
        if verify and self._ca_file is not None:
            trust = ssl.create_default_context(cafile=str(self._ca_file))
        async with httpx.AsyncClient(verify=trust, timeout=2.0) as client:
            async with asyncio.timeout(self.options.start_timeout_s):
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(url)).status_code == 200:
                            return
                    await asyncio.sleep(0.1)

    @property
    def connector_count(self) -> int:
        return len(self._connectors)

    async def start_connector(self) -> None:
        """Start every connector process at once and wait until the edge counts all their tunnel connections
        (``CONNECTIONS_PER_EDGE`` each, read from its admin ``/metrics``)."""
        await asyncio.gather(*(child.start() for child in self._connectors))
        await self._wait_for_tunnels(lambda count: count >= CONNECTIONS_PER_EDGE * len(self._connectors))

    async def stop_connector(self, *, kill: bool = False) -> None:
        """Stop every connector process at once and wait until the edge has let go of their connections (so
        that :meth:`start_connector` counts only its successors')."""
        await asyncio.gather(*(child.stop(kill=kill) for child in self._connectors))
        if self._edge is not None and self._edge.pid is not None:
            await self._wait_for_tunnels(lambda count: count == 0)

    async def restart_one_connector(self, index: int = 0) -> None:
        """Restart connector-``index + 1`` alone, as a rolling upgrade does: stop it (it drains), wait until
        the edge has let go of its connections, start it again and wait until the edge counts every
        connector's connections again."""
        child = self._connectors[index]
        others = CONNECTIONS_PER_EDGE * (len(self._connectors) - 1)
        await child.stop()
        await self._wait_for_tunnels(lambda count: count == others)
        await child.start()
        await self._wait_for_tunnels(lambda count: count >= CONNECTIONS_PER_EDGE * len(self._connectors))

    async def _wait_for_tunnels(self, enough: Callable[[int], bool]) -> None:
        """Poll the edge's tunnel connection gauge until ``enough(count)`` (bounded by ``start_timeout_s``):
        the edge's ``/readyz`` says only whether some connector is up."""
        assert self.ports is not None
        url = f"http://{HOST}:{self.ports.admin}/metrics"
        if self._admin_http is None:
            self._admin_http = httpx.AsyncClient(timeout=2.0)
        client = self._admin_http
        async with asyncio.timeout(self.options.start_timeout_s):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(url)
                    count = _gauge(answer.text, _TUNNEL_GAUGE) if answer.status_code == 200 else None
                    if count is not None and enough(int(count)):
                        return
                await asyncio.sleep(_TUNNEL_POLL_S)

    async def active_sessions(self) -> dict[str, int | None]:
        """Active agent sessions per connector id (each connector's admin ``/metrics``; None for one that
        does not answer): how the edge spread the agents."""
        assert self.ports is not None

        async def read(client: httpx.AsyncClient, port: int) -> int | None:
            try:
                answer = await client.get(f"http://{HOST}:{port}/metrics")
            except httpx.HTTPError:
                return None
            value = _gauge(answer.text, _ACTIVE_SESSIONS) if answer.status_code == 200 else None
            return None if value is None else int(value)

        names = connector_ids(len(self._connectors))
        async with httpx.AsyncClient(timeout=5.0) as client:
            counts = await asyncio.gather(*(read(client, port) for port in self.ports.connector_admins))
        return dict(zip(names, counts, strict=True))

    def _tier_pids(self) -> dict[str, list[int | None]]:
        return {
            "edge": [self._edge.pid if self._edge is not None else None],
            "connector": [child.pid for child in self._connectors] or [None],
            "emulator": [self._emulator.pid if self._emulator is not None else None],
        }

    def resident_kib(self) -> dict[str, int | None]:
        """Resident memory of each tier in KiB, summed over its processes (None when one is not running)."""
        return self._summed(resident_kib)

    def open_sockets(self) -> dict[str, int | None]:
        """Sockets each tier holds open, summed over its processes (None when one is not running)."""
        return self._summed(open_sockets)

    def _summed(self, read: Callable[[int], int | None]) -> dict[str, int | None]:
        figures: dict[str, int | None] = {}
        for name, pids in self._tier_pids().items():
            readings = [read(pid) if pid is not None else None for pid in pids]
            figures[name] = None if None in readings else sum(r for r in readings if r is not None)
        return figures

    def cpu_seconds(self) -> dict[str, CpuReading | None]:
        """``(pids, CPU seconds used so far)`` of each tier, summed over its processes (the pids tell a
        restarted tier from its predecessor); None for a tier with a process not running."""
        figures: dict[str, CpuReading | None] = {}
        for name, pids in self._tier_pids().items():
            running = tuple(pid for pid in pids if pid is not None)
            if len(running) != len(pids):
                figures[name] = None
                continue
            readings = [cpu_seconds(pid) for pid in running]
            total = None if None in readings else sum(r for r in readings if r is not None)
            figures[name] = (running, total)
        return figures

    async def stop(self) -> None:
        await asyncio.gather(*(child.stop() for child in self._connectors))
        for child in (self._edge, self._emulator):
            if child is not None:
                await child.stop()
        server, task = self._idp_server, self._idp_task
        self._idp_server = self._idp_task = None
        if server is not None and task is not None:
            server.should_exit = True
            await task
        admin_http, self._admin_http = self._admin_http, None
        if admin_http is not None:
            await admin_http.aclose()


def _gauge(metrics_text: str, sample: str) -> float | None:
    """The value of one sample (``name`` or ``name{labels}`` exactly as exposed) in Prometheus text."""
    for line in metrics_text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _free_ports(connectors: int) -> DemoPorts:
    """A run of free loopback ports below the ephemeral range (whose ports outgoing connections take)."""
    rng = random.Random()
    for _ in range(50):
        ports = DemoPorts.from_base(rng.randrange(20000, 32000), connectors=connectors)
        try:
            ports.check_free()
        except PortInUse:
            continue
        return ports
    raise OSError("no free run of ports found on loopback")
