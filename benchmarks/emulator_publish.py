"""Benchmark (not a test): the emulator's CPU per published call-data change, as ``fingress bench`` drives it.

Starts ``fingress emulator`` as a child process (on ``--loop``, like ``fingress bench --emulator-loop``; TLS
on loopback; the bench cluster with N generated agents), connects one real XMPP-over-WebSocket session per
agent (RFC 7395, TLS, SASL PLAIN, bind, presence), signs every agent in and puts it on an answered call
(REST + control API), then asks for ``rate`` call-data changes per agent per second for ``duration``
seconds through ``POST /emulator/calls/call-data``, in a batch every 0.1 s spread over the tick (what the
bench's events scenario does). Prints the emulator process's CPU (``/proc/<pid>/stat``, user and system)
per published change, counted once every notification has arrived at its client.

    PYTHONPATH=. .venv/bin/python benchmarks/emulator_publish.py --agents 1000 --rate 2 --duration-s 10
        [--slot-s 0.005] [--loop uvloop] [--py-spy FILE]

The figure moves by ±20 % between runs on this shared 2-core machine: compare runs made back to back.
``--render-only`` needs no sockets: the cluster model on a manual clock with one WebSocket framing per agent
(the emulator's own session and RFC 7395 framing, messages rendered to text but written nowhere), per
change: model → Update document → hub → pubsub stanza → WebSocket message text.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import random
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import structlog
import trustme
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from fingress.bench.cluster import BenchAgent, bench_agents, bench_emulator_config
from fingress.bench.pacing import send_paced

STAMP_VARIABLE = "callVariable10"
TICK_S = 0.1
DOMAIN = "finesse-a.emulator.test"
FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick_s = 1 / os.sysconf("SC_CLK_TCK")
    return int(fields[11]) * tick_s, int(fields[12]) * tick_s


def wake_ups(pid: int) -> int:
    """Voluntary context switches: how often the process slept and was woken."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class XmppClient:
    """One agent's notification session over WebSocket; counts the pubsub messages it receives."""

    def __init__(self, agent: BenchAgent) -> None:
        self.agent = agent
        self.received = 0
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self, url: str, context: ssl.SSLContext) -> None:
        websocket = await connect(
            url,
            ssl=context,
            subprotocols=[Subprotocol("xmpp")],
            compression=None,  # what the connector asks for: no permessage-deflate
            max_size=None,
        )
        self._socket = websocket
        opening = f'<open xmlns="{FRAMING_NS}" to="{DOMAIN}" version="1.0"/>'
        await websocket.send(opening)
        await self._expect(websocket, "<stream:features")
        credentials = base64.b64encode(f"\0{self.agent.id}\0{self.agent.password}".encode()).decode()
        await websocket.send(
            f'<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{credentials}</auth>'
        )
        await self._expect(websocket, "<success")
        await websocket.send(opening)
        await self._expect(websocket, "<stream:features")
        await websocket.send(
            '<iq xmlns="jabber:client" type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">'
            "<resource>bench</resource></bind></iq>"
        )
        await self._expect(websocket, "<iq")
        await websocket.send('<presence xmlns="jabber:client"/>')
        self._reader = asyncio.create_task(self._read(websocket))

    @staticmethod
    async def _expect(websocket: ClientConnection, marker: str) -> None:
        async with asyncio.timeout(10):
            while marker not in str(await websocket.recv()):
                pass

    async def _read(self, websocket: ClientConnection) -> None:
        async for message in websocket:
            if str(message).startswith("<message"):
                self.received += 1

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._socket is not None:
            await self._socket.close()


