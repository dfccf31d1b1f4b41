"""A simulated app recovering while no connector is up: the edge's 503 ends the try at once (no sign-in
that would fail the same way) and hands the app its Retry-After."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from fingress.bench.agent import AgentFailed, SimulatedAgent
from fingress.bench.cluster import BenchAgent
from fingress.bench.fleet import Fleet, Progress
from fingress.bench.scenarios import recover
from fingress.bench.target import Target
from tests.edge.servers import IdentityProvider
from tests.support.timing import seconds


async def test_recovery_without_a_connector_fails_once_with_retry_after(
    edge_without_connector: httpx.AsyncClient, idp: IdentityProvider, ca_file: Path
) -> None:
    base_url = str(edge_without_connector.base_url).rstrip("/")
    spec = BenchAgent(id="1001", extension="1001001", password="p")
    target = Target(
        public_url=base_url, emulator_url=base_url, ca_file=ca_file, agents=[spec], mint_token=idp.mint
    )
    fleet = Fleet(target=target, concurrency=1, progress=Progress(), timeout_s=seconds(5))
    sent: list[str] = []

    async def record(request: httpx.Request) -> None:
        sent.append(f"{request.method} {request.url.path}")

    api = httpx.AsyncClient(
        base_url=base_url, verify=fleet.trust, timeout=seconds(5), event_hooks={"request": [record]}
    )
    agent = SimulatedAgent(
        spec=spec,
        token=idp.mint(spec.id),
        api=api,
        events_url=base_url.replace("https://", "wss://") + "/api/v1/events",
        ssl_context=fleet.trust,
    )
    try:
        with pytest.raises(AgentFailed) as failed:
            async with asyncio.timeout(seconds(10)):
                await recover(fleet, agent)
    finally:
        await api.aclose()
        await fleet.aclose()
    assert failed.value.retry_after_s == 1.0
    assert "503" in str(failed.value)
    assert sent == ["GET /api/v1/agent"]
