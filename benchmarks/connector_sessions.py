"""Benchmark (not a test): N agent sessions in one connector process, against the emulator.

Signs N agents in through the session manager (REST over TLS to the in-process emulator; notifications
through links attached to the emulator's hub, or with ``--xmpp ws|tls`` over the real XMPP client and the
emulator's XMPP servers), then prints:

* memory per session: Python allocations made by ``connector/`` code (tracemalloc) and the whole
  process's resident-set growth (which includes the emulator's own per-agent state);
* event-processing cost: User notifications (the escaped ``Update`` document as Finesse sends it) fed
  to one session with one subscriber: parse → confirm → mirror → event log → sink, per event.

    PYTHONPATH=. .venv/bin/python benchmarks/connector_sessions.py --agents 2000 --events 20000 [--xmpp ws]
    PYTHONPATH=. .venv/bin/python benchmarks/connector_sessions.py --agents 5 --kind dialog --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import pstats
import resource
import ssl
import time
import tomllib
import tracemalloc
from pathlib import Path
from typing import Any

import trustme

from connector.config import parse_config
from connector.finesse.client import FinesseClient, build_http_client
from connector.ops.metrics import ConnectorMetrics
from connector.sessions.context import SessionContext
from connector.sessions.links import LinkFactory
from connector.sessions.manager import SessionManager
from connector.sessions.xmpp_links import XmppLinkFactory
from edge.tunnel.errors import ApiError
from edge.tunnel.messages import AgentEvent, AgentId, Principal, TunnelRequest
from fingress.emulator.config import EmulatorConfig, default_config_text
from fingress.emulator.server import EmulatorServer
from tests.connector.hublink import HubLinkFactory

CONNECTOR_DIR = str(Path(__file__).resolve().parent.parent / "connector")


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def emulator_config(agents: int) -> EmulatorConfig:
    data: dict[str, Any] = tomllib.loads(default_config_text())
    data["agents"] = [
        {"id": str(100000 + n), "login_name": f"agent{n}", "password": f"pw-{n}", "team_id": 5005}
        for n in range(agents)
    ]
    data["timing"] = {"async_processing_delay_s": 0.001, "failure_detection_s": 0}
    return EmulatorConfig.model_validate(data)


def user_documents(agent: str) -> tuple[str, list[str]]:
    """The agent's User going READY and NOT_READY in turn."""
    return f"/finesse/api/User/{agent}", [
        "<Update><data><user>"
        f"<loginId>{agent}</loginId><extension>200000</extension><state>{state}</state>"
        "<reasonCodeId>-1</reasonCodeId><pendingState></pendingState>"
        "</user></data><event>PUT</event><requestId></requestId>"
        f"<source>/finesse/api/User/{agent}</source></Update>"
        for state in ("READY", "NOT_READY")
    ]


def _dialog(agent: str, *, variables: int, stamp: int) -> str:
    call_variables = "".join(
        f"<CallVariable><name>callVariable{n}</name><value>value {n}</value></CallVariable>"
        for n in range(1, variables)
    )
    call_variables += (
        f"<CallVariable><name>callVariable{variables}</name><value>{stamp}</value></CallVariable>"
    )
    participant = (
        "<Participant><actions><action>HOLD</action><action>DROP</action><action>TRANSFER_SST</action>"
        "</actions><mediaAddress>{address}</mediaAddress><mediaAddressType>{kind}</mediaAddressType>"
        "<startTime>2026-11-21T11:13:39.924Z</startTime><state>ACTIVE</state><stateCause />"
        "<stateChangeTime>2026-11-21T11:13:39.924Z</stateChangeTime></Participant>"
    )
    return (
        "<Dialog><associatedDialogUri /><fromAddress>5550001</fromAddress><id>16777217</id>"
        "<mediaProperties><DNIS>8000</DNIS><callType>ACD_IN</callType><dialedNumber>8000</dialedNumber>"
        f"<callvariables>{call_variables}</callvariables><queueName>Support</queueName><wrapUpReason />"
        "</mediaProperties><mediaType>Voice</mediaType><participants>"
        + participant.format(address="200000", kind="AGENT_DEVICE")
        + participant.format(address="5550001", kind="EXTERNAL")
        + "</participants><state>ACTIVE</state><toAddress>200000</toAddress>"
        "<uri>/finesse/api/Dialog/16777217</uri></Dialog>"
    )


def dialog_arrival(agent: str, *, variables: int) -> str:
    """The call arriving: POST of the dialog on the agent's Dialogs node."""
    return (
        f"<Update><data><dialogs>{_dialog(agent, variables=variables, stamp=0)}</dialogs></data>"
        f"<event>POST</event><requestId /><source>/finesse/api/User/{agent}/Dialogs</source></Update>"
    )


