"""Emulator measurements (not a test: pytest does not collect it). Run:

    .venv/bin/python -m tests.emulator.bench_emulator [--agents 2000] [--changes 500] [--gets 1000]

1. REST state change round trip: PUT User → 202 → the notification on the Hub (real uvicorn over TLS, httpx).
2. GET User throughput, sequential, one httpx connection.
3. The cluster model alone with N agents on a manual clock: sign-ins, longest-ready routing, answers and
   hang-ups.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import time

import httpx
import trustme

from fingress.emulator.cluster import Cluster
from fingress.emulator.commands import UserUpdate
from fingress.emulator.config import EmulatorConfig, default_config_text, parse_config
from fingress.emulator.hub import Hub
from fingress.emulator.server import EmulatorServer
from fingress.emulator.timers import ManualScheduler
from tests.emulator.support import fast_config


class _Waiter:
    """A Hub session that wakes the benchmark on the next notification."""

    def __init__(self) -> None:
        self.future: asyncio.Future[str] | None = None

    def deliver(self, node: str, item_id: str, notification_xml: str) -> None:
        if self.future is not None and not self.future.done():
            self.future.set_result(notification_xml)

    def close(self, condition: str) -> None:
        pass


async def rest_round_trips(changes: int, gets: int) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    async with EmulatorServer(
        emulator_config=fast_config(),
        ssl_context=server_context,
        host="127.0.0.1",
        https_ports={"A": 0, "B": 0},
        xmpp_ports={"A": 0, "B": 0},
    ) as emulator:
        waiter = _Waiter()
        emulator.hub.attach("A", "1001", waiter)
        url = f"{emulator.base_url('A')}/finesse/api/User/1001"
        auth = ("1001", "alice-pass")
        bodies = [
            b"<User><state>READY</state></User>",
            b"<User><state>NOT_READY</state><reasonCodeId>1</reasonCodeId></User>",
        ]
        async with httpx.AsyncClient(verify=client_context) as client:
            loop = asyncio.get_running_loop()
            waiter.future = loop.create_future()
            await client.put(
                url, auth=auth, content=b"<User><state>LOGIN</state><extension>1001001</extension></User>"
            )
            await waiter.future
            latencies_ms = []
            for index in range(changes):
                waiter.future = loop.create_future()
                started = time.perf_counter()
                response = await client.put(url, auth=auth, content=bodies[index % 2])
                assert response.status_code == 202
                await waiter.future
                latencies_ms.append((time.perf_counter() - started) * 1000)
            quantiles = statistics.quantiles(latencies_ms, n=100)
            print(
                f"PUT User → 202 → notification, {changes} sequential: "
                f"p50 {quantiles[49]:.2f} ms, p99 {quantiles[98]:.2f} ms"
            )
            started = time.perf_counter()
            for _ in range(gets):
                assert (await client.get(url, auth=auth)).status_code == 200
            print(
                f"GET User, sequential on one connection: {gets / (time.perf_counter() - started):.0f} req/s"
            )


def _config_with_agents(count: int) -> EmulatorConfig:
    blocks = [default_config_text()]
    for index in range(count):
        agent_id = 800_000 + index
        blocks.append(
            f'\n[[agents]]\nid = "{agent_id}"\nlogin_name = "b{agent_id}"\npassword = "p"\nteam_id = 5005\n'
        )
    config = parse_config("".join(blocks), source="bench")
    return config.model_copy(
        update={"timing": config.timing.model_copy(update={"async_processing_delay_s": 0.0})}
    )


def model_scale(agents: int) -> None:
    scheduler = ManualScheduler()
    cluster = Cluster(cluster_config=_config_with_agents(agents), hub=Hub(), scheduler=scheduler)
    ids = [str(800_000 + index) for index in range(agents)]
    started = time.perf_counter()
    for agent_id in ids:
        cluster.update_user(
            "A", cluster.actor(agent_id), agent_id, UserUpdate(state="LOGIN", extension=agent_id), ""
        )
        cluster.update_user("A", cluster.actor(agent_id), agent_id, UserUpdate(state="READY"), "")
    scheduler.run_pending()
    print(
        f"{agents} agents: sign-in + READY {(time.perf_counter() - started) / agents * 1e6:.0f} µs per agent"
    )
    calls = agents // 2
    started = time.perf_counter()
    dialogs = [cluster.offer_call(agent_id=None, from_address="1", call_variables={}) for _ in range(calls)]
    print(
        f"{calls} offers (longest-ready routing): {(time.perf_counter() - started) / calls * 1e3:.2f} ms each"
    )
    started = time.perf_counter()
    for dialog_id in dialogs:
        cluster.cti.answer_on_phone(dialog_id)
    for dialog_id in dialogs:
        cluster.cti.customer_hangup(dialog_id)
    print(f"{calls} answers + hang-ups: {(time.perf_counter() - started) / calls * 1e3:.2f} ms per call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--gets", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(rest_round_trips(args.changes, args.gets))
    model_scale(args.agents)


if __name__ == "__main__":
    main()
