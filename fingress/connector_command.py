"""``fingress connector --config FILE``: the LAN tier in its own process.

The composition root is :class:`connector.runtime.Connector` (sessions, shared HTTPS client, admin listener,
tunnel client); this command loads the file with :func:`connector.config.load_config` (which requires its
``[tunnel]`` table), builds the XMPP notification links and handles signals:
SIGTERM / SIGINT drain (the edges move event streams away, in-flight requests finish, then the sessions
stop without changing any agent's Finesse state); SIGHUP reloads the file
(:meth:`connector.runtime.Connector.reload`): settings the sessions read when they act apply at once, a file
that changes a restart-only setting is refused whole and a bad file is logged, the running configuration
serving on in both cases. The tunnel's certificate and key files are read again on every dial: renewing
them needs neither a reload nor a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from connector.config import ConnectorConfig, load_config
from connector.runtime import Connector, finesse_ssl_context
from connector.sessions.xmpp_links import XmppLinkFactory
from edge.tunnel.errors import ConfigError
from fingress.logging_setup import LOG_FORMATS, configure_logging
from fingress.loops import CONNECTOR_LOOP, LOOPS, run_on


def build_connector(config: ConnectorConfig) -> Connector:
    """The production connector: XMPP links to the configured Finesse sides. Raises ``ConfigError`` when a
    CA file cannot be loaded."""
    try:
        finesse_tls = finesse_ssl_context(config)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            "connector", [("finesse.*.ca_file", f"cannot load a CA file ({type(error).__name__})")]
        ) from None
    links = XmppLinkFactory(config=config, ssl_context=finesse_tls)
    return Connector(config=config, links=links, finesse_tls=finesse_tls)


def register(subparsers: Any) -> None:
    """Add ``connector`` to the ``fingress`` parser."""
    parser = subparsers.add_parser(
        "connector",
        help="run the LAN tier (dials the edge, holds the Finesse sessions)",
        description=(
            "Run the connector: dial the edges' tunnels, serve the agents' Finesse sessions. SIGTERM drains"
            " and stops. SIGHUP reloads --config: live settings (action timeout, presence grace, reconnect"
            " timing, failover) apply at once; a change to a restart-only setting (Finesse sides, auth mode,"
            " request timeout, xmpp ping/connect timeouts, [tunnel], [admin]) is refused whole and logged;"
            " the tunnel certificate files are read again on every dial (renewal needs no reload)."
        ),
    )
    parser.add_argument(
        "--config", type=Path, required=True, help="connector TOML file (see config/connector.toml)"
    )
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default="console", help="log lines (default console)"
    )
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        default=CONNECTOR_LOOP,
        help=f"event loop (default {CONNECTOR_LOOP})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    try:
        config = load_config(args.config)
        connector = build_connector(config)
    except ConfigError as error:
        print(f"fingress connector: {error}", file=sys.stderr)
        return 2
    return run_on(args.loop, _serve(connector, config, path=args.config))


async def _serve(connector: Connector, config: ConnectorConfig, *, path: Path) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        await connector.__aenter__()
    except ConfigError as error:
        print(f"fingress connector: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"fingress connector: cannot listen: {error.strerror or error}", file=sys.stderr)
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # The reload logs its own outcome (config_reloaded / _unchanged / _refused / _failed).
    loop.add_signal_handler(signal.SIGHUP, connector.reload, path)
    tunnel = config.tunnel
    assert tunnel is not None  # load_config requires it
    print(f"connector {tunnel.connector_id}: dialling {', '.join(tunnel.urls)} (mTLS)", flush=True)
    for name, side in (("A", config.finesse.side_a), ("B", config.finesse.side_b)):
        if side is not None:
            print(
                f"connector Finesse side {name}: REST {side.rest_url}  XMPP {side.xmpp_address}", flush=True
            )
    print(f"connector admin   http://{config.admin.host}:{connector.admin_port}/readyz", flush=True)
    print("connector running (SIGTERM or Ctrl-C drains and stops, SIGHUP reloads the file)", flush=True)
    await stop.wait()
    print("connector draining", flush=True)
    await connector.close()
    print("connector stopped", flush=True)
    return 0