def dialog_documents(agent: str, *, variables: int) -> tuple[str, list[str]]:
    """The call's data changing (a PUT of the whole dialog, as an IVR or CRM script causes), as the
    emulator renders it for the benchmark's events scenario."""
    return f"/finesse/api/User/{agent}/Dialogs", [
        f"<Update><data>{_dialog(agent, variables=variables, stamp=stamp)}</data><event>PUT</event>"
        "<requestId /><source>/finesse/api/Dialog/16777217</source></Update>"
        for stamp in range(1, 101)
    ]


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def push(self, event: AgentEvent) -> None:
        self.count += 1

    def end(self) -> None:
        pass


def request(agent: str, method: str, path: str, body: dict[str, Any]) -> TunnelRequest:
    return TunnelRequest(
        request_id="bench",
        method=method,
        path=path,
        query="",
        headers={},
        body=json.dumps(body).encode(),
        principal=Principal(agent_id=AgentId(agent), subject=agent),
    )


async def main(agents: int, events: int, concurrency: int, xmpp: str, kind: str, profile: bool) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    config = emulator_config(agents)
    async with (
        EmulatorServer(
            emulator_config=config,
            ssl_context=server_context,
            https_ports={"A": 0, "B": 0},
            xmpp_ports={"A": 0, "B": 0},
        ) as emulator,
        build_http_client(ssl_context=client_context, max_connections=concurrency) as http,
    ):
        side = {
            "rest_url": emulator.base_url("A"),
            "xmpp_transport": "tls" if xmpp == "tls" else "ws",
            "xmpp_address": (
                f"127.0.0.1:{emulator.xmpp_port('A')}"
                if xmpp == "tls"
                else emulator.base_url("A").replace("https", "wss") + "/ws/"
            ),
            "xmpp_domain": "finesse-a.emulator.test",
        }
        connector_config = parse_config({"finesse": {"side_a": side}})
        metrics = ConnectorMetrics()
        links: LinkFactory = (
            HubLinkFactory(emulator)
            if xmpp == "hub"
            else XmppLinkFactory(config=connector_config, ssl_context=client_context)
        )
        context = SessionContext(
            config=connector_config,
            finesse={"A": FinesseClient(http=http, base_url=emulator.base_url("A"), observer=metrics)},
            links=links,
            metrics=metrics,
        )
        manager = SessionManager(context=context)
        gc.collect()
        rss_before = rss_kib()
        tracemalloc.start()
        started = time.perf_counter()
        semaphore = asyncio.Semaphore(concurrency)
        failures = 0

        async def sign_in(n: int) -> None:
            nonlocal failures
            agent = str(100000 + n)
            body = {"extension": str(200000 + n), "finesse_password": f"pw-{n}"}
            async with semaphore:
                try:
                    response = await manager.handle(request(agent, "POST", "/api/v1/agent/session", body))
                except ApiError:
                    failures += 1
                    return
                if response.status != 200:
                    failures += 1

        await asyncio.gather(*(sign_in(n) for n in range(agents)))
        elapsed_s = time.perf_counter() - started
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        rss_after = rss_kib()
        connector_bytes = sum(
            stat.size
            for stat in snapshot.statistics("filename")
            if stat.traceback[0].filename.startswith(CONNECTOR_DIR)
        )
        print(f"sessions signed in: {len(manager)} of {agents} ({failures} failed) in {elapsed_s:.1f} s")
        print(f"connector/ allocations per session: {connector_bytes / max(len(manager), 1) / 1024:.1f} KiB")
        print(
            f"process RSS growth per session (incl. emulator): "
            f"{(rss_after - rss_before) / max(len(manager), 1):.1f} KiB"
        )

        # Event processing: one session, one subscriber, whole documents as Finesse sends them.
        agent = "100000"
        session = manager.session(AgentId(agent))
        assert session is not None
        sink = CountingSink()
        session.attach(sink, None)
        node, documents = dialog_documents(agent, variables=10) if kind == "dialog" else user_documents(agent)
        if kind == "dialog":  # the call arrives first (POST on the Dialogs node), then its data changes
            session.notification(f"/finesse/api/User/{agent}/Dialogs", dialog_arrival(agent, variables=10))
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for n in range(events):
            session.notification(node, documents[n % len(documents)])
        if profiler is not None:
            profiler.disable()
        per_event_us = (time.perf_counter() - started) / events * 1e6
        print(f"events: {events} {kind} notifications → {sink.count} frames; {per_event_us:.1f} µs per event")
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        await manager.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--xmpp", choices=["hub", "ws", "tls"], default="hub")
    parser.add_argument(
        "--kind", choices=["user", "dialog"], default="user", help="notifications fed: state or call data"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the event processing")
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.agents,
            arguments.events,
            arguments.concurrency,
            arguments.xmpp,
            arguments.kind,
            arguments.profile,
        )
    )
