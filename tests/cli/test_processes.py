"""``fingress edge`` and ``fingress connector`` as real processes, with certificates made by
``fingress certs``: the tunnel comes up over mutual TLS, SIGHUP reloads the edge's policy and a rotated
certificate, SIGTERM drains and exits 0; bad input is a clear message and a non-zero exit code."""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fingress.cli import main
from fingress.demo.ports import DemoPorts, PortInUse
from tests.support.timing import seconds

FINESSE_NOWHERE = (
    "127.0.0.1:9"  # discard port: nothing answers; the connector contacts Finesse only on demand
)


class Process:
    """A ``fingress`` subprocess whose output lines are collected as they arrive."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = asyncio.Event()
        assert process.stdout is not None
        assert process.stderr is not None
        self._readers = [
            asyncio.create_task(self._collect(process.stdout, self.stdout)),
            asyncio.create_task(self._collect(process.stderr, self.stderr)),
        ]

    async def _collect(self, stream: asyncio.StreamReader, lines: list[str]) -> None:
        async for line in stream:
            lines.append(line.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    async def wait_for_line(
        self, lines: list[str], predicate: Callable[[str], bool], timeout_s: float = 10
    ) -> str:
        async with asyncio.timeout(seconds(timeout_s)):
            while True:
                for line in lines:
                    if predicate(line):
                        return line
                if self.process.returncode is not None:
                    raise AssertionError(f"exited {self.process.returncode}: {self.stdout} {self.stderr}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_log(self, event: str, **fields: Any) -> dict[str, Any]:
        def matches(line: str) -> bool:
            try:
                entry = json.loads(line)
            except ValueError:
                return False
            return bool(entry.get("event") == event and all(entry.get(k) == v for k, v in fields.items()))

        return dict(json.loads(await self.wait_for_line(self.stderr, matches)))

    async def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 15) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signum)
        async with asyncio.timeout(seconds(timeout_s)):
            code = await self.process.wait()
            await asyncio.gather(*self._readers)
        return code


async def spawn(*args: str) -> Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fingress.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Process(process)


@pytest.fixture
async def processes() -> AsyncIterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.process.returncode is None:
            process.process.kill()
            await process.process.wait()


def make_pki(pki: Path) -> None:
    """What an operator types (certs/README.md)."""
    assert main(["certs", "init", "--dir", str(pki)]) == 0
    assert main(["certs", "issue", "server", "--dir", str(pki)]) == 0
    assert main(["certs", "issue", "connector", "--id", "lan-1", "--dir", str(pki)]) == 0


def write_edge_files(folder: Path) -> Path:
    (folder / "policy.toml").write_text(
        """[oauth]
issuer = "https://idp.example.test"
audience = "fingress"
jwks_url = "https://idp.example.test/jwks.json"

[tls]
cert_file = "pki/edge.pem"
key_file = "pki/edge.key"
"""
    )
    edge = folder / "edge.toml"
    edge.write_text(
        """policy_file = "policy.toml"
policy_poll_s = 3600.0

[public]
host = "127.0.0.1"
port = 0

[admin]
port = 0

[tunnel]
host = "127.0.0.1"
port = 0
cert_file = "pki/edge.pem"
key_file = "pki/edge.key"
client_ca_file = "pki/ca.pem"
allowed_identities = ["lan-1"]

[server]
graceful_shutdown_s = 1.0
"""
    )
    return edge


def write_connector_file(folder: Path, tunnel_url: str) -> Path:
    sides = "".join(
        f"""
[finesse.side_{name}]
rest_url = "https://{FINESSE_NOWHERE}"
xmpp_address = "wss://{FINESSE_NOWHERE}/ws/"
xmpp_domain = "finesse-{name}.example.test"
ca_file = "pki/ca.pem"
"""
        for name in ("a", "b")
    )
    connector = folder / "connector.toml"
    connector.write_text(
        f"""{sides}
[admin]
port = 0

