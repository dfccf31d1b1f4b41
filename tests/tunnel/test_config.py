"""The connector's [tunnel] table: validation with key paths, and a client built from files."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import trustme

from connector.tunnel.client import TunnelClient
from connector.tunnel.config import client_ssl_context, parse_tunnel_config
from edge.tunnel.errors import ConfigError
from tests.support.timing import seconds
from tests.tunnel.conftest import Tunnel, eventually, request

VALID = {
    "urls": ["wss://edge:8444/tunnel"],
    "connector_id": "c1",
    "ca_file": "ca.pem",
    "cert_file": "connector.pem",
    "key_file": "connector.key",
}


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = parse_tunnel_config(VALID, base=tmp_path)
    assert config.connections_per_edge == 2
    assert config.ca_file == tmp_path / "ca.pem"
    assert config.urls == ("wss://edge:8444/tunnel",)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"urls": []}, "tunnel.urls"),
        ({"urls": ["https://edge/tunnel"]}, "tunnel.urls"),
        ({"connections_per_edge": 0}, "tunnel.connections_per_edge"),
        ({"backoff_base_s": 5, "backoff_max_s": 1}, "tunnel"),
        ({"colour": "blue"}, "tunnel.colour"),
    ],
)
def test_problems_name_the_key(change: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_tunnel_config({**VALID, **change}, source="connector.toml")
    assert [problem[0] for problem in caught.value.problems] == [path]
    assert str(caught.value).startswith(f"connector.toml: {path}")


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    config = parse_tunnel_config(VALID, base=tmp_path)
    with pytest.raises(ConfigError) as caught:
        client_ssl_context(config)
    assert caught.value.problems[0][0] == "tunnel.ca_file"


async def test_client_from_config_files_reaches_the_edge(
    tunnel: Tunnel, ca: trustme.CA, connector_cert: trustme.LeafCert, tmp_path: Path
) -> None:
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    connector_cert.cert_chain_pems[0].write_to_path(str(tmp_path / "connector.pem"))
    connector_cert.private_key_pem.write_to_path(str(tmp_path / "connector.key"))
    config = parse_tunnel_config({**VALID, "urls": [tunnel.url], "connections_per_edge": 1}, base=tmp_path)
    client = TunnelClient.from_config(config, service=tunnel.service)
    tunnel.clients.append(client)
    await client.start()
    await tunnel.connected(1)
    async with asyncio.timeout(seconds(5)):
        response = await tunnel.relay.request(request(), timeout_s=seconds(2))
    assert response.status == 200


async def test_a_context_factory_is_called_for_every_dial_and_a_failed_reload_keeps_the_last_good_one(
    tunnel: Tunnel,
) -> None:
    calls: list[int] = []

    def factory() -> ssl.SSLContext:
        calls.append(len(calls))
        if len(calls) == 3:
            raise ConfigError("connector.toml", [("tunnel.cert_file", "cannot load")])
        return tunnel.connector_ssl

    client = TunnelClient(
        urls=[tunnel.url],
        ssl_context=factory,
        service=tunnel.service,
        connector_id="c1",
        connections_per_edge=1,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )
    tunnel.clients.append(client)
    await client.start()
    await tunnel.connected(1)
    assert len(calls) == 2  # validated at construction, then the first dial
    tunnel.relay.links[0].abort()  # the connection drops; the client redials with a fresh context: fails
    await eventually(lambda: len(calls) >= 3 and client.connections_open == 1)
    tunnel.relay.links[0].abort()  # and again: this reload works
    await eventually(lambda: len(calls) >= 4 and client.connections_open == 1)
    async with asyncio.timeout(seconds(5)):
        assert (await tunnel.relay.request(request(), timeout_s=seconds(2))).status == 200
