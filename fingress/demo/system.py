"""The demo's composition: emulator, identity provider, edge and connector in one process, started in that
order (each needs the one before) and stopped in the reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import Generator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from connector.config import ConnectorConfig
from connector.config import load_config as load_connector_config
from connector.runtime import Connector
from edge.config import EdgeConfig
from edge.config import load_config as load_edge_config
from edge.tls import ReloadableServerContext
from fingress.connector_command import build_connector
from fingress.demo.files import (
    AGENT_CLAIM,
    AUDIENCE,
    CONNECTOR_ID,
    SCOPE,
    DemoFiles,
    RateLimitPolicy,
    issuer_url,
    write_demo_files,
)
from fingress.demo.ports import DEFAULT_BASE_PORT, HOST, DemoPorts
from fingress.devidp import DevIdentityProvider, DevIdpSettings, create_app
from fingress.edge_command import EdgeRuntime
from fingress.emulator.config import EmulatorConfig
from fingress.emulator.config import load_config as load_emulator_config
from fingress.emulator.server import EmulatorServer
from fingress.pki import DevPki, ensure_dev_pki, write_atomically

DEFAULT_DATA_DIR = Path(".fingress")
MANIFEST_NAME = "demo.json"


@dataclass(frozen=True)
class DemoOptions:
    """How to run the demo."""

    data_dir: Path = DEFAULT_DATA_DIR
    base_port: int = DEFAULT_BASE_PORT
    # The connector's presence grace: short values let a person try the disconnect cases in seconds.
    disconnect_grace_s: float = 30.0
    # The emulator redirects an unanswered call after this (Finesse's default of 15 s is short for typing).
    ring_timeout_s: float = 120.0
    # How long start() waits for the connector's tunnel to come up.
    tunnel_timeout_s: float = 10.0
    # The emulator's configuration used as given (ring_timeout_s is then not applied); None: the sample one.
    emulator_config: EmulatorConfig | None = None
    # Replaces the policy's default rate limits (tests and benchmarks send everything from 127.0.0.1).
    rate_limits: RateLimitPolicy | None = None


def demo_extension(agent_id: str, config: EmulatorConfig) -> str:
    """The extension the walkthrough signs an agent in with: a shared line for the agent whose notes say so,
    else ``2`` + the agent id's last three digits."""
    for extension in config.extensions:
        if any(device.device_id.endswith(agent_id) for device in extension.devices):
            return extension.number
    return "2" + agent_id[-3:]


def _sample_emulator_config(ring_timeout_s: float) -> EmulatorConfig:
    base = load_emulator_config()
    timing = base.timing.model_copy(update={"ring_timeout_s": ring_timeout_s})
    return base.model_copy(update={"timing": timing})


