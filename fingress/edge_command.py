"""``fingress edge --config FILE``: the DMZ tier in its own process, and its composition root.

The edge file is loaded, validated and explained by :func:`edge.config.load_config` (its ``[tunnel]``
table carries the tunnel listener's TLS); this module only composes. The public certificate comes from the
policy's ``[tls]`` table so it reloads with the policy. :class:`EdgeRuntime` wires the tunnel listener
(:class:`TunnelRelay`), the public and admin listeners (:class:`EdgeServer`) and both reloadable TLS
contexts; ``fingress demo`` uses it too.

Signals: SIGTERM / SIGINT drain (open requests finish, event sockets are told to resume elsewhere);
SIGHUP reloads the policy and re-reads both certificates.

The edge runs on uvloop by default (``--loop``): its TLS transport allocates read buffers lazily where
CPython's zero-fills 256 KiB per connection, and the edge holds one TLS connection per agent (measured: a
fifth of the memory per agent, same event rate; see :mod:`fingress.loops`).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from edge.config import EdgeConfig, TunnelListener, load_config
from edge.policy import load_policy
from edge.relay import TunnelRelay
from edge.server import EdgeServer
from edge.tls import ReloadableServerContext, ReloadOutcome, TlsPolicyParticipant
from edge.tunnel.errors import ConfigError
from fingress.logging_setup import LOG_FORMATS, configure_logging
from fingress.loops import EDGE_LOOP, LOOPS, run_on


class EdgeRuntime:
    """The edge's three listeners and two reloadable certificates, started and stopped together.

    ``start()`` raises ``ConfigError`` (bad policy or certificate) or ``OSError`` (a port is taken) and
    leaves nothing running; ``stop()`` drains; ``reload()`` is what SIGHUP does."""

    def __init__(self, *, config: EdgeConfig) -> None:
        """``config`` is what :func:`edge.config.load_config` returns; raises ``ConfigError`` when it has
        no ``[tunnel]`` table."""
        if config.tunnel is None:
            raise ConfigError("edge", [("tunnel", "the edge process needs its tunnel listener's table")])
        self._config = config
        self._tunnel: TunnelListener = config.tunnel
        self._log = structlog.get_logger("fingress.edge")
        self._relay: TunnelRelay | None = None
        self._server: EdgeServer | None = None
        self._public_tls: ReloadableServerContext | None = None
        self._tunnel_tls: ReloadableServerContext | None = None
        self._watchers: list[asyncio.Task[None]] = []

    @property
    def relay(self) -> TunnelRelay:
        if self._relay is None:
            raise RuntimeError("the edge is not started")
        return self._relay

    @property
    def server(self) -> EdgeServer:
        if self._server is None:
            raise RuntimeError("the edge is not started")
        return self._server

    async def start(self) -> None:
        config, tunnel = self._config, self._tunnel
        policy = load_policy(config.policy_file)
        if policy.tls.cert_file is None or policy.tls.key_file is None:
            raise ConfigError(
                config.policy_file.name,
                [
                    (
                        "tls.cert_file",
                        "the public listener needs a certificate: set tls.cert_file and tls.key_file",
                    )
                ],
            )
        public_tls = ReloadableServerContext(
            cert_file=policy.tls.cert_file, key_file=policy.tls.key_file, profile=policy.tls.profile
        )
        tunnel_tls = ReloadableServerContext(
            cert_file=tunnel.cert_file, key_file=tunnel.key_file, client_ca_file=tunnel.client_ca_file
        )
        relay = TunnelRelay(
            ssl_context=tunnel_tls.context,
            allowed_identities=tunnel.allowed_identities,
            host=tunnel.host,
            port=tunnel.port,
            path=tunnel.path,
            edge_id=tunnel.edge_id,
        )
        server = EdgeServer(
            config=config,
            upstream=relay,
            ssl_context_factory=public_tls.context_factory,
            participants=(TlsPolicyParticipant(tls=public_tls),),
        )
        await relay.start()
        try:
            await server.start()
        except BaseException:
            await relay.drain(timeout_s=0)
            raise
        self._relay, self._server = relay, server
        self._public_tls, self._tunnel_tls = public_tls, tunnel_tls
        for name, tls in (("public", public_tls), ("tunnel", tunnel_tls)):
            self._watchers.append(
                asyncio.create_task(
                    tls.watch(interval_s=config.policy_poll_s, on_outcome=self._tls_logger(name))
                )
            )

    def _tls_logger(self, listener: str) -> Callable[[ReloadOutcome], None]:
        def log(outcome: ReloadOutcome) -> None:
            if outcome.installed:
                self._log.info("certificate_reloaded", listener=listener, subject=outcome.certificate.subject)
            else:
                error = outcome.error
                self._log.error(
                    "certificate_reload_failed",
                    listener=listener,
                    code=error.code if error else None,
                    error=str(error),
                )

        return log

    @property
    def public_port(self) -> int:
        return self.server.public_port

    @property
    def admin_port(self) -> int:
        return self.server.admin_port

    @property
    def tunnel_port(self) -> int:
        return self.relay.port

    def urls(self, host: str = "127.0.0.1") -> dict[str, str]:
        """Where each listener answers, for people and for ``demo.json``."""
        path = self._tunnel.path
        return {
            "public": f"https://{host}:{self.public_port}",
            "admin": f"http://{host}:{self.admin_port}",
            "tunnel": f"wss://{host}:{self.tunnel_port}{path}",
        }

    async def reload(self) -> bool:
        """Reload the policy (with the public certificate's paths) and re-read both certificates; True if
        everything applied. Failures keep the old material serving and are logged."""
        outcome = await self.server.policy.reload(trigger="signal")
        applied = outcome.applied
        for name, tls in (("public", self._public_tls), ("tunnel", self._tunnel_tls)):
            if tls is not None:
                result = tls.reload()
                self._tls_logger(name)(result)
                applied = applied and result.installed
        return applied

    async def stop(self) -> None:
        """Drain: open requests finish (up to the configured grace), then everything closes. Idempotent."""
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        self._watchers.clear()
        server, self._server = self._server, None
        relay, self._relay = self._relay, None
        if server is not None:
            await server.stop()
        if relay is not None:
            await relay.drain(timeout_s=self._config.server.graceful_shutdown_s)


def register(subparsers: Any) -> None:
    """Add ``edge`` to the ``fingress`` parser."""
    parser = subparsers.add_parser(
        "edge",
        help="run the DMZ tier (public API, tunnel listener, admin)",
        description="Run the edge: the public HTTPS/WSS API, the tunnel listener, the admin listener.",
    )
    parser.add_argument("--config", type=Path, required=True, help="edge TOML file (see config/edge.toml)")
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default="console", help="log lines (default console)"
    )
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        default=EDGE_LOOP,
        help=f"event loop (default {EDGE_LOOP}: about a fifth of asyncio's memory per agent connection)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    try:
        runtime = EdgeRuntime(config=load_config(args.config))
    except ConfigError as error:
        print(f"fingress edge: {error}", file=sys.stderr)
        return 2
    return run_on(args.loop, _serve(runtime))


async def _serve(runtime: EdgeRuntime) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        task = loop.create_task(runtime.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    try:
        await runtime.start()
    except ConfigError as error:
        print(f"fingress edge: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"fingress edge: cannot listen: {error.strerror or error}", file=sys.stderr)
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    urls = runtime.urls()
    print(f"edge public API   {urls['public']}/api/v1/", flush=True)
    print(f"edge tunnel       {urls['tunnel']}  (connectors dial here, mTLS)", flush=True)
    print(f"edge admin        {urls['admin']}/readyz  (ready once a connector is attached)", flush=True)
    print(
        "edge ready (SIGHUP reloads policy and certificates; SIGTERM or Ctrl-C drains and stops)", flush=True
    )
    await stop.wait()
    print("edge draining", flush=True)
    await runtime.stop()
    print("edge stopped", flush=True)
    return 0
