"""SIGKILL the connector process mid-request: the edge fails the request at once, and a new connector
process is served without any manual step."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from edge.tunnel.errors import Unavailable
from tests.support.timing import seconds
from tests.tunnel.conftest import Tunnel, eventually, request

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pem_files(ca: trustme.CA, connector_cert: trustme.LeafCert, tmp_path: Path) -> list[str]:
    files = [tmp_path / "ca.pem", tmp_path / "connector.pem", tmp_path / "connector.key"]
    ca.cert_pem.write_to_path(str(files[0]))
    connector_cert.cert_chain_pems[0].write_to_path(str(files[1]))
    connector_cert.private_key_pem.write_to_path(str(files[2]))
    return [str(path) for path in files]


@pytest.fixture
async def spawn(tunnel: Tunnel, pem_files: list[str]) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    processes: list[asyncio.subprocess.Process] = []
    yield processes
    for process in processes:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def start_connector(tunnel: Tunnel, pem_files: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.tunnel.connector_process",
        tunnel.url,
        *pem_files,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def test_sigkilled_connector_fails_in_flight_at_once_and_a_new_one_is_served(
    tunnel: Tunnel, pem_files: list[str], spawn: list[asyncio.subprocess.Process]
) -> None:
    async with asyncio.timeout(seconds(20)):
        spawn.append(await start_connector(tunnel, pem_files))
        await tunnel.relay.wait_for_connections(1)
        assert (await tunnel.relay.request(request(), timeout_s=seconds(5))).status == 200
        in_flight = asyncio.create_task(
            tunnel.relay.request(request("/api/v1/slow", method="POST"), timeout_s=seconds(60))
        )
        await eventually(lambda: tunnel.relay.links[0].load == 1)
        spawn[0].send_signal(signal.SIGKILL)
        killed_at = asyncio.get_running_loop().time()
        with pytest.raises(Unavailable) as lost:
            await in_flight
        assert lost.value.code == "connector_lost"
        # The kernel closes the dead process's socket: no waiting for keepalive or the 60 s timeout.
        assert asyncio.get_running_loop().time() - killed_at < seconds(2)
        assert not tunnel.relay.ready

        spawn.append(await start_connector(tunnel, pem_files))
        await tunnel.relay.wait_for_connections(1)
        assert (await tunnel.relay.request(request(), timeout_s=seconds(5))).status == 200