[tunnel]
urls = [{json.dumps(tunnel_url)}]
connector_id = "lan-1"
ca_file = "pki/ca.pem"
cert_file = "pki/connector-lan-1.pem"
key_file = "pki/connector-lan-1.key"
backoff_max_s = 0.5
drain_timeout_s = 1.0
"""
    )
    return connector


def url_in(line: str, scheme: str) -> str:
    found = re.search(rf"{scheme}://[0-9.]+:[0-9]+[^ ]*", line)
    assert found, line
    return found.group(0)


async def eventually_ready(admin_url: str, timeout_s: float = 10) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=seconds(2)) as client, asyncio.timeout(seconds(timeout_s)):
        while True:
            response = await client.get(admin_url)
            if response.status_code == 200:
                return dict(response.json())
            await asyncio.sleep(0.05)


async def test_edge_and_connector_processes_with_certs_from_the_cli(
    tmp_path: Path, processes: list[Process]
) -> None:
    make_pki(tmp_path / "pki")
    edge_file = write_edge_files(tmp_path)
    assert main(["check", "--config", str(edge_file)]) == 0

    edge = await spawn("edge", "--config", str(edge_file), "--log-format", "json")
    processes.append(edge)
    await edge.wait_for_line(edge.stdout, lambda line: line.startswith("edge ready"))
    tunnel_url = url_in(next(line for line in edge.stdout if line.startswith("edge tunnel")), "wss")
    admin_url = url_in(next(line for line in edge.stdout if line.startswith("edge admin")), "http")
    public_url = url_in(next(line for line in edge.stdout if line.startswith("edge public")), "https")

    connector_file = write_connector_file(tmp_path, tunnel_url)
    assert main(["check", "--config", str(connector_file)]) == 0
    connector = await spawn("connector", "--config", str(connector_file), "--log-format", "json")
    processes.append(connector)
    await connector.wait_for_line(connector.stdout, lambda line: line.startswith("connector running"))
    # The edge is ready only once a connector got through the mutual-TLS handshake with its identity.
    assert await eventually_ready(admin_url) == {"ready": True}
    await edge.wait_for_log("tunnel_connected", identity="lan-1")

    # The public listener serves the certificate `fingress certs` issued, trusted through the private CA.
    trust = ssl.create_default_context(cafile=tmp_path / "pki" / "ca.pem")
    async with httpx.AsyncClient(verify=trust, timeout=seconds(5)) as client:
        unauthenticated = await client.get(public_url + "agent")
    assert unauthenticated.status_code == 401

    # Rotate the edge certificate, then SIGHUP: the policy reloads and both listeners take the new pair.
    pki = str(tmp_path / "pki")
    assert main(["certs", "rotate", "--dir", pki, "--cert", str(tmp_path / "pki" / "edge.pem")]) == 0
    edge.process.send_signal(signal.SIGHUP)
    await edge.wait_for_log("policy_reloaded", trigger="signal")
    await edge.wait_for_log("certificate_reloaded", listener="public")
    await edge.wait_for_log("certificate_reloaded", listener="tunnel")

    # SIGHUP on the connector: a live setting applies; a broken file is logged and changes nothing.
    connector_admin = url_in(
        next(line for line in connector.stdout if line.startswith("connector admin")), "http"
    )
    async with httpx.AsyncClient(timeout=seconds(5)) as client:
        readiness_before = await client.get(connector_admin)
    with connector_file.open("a") as file:
        file.write("\n[sessions]\ndisconnect_grace_s = 45.0\n")
    connector.process.send_signal(signal.SIGHUP)
    await connector.wait_for_log("config_reloaded", changed=["sessions.disconnect_grace_s"])
    connector_file.write_text("[finesse\n")
    connector.process.send_signal(signal.SIGHUP)
    failed = await connector.wait_for_log("config_reload_failed")
    assert "not valid TOML" in " ".join(failed["problems"])
    async with httpx.AsyncClient(timeout=seconds(5)) as client:
        readiness_after = await client.get(connector_admin)
        assert (await client.get(connector_admin.replace("/readyz", "/healthz"))).status_code == 200
        metrics = (await client.get(connector_admin.replace("/readyz", "/metrics"))).text
    assert 'fingress_connector_config_reloads_total{outcome="applied"} 1.0' in metrics
    assert 'fingress_connector_config_reloads_total{outcome="invalid"} 1.0' in metrics
    # /readyz answers as before the reloads (Finesse is nowhere in this test: the same answer, not 200).
    assert (readiness_after.status_code, readiness_after.json()) == (
        readiness_before.status_code,
        readiness_before.json(),
    )
    # The tunnel still serves: the edge stays ready through the connector.
    assert await eventually_ready(admin_url) == {"ready": True}

    assert await connector.stop() == 0
    assert connector.stdout[-1] == "connector stopped"
    assert await edge.stop() == 0
    assert edge.stdout[-1] == "edge stopped"
    for line in edge.stderr + connector.stderr:
        assert "Traceback" not in line
        assert "PRIVATE KEY" not in line


async def test_bad_configuration_is_a_clear_error(tmp_path: Path, processes: list[Process]) -> None:
    edge_file = tmp_path / "edge.toml"
    edge_file.write_text('policy_file = "policy.toml"\n[admin]\nport = 99999\n')
    edge = await spawn("edge", "--config", str(edge_file))
    processes.append(edge)
    assert await edge.stop(signum=0) == 2
    assert any("admin.port" in line for line in edge.stderr), edge.stderr
    assert any("tunnel.cert_file" in line for line in edge.stderr), edge.stderr

    connector_file = tmp_path / "connector.toml"
    connector_file.write_text("[finesse]\n")
    connector = await spawn("connector", "--config", str(connector_file))
    processes.append(connector)
    assert await connector.stop(signum=0) == 2
    assert any("finesse.side_a" in line for line in connector.stderr), connector.stderr
    for line in edge.stderr + connector.stderr:
        assert "Traceback" not in line


async def test_demo_on_a_taken_base_port_says_so(tmp_path: Path, processes: list[Process]) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        taken = holder.getsockname()[1]
        demo = await spawn("demo", "--data-dir", str(tmp_path / "demo"), "--base-port", str(taken))
        processes.append(demo)
        assert await demo.stop(signum=0) == 1
    finally:
        holder.close()
    assert any(
        f"port {taken} (public) is in use; pick another --base-port" in line for line in demo.stderr
    ), demo.stderr
    assert not any("Traceback" in line for line in demo.stderr)


async def test_demo_process_starts_and_ctrl_c_stops_it_cleanly(
    tmp_path: Path, processes: list[Process]
) -> None:
    base = free_demo_base()
    demo = await spawn("demo", "--data-dir", str(tmp_path / "demo"), "--base-port", str(base))
    processes.append(demo)
    await demo.wait_for_line(demo.stdout, lambda line: line.startswith("(wrote "), timeout_s=30)
    manifest = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert manifest["edge"]["public"] == f"https://127.0.0.1:{base}"
    assert await demo.stop(signal.SIGINT) == 0
    assert demo.stdout[-1] == "fingress demo stopped"
    assert not any("Traceback" in line for line in demo.stderr), demo.stderr


def free_demo_base() -> int:
    """A base port whose whole run is free now, below Linux's ephemeral range (outgoing connections cannot
    take it in the moment before the demo binds)."""
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(20000, 32000)
        try:
            DemoPorts.from_base(base).check_free()
        except PortInUse:
            continue
        return base
    raise AssertionError("no free run of ports")
