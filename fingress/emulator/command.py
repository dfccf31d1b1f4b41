"""``fingress emulator``: run the Finesse emulator (both sides) until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from pathlib import Path

from edge.tunnel.errors import ConfigError
from fingress.loops import run_on

from .config import EmulatorConfig, load_config
from .devcert import ensure_dev_certificate
from .hub import SIDES, Side
from .server import EmulatorServer

DEFAULT_DATA_DIR = Path(".fingress") / "emulator"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="run the Finesse emulator (sides A and B)",
        description=(
            "Run a stand-in Cisco Finesse cluster: per side one HTTPS port (REST /finesse/api, control API "
            "/emulator, XMPP over WebSocket /ws/) and one XMPP direct-TLS port."
        ),
    )
    parser.add_argument(
        "--config", type=Path, help="emulator TOML file (default: the packaged sample cluster)"
    )
    parser.add_argument("--host", help="listen address (default: the configuration's listen.host)")
    parser.add_argument("--port-a", type=int, help="side A HTTPS port")
    parser.add_argument("--port-b", type=int, help="side B HTTPS port")
    parser.add_argument("--xmpp-port-a", type=int, help="side A XMPP direct-TLS port")
    parser.add_argument("--xmpp-port-b", type=int, help="side B XMPP direct-TLS port")
    parser.add_argument(
        "--cert", type=Path, help="TLS certificate chain (PEM); default: a generated development certificate"
    )
    parser.add_argument("--key", type=Path, help="TLS private key (PEM) for --cert")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"where the dev certificate goes ({DEFAULT_DATA_DIR})",
    )
    parser.set_defaults(run=run)


def _ssl_context(args: argparse.Namespace) -> tuple[ssl.SSLContext, Path]:
    if (args.cert is None) != (args.key is None):
        raise ConfigError("command line", [("--cert/--key", "give both or neither")])
    cert, key = (args.cert, args.key) if args.cert is not None else ensure_dev_certificate(args.data_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            "command line", [("--cert/--key", f"cannot load: {error.__class__.__name__}")]
        ) from error
    return context, cert


def _ports(port_a: int | None, port_b: int | None) -> dict[Side, int]:
    ports: dict[Side, int] = {}
    if port_a is not None:
        ports["A"] = port_a
    if port_b is not None:
        ports["B"] = port_b
    return ports


def run(args: argparse.Namespace) -> int:
    try:
        emulator_config = load_config(args.config)
        context, cert = _ssl_context(args)
    except ConfigError as error:
        print(f"fingress emulator: {error}", file=sys.stderr)
        return 2
    server = EmulatorServer(
        emulator_config=emulator_config,
        ssl_context=context,
        host=args.host,
        https_ports=_ports(args.port_a, args.port_b),
        xmpp_ports=_ports(args.xmpp_port_a, args.xmpp_port_b),
    )
    try:
        run_on("asyncio", _serve(server, emulator_config, cert))
    except OSError as error:
        print(f"fingress emulator: cannot listen: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


async def _serve(server: EmulatorServer, emulator_config: EmulatorConfig, cert: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        for side in SIDES:
            base = server.base_url(side)
            domain = server.cluster.xmpp_domain(side)
            print(
                f"side {side}: REST {base}/finesse/api  control {base}/emulator  XMPP wss://"
                f"{base.removeprefix('https://')}/ws/ and direct TLS port {server.xmpp_port(side)}  "
                f"(domain {domain})",
                flush=True,
            )
        print(f"certificate: {cert}  agents: {len(emulator_config.agents)}  (Ctrl-C stops)", flush=True)
        await stop.wait()
    print("emulator stopped", flush=True)