async def bounded(tasks: list[object], limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(coroutine: object) -> None:
        async with semaphore:
            await coroutine  # type: ignore[misc]

    await asyncio.gather(*(run(task) for task in tasks))


async def wire_benchmark(
    agent_count: int,
    rate: float,
    duration_s: float,
    profile: str | None,
    slot_s: float | None,
    loop: str,
) -> None:
    agents = bench_agents(agent_count)
    toml_text, _config = bench_emulator_config(agents)
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1")
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        (work / "emulator.toml").write_text(toml_text)
        certificate.private_key_pem.write_to_path(str(work / "key.pem"))
        certificate.cert_chain_pems[0].write_to_path(str(work / "cert.pem"))
        ports = [free_port() for _ in range(4)]
        command = [
            sys.executable, "-m", "fingress.bench.launch", loop, "emulator",
            "--config", str(work / "emulator.toml"), "--host", "127.0.0.1",
            "--port-a", str(ports[0]), "--port-b", str(ports[1]),
            "--xmpp-port-a", str(ports[2]), "--xmpp-port-b", str(ports[3]),
            "--cert", str(work / "cert.pem"), "--key", str(work / "key.pem"),
        ]  # fmt: skip
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await _drive(child.pid, agents, ca, ports[0], rate, duration_s, profile, slot_s)
        finally:
            child.terminate()
            child.wait(10)


async def _drive(
    pid: int,
    agents: list[BenchAgent],
    ca: trustme.CA,
    port: int,
    rate: float,
    duration_s: float,
    profile: str | None,
    slot_s: float | None,
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    base = f"https://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(verify=context, base_url=base, limits=limits, timeout=30) as api:
        deadline = time.monotonic() + 30
        while True:
            try:
                await api.get("/emulator/timing")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        clients = [XmppClient(agent) for agent in agents]
        url = f"wss://127.0.0.1:{port}/ws/"
        await bounded([client.open(url, context) for client in clients], 50)

        async def put_state(agent: BenchAgent, body: str) -> None:
            answer = await api.put(
                f"/finesse/api/User/{agent.id}", content=body, auth=(agent.id, agent.password)
            )
            answer.raise_for_status()

        login = "<User><state>LOGIN</state><extension>{}</extension></User>"
        await bounded([put_state(a, login.format(a.extension)) for a in agents], 50)
        await asyncio.sleep(0.5)
        await bounded([put_state(a, "<User><state>READY</state></User>") for a in agents], 50)
        await asyncio.sleep(0.5)
        dialogs: list[str] = []
        for agent in agents:
            answer = await api.post("/emulator/calls", json={"agent_id": agent.id, "from": "5551234"})
            answer.raise_for_status()
            dialog_id = answer.json()["dialog_id"]
            (await api.post(f"/emulator/calls/{dialog_id}/answer")).raise_for_status()
            dialogs.append(dialog_id)
        if slot_s is not None:
            (await api.put("/emulator/timing", json={"call_data_slot_s": slot_s})).raise_for_status()
        await asyncio.sleep(1.0)

        def arrived() -> int:
            return sum(client.received for client in clients)

        before_arrived = arrived()
        profiler = None
        if profile is not None:
            profiler = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid),
                 "--format", "raw",
                 "--output", profile, "--duration", str(int(duration_s)), "--rate", "250"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        cpu_before, wake_ups_before = cpu_seconds(pid), wake_ups(pid)
        started = time.perf_counter()
        published = await _publish(api, dialogs, rate, duration_s)
        expected = before_arrived + published
        settle_deadline = time.monotonic() + 30
        while arrived() < expected and time.monotonic() < settle_deadline:
            await asyncio.sleep(0.05)
        elapsed_s = time.perf_counter() - started
        (user_after_s, system_after_s), woken = cpu_seconds(pid), wake_ups(pid) - wake_ups_before
        user_s, system_s = user_after_s - cpu_before[0], system_after_s - cpu_before[1]
        cpu_used_s = user_s + system_s
        print(
            json.dumps(
                {
                    "agents": len(agents),
                    "rate_per_agent": rate,
                    "published": published,
                    "arrived": arrived() - before_arrived,
                    "elapsed_s": round(elapsed_s, 2),
                    "emulator_cpu_s": round(cpu_used_s, 3),
                    "emulator_cpu_share": round(cpu_used_s / elapsed_s, 3),
                    "emulator_user_us_per_change": round(user_s / max(published, 1) * 1e6, 1),
                    "emulator_system_us_per_change": round(system_s / max(published, 1) * 1e6, 1),
                    "emulator_wake_ups_per_change": round(woken / max(published, 1), 2),
                    "emulator_us_per_change": round(cpu_used_s / max(published, 1) * 1e6, 1),
                }
            )
        )
        if profiler is not None:
            profiler.wait(30)
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


async def _publish(api: httpx.AsyncClient, dialogs: list[str], rate: float, duration_s: float) -> int:
    published = 0

    async def send(batch: list[str], _tick: int) -> None:
        nonlocal published
        answer = await api.post(
            "/emulator/calls/call-data",
            json={"dialog_ids": batch, "stamp_variable": STAMP_VARIABLE, "spread_s": TICK_S},
        )
        answer.raise_for_status()
        published += len(answer.json()["updated"])

    order = random.sample(dialogs, len(dialogs))
    await send_paced(order, per_second=rate * len(order), duration_s=duration_s, tick_s=TICK_S, send=send)
    return published


def render_benchmark(agent_count: int, changes: int) -> None:
    """The model, the hub, the emulator's XMPP sessions and RFC 7395 framing, without sockets."""
    from fingress.emulator.cluster import Cluster
    from fingress.emulator.commands import UserUpdate
    from fingress.emulator.hub import Hub
    from fingress.emulator.server import xmpp_settings
    from fingress.emulator.timers import ManualScheduler
    from fingress.emulator.xmpp.session import ServerSession
    from fingress.emulator.xmpp.websocket_framing import WebSocketFraming

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    agents = bench_agents(agent_count)
    _text, config = bench_emulator_config(agents)
    scheduler = ManualScheduler()
    hub = Hub()
    cluster = Cluster(cluster_config=config, hub=hub, scheduler=scheduler)
    settings = xmpp_settings(config)
    framings: list[WebSocketFraming] = []
    for agent in agents:
        session = ServerSession(side="A", hub=hub, cluster=cluster, settings=settings)
        framing = WebSocketFraming(session, max_stanza_bytes=65536, max_depth=32)
        opening = f'<open xmlns="{FRAMING_NS}" to="{DOMAIN}" version="1.0"/>'
        framing.receive_message(opening)
        credentials = base64.b64encode(f"\0{agent.id}\0{agent.password}".encode()).decode()
        framing.receive_message(
            f'<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{credentials}</auth>'
        )
        framing.receive_message(opening)
        framing.receive_message(
            '<iq xmlns="jabber:client" type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">'
            "<resource>bench</resource></bind></iq>"
        )
        framing.receive_message('<presence xmlns="jabber:client"/>')
        framings.append(framing)
        for state in ("LOGIN", "READY"):
            update = UserUpdate(state=state, extension=agent.extension if state == "LOGIN" else None)
            cluster.update_user("A", cluster.actor(agent.id), agent.id, update, "")
            scheduler.advance(1.0)
    dialogs = []
    for agent in agents:
        dialog_id = cluster.offer_call(agent_id=agent.id, from_address="5551234", call_variables={})
        cluster.cti.answer_on_phone(dialog_id)
        dialogs.append(dialog_id)
    scheduler.advance(1.0)
    for framing in framings:
        framing.messages_to_send()
    sent = 0
    started = time.process_time()
    for index in range(0, changes, len(dialogs)):
        batch = dialogs[: min(len(dialogs), changes - index)]
        cluster.update_call_data(batch, {}, stamp_variable=STAMP_VARIABLE, spread_s=TICK_S)
        scheduler.advance(TICK_S)
        for framing in framings:
            sent += len(framing.messages_to_send())
    used_s = time.process_time() - started
    print(
        json.dumps(
            {
                "agents": agent_count,
                "changes": changes,
                "messages": sent,
                "us_per_change": round(used_s / changes * 1e6, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2.0, help="changes per agent per second")
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--render-only", action="store_true", help="no sockets: model → WebSocket text")
    parser.add_argument("--changes", type=int, default=20000, help="with --render-only")
    parser.add_argument(
        "--slot-s", type=float, help="timing.call_data_slot_s for the run (default: the emulator's own)"
    )
    parser.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the emulator's loop"
    )
    parser.add_argument("--py-spy", metavar="FILE", help="record the emulator with py-spy (collapsed stacks)")
    options = parser.parse_args()
    if options.render_only:
        render_benchmark(options.agents, options.changes)
    else:
        asyncio.run(
            wire_benchmark(
                options.agents, options.rate, options.duration_s, options.py_spy, options.slot_s, options.loop
            )
        )


if __name__ == "__main__":
    main()