class _ServedApp:
    """An ASGI app served by uvicorn over TLS on a socket bound here (port known before serving)."""

    def __init__(self, *, app: Starlette, tls: ReloadableServerContext, host: str, port: int) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when proto is TCP.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
            self._socket.listen(64)
        except OSError:
            self._socket.close()
            raise
        config = uvicorn.Config(
            app,
            ssl_context_factory=tls.uvicorn_context_factory,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))

    async def close(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The demo command owns signal handling for every server in the process.
        yield


class DemoSystem:
    """Everything the demo runs. ``start()`` raises ``PortInUse``, ``ConfigError``, ``OSError`` or
    ``TimeoutError`` (the tunnel did not come up) after stopping what it started; ``stop()`` is idempotent."""

    def __init__(self, *, options: DemoOptions) -> None:
        self.options = options
        self.ports = DemoPorts.from_base(options.base_port)
        self.data_dir = options.data_dir.resolve()
        self._stack = AsyncExitStack()
        self._pki: DevPki | None = None
        self._emulator_config: EmulatorConfig | None = None
        self._files: DemoFiles | None = None
        self.emulator: EmulatorServer | None = None
        self.edge: EdgeRuntime | None = None
        self.connector: Connector | None = None

    @property
    def manifest_file(self) -> Path:
        return self.data_dir / MANIFEST_NAME

    async def start(self) -> None:
        self.ports.check_free()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pki = ensure_dev_pki(self.data_dir / "pki", connector_id=CONNECTOR_ID)
        emulator_config = self.options.emulator_config or _sample_emulator_config(self.options.ring_timeout_s)
        files = write_demo_files(
            self.data_dir,
            ports=self.ports,
            pki=pki,
            emulator=emulator_config,
            disconnect_grace_s=self.options.disconnect_grace_s,
            rate_limits=self.options.rate_limits,
        )
        edge_config = load_edge_config(files.edge)
        connector_config = load_connector_config(files.connector)
        provider = DevIdentityProvider.create_or_open(
            self.data_dir,
            settings=DevIdpSettings(
                issuer=issuer_url(self.ports), audience=AUDIENCE, agent_claim=AGENT_CLAIM, scopes=(SCOPE,)
            ),
        )
        self._pki, self._emulator_config, self._files = pki, emulator_config, files
        try:
            await self._start_all(pki, emulator_config, provider, edge_config, connector_config)
        except BaseException:
            await self.stop()
            raise
        write_atomically(
            self.manifest_file, json.dumps(self.manifest(), indent=2).encode() + b"\n", mode=0o644
        )

    async def _start_all(
        self,
        pki: DevPki,
        emulator_config: EmulatorConfig,
        provider: DevIdentityProvider,
        edge_config: EdgeConfig,
        connector_config: ConnectorConfig,
    ) -> None:
        ports = self.ports
        emulator_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        emulator_tls.minimum_version = ssl.TLSVersion.TLSv1_2
        emulator_tls.load_cert_chain(pki.server_cert_file, pki.server_key_file)
        emulator = EmulatorServer(
            emulator_config=emulator_config,
            ssl_context=emulator_tls,
            host=HOST,
            https_ports={"A": ports.emulator_a, "B": ports.emulator_b},
            xmpp_ports={"A": ports.emulator_xmpp_a, "B": ports.emulator_xmpp_b},
        )
        self.emulator = await self._stack.enter_async_context(emulator)

        passwords = {agent.id: agent.password.get_secret_value() for agent in emulator_config.agents}
        idp_tls = ReloadableServerContext(cert_file=pki.server_cert_file, key_file=pki.server_key_file)
        idp = _ServedApp(
            app=create_app(provider, agent_passwords=passwords), tls=idp_tls, host=HOST, port=ports.idp
        )
        self._stack.push_async_callback(idp.close)
        await idp.start()

        edge = EdgeRuntime(config=edge_config)
        self._stack.push_async_callback(edge.stop)
        await edge.start()
        self.edge = edge

        connector = build_connector(connector_config)
        self.connector = await self._stack.enter_async_context(connector)
        async with asyncio.timeout(self.options.tunnel_timeout_s):
            await edge.relay.wait_for_connections()

    async def restart_connector(self) -> None:
        """Stop the connector (its sessions end, Finesse states untouched) and start a new one from the same
        file; returns once its tunnel is up again."""
        files = self._started_files()
        if self.connector is not None:
            await self.connector.close()
            self.connector = None
        connector = build_connector(load_connector_config(files.connector))
        self.connector = await self._stack.enter_async_context(connector)
        await self._wait_for_tunnel()

    async def stop_edge(self) -> None:
        """Stop the edge (open requests drain; apps and the connector see it gone). Idempotent."""
        self._started_files()
        if self.edge is not None:
            await self.edge.stop()
            self.edge = None

    async def start_edge(self) -> None:
        """Start a new edge from the same files on the same ports; returns once the connector is back."""
        files = self._started_files()
        if self.edge is not None:
            raise RuntimeError("the edge is running: stop_edge() first")
        edge = EdgeRuntime(config=load_edge_config(files.edge))
        self._stack.push_async_callback(edge.stop)
        await edge.start()
        self.edge = edge
        await self._wait_for_tunnel()

    async def restart_edge(self) -> None:
        """:meth:`stop_edge` then :meth:`start_edge`."""
        await self.stop_edge()
        await self.start_edge()

    async def _wait_for_tunnel(self) -> None:
        if self.edge is not None and self.connector is not None:
            async with asyncio.timeout(self.options.tunnel_timeout_s):
                await self.edge.relay.wait_for_connections()

    def _started_files(self) -> DemoFiles:
        if self._files is None:
            raise RuntimeError("the demo is not started")
        return self._files

    async def stop(self) -> None:
        await self._stack.aclose()
        self.emulator = self.edge = self.connector = None

    def manifest(self) -> dict[str, Any]:
        """What ``demo.json`` says: where everything is, the CA to trust, the agents and the IdP."""
        if self._pki is None or self._emulator_config is None:
            raise RuntimeError("the demo is not started")
        ports, config = self.ports, self._emulator_config
        devices = {
            extension.number: [d.device_id for d in extension.devices] for extension in config.extensions
        }
        issuer = issuer_url(ports)
        agents = []
        for agent in config.agents:
            extension = demo_extension(agent.id, config)
            agents.append(
                {
                    "id": agent.id,
                    "password": agent.password.get_secret_value(),
                    "extension": extension,
                    "mobile_agent": agent.mobile_agent_enabled,
                    "devices": devices.get(extension, []),
                    "roles": list(agent.roles),
                }
            )
        return {
            "edge": {"public": f"https://{HOST}:{ports.public}", "admin": f"http://{HOST}:{ports.admin}"},
            "emulator": {
                side: {
                    "rest": f"https://{HOST}:{https}",
                    "xmpp_ws": f"wss://{HOST}:{https}/ws/",
                    "xmpp_tls": f"{HOST}:{xmpp}",
                }
                for side, https, xmpp in (
                    ("A", ports.emulator_a, ports.emulator_xmpp_a),
                    ("B", ports.emulator_b, ports.emulator_xmpp_b),
                )
            },
            "ca_file": str(self._pki.ca_file),
            "agents": agents,
            "issuer": issuer,
            "token_endpoint": f"{issuer}/token",
        }
