"""A connector tunnel in its own process, for tests that kill it for real (SIGKILL).

    python -m tests.tunnel.connector_process URL CA_FILE CERT_FILE KEY_FILE

Serves :class:`tests.tunnel.fakes.EchoService` until killed; ``/api/v1/slow`` never answers. Runs on the
connector's default loop (``fingress.loops.CONNECTOR_LOOP``), as ``fingress connector`` does.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from connector.tunnel.client import TunnelClient
from connector.tunnel.config import client_ssl_context, parse_tunnel_config
from fingress.loops import CONNECTOR_LOOP, run_on
from tests.tunnel.fakes import EchoService


async def serve(url: str, ca_file: str, cert_file: str, key_file: str) -> None:
    config = parse_tunnel_config(
        {
            "urls": [url],
            "connector_id": "process",
            "connections_per_edge": 1,
            "ca_file": ca_file,
            "cert_file": cert_file,
            "key_file": key_file,
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.2,
        },
        base=Path.cwd(),
    )
    client = TunnelClient.from_config(config, service=EchoService(), ssl_context=client_ssl_context(config))
    await client.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    run_on(CONNECTOR_LOOP, serve(*sys.argv[1:5]))
