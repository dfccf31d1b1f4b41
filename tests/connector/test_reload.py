"""Configuration reload: a live setting changes for sessions that exist already; a bad file or a
restart-only change leaves the running configuration serving, and every outcome is counted."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.config import load_config
from connector.runtime import Connector, changed_key_paths, restart_only
from fingress.emulator.server import EmulatorServer
from tests.connector.conftest import Harness, eventually, of_type
from tests.connector.hublink import HubLinkFactory
from tests.support.timing import seconds


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def toml_text(document: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for the nested tables of a connector file."""
    scalars = [
        f"{key} = {toml_value(value)}" for key, value in document.items() if not isinstance(value, dict)
    ]
    lines = ([f"[{prefix}]"] if prefix and scalars else []) + scalars
    text = "\n".join(lines) + "\n"
    for key, value in document.items():
        if isinstance(value, dict):
            text += "\n" + toml_text(value, f"{prefix}.{key}" if prefix else key)
    return text


def closed_port() -> int:
    """A loopback port nobody listens on: the tunnel client dials it, is refused and backs off."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def document_for(emulator: EmulatorServer, *, grace_action: str = "keep") -> dict[str, Any]:
    def side(name: str) -> dict[str, Any]:
        base_url: str = emulator.base_url(name)  # type: ignore[arg-type]
        domain = emulator.config.sides.A.xmpp_domain if name == "A" else emulator.config.sides.B.xmpp_domain
        return {
            "rest_url": base_url,
            "xmpp_address": base_url.replace("https", "wss") + "/ws/",
            "xmpp_domain": domain,
        }

    return {
        "finesse": {"action_timeout_s": seconds(2), "side_a": side("A"), "side_b": side("B")},
        "sessions": {
            "disconnect_grace_s": seconds(0.3),
            "grace_policy": {"action": grace_action, "reason_code_id": "3"},
        },
        "admin": {"port": 0},
        "tunnel": {
            "urls": [f"wss://127.0.0.1:{closed_port()}/tunnel"],
            "connector_id": "lan-1",
            # Never read: the test gives the connector its tunnel TLS context.
            "ca_file": "pki/ca.pem",
            "cert_file": "pki/connector-lan-1.pem",
            "key_file": "pki/connector-lan-1.key",
            "backoff_max_s": 0.5,
            "drain_timeout_s": 0.5,
        },
    }


class Running:
    """A started connector, its file, and the session-layer test helpers bound to its manager."""

    def __init__(self, connector: Connector, path: Path, harness: Harness, document: dict[str, Any]) -> None:
        self.connector = connector
        self.path = path
        self.harness = harness
        self.document = document

    def rewrite(self, table: str, **values: Any) -> None:
        """Change keys of one (dotted) table of the file."""
        target = self.document
        for name in table.split("."):
            target = target[name]
        target.update(values)
        self.path.write_text(toml_text(self.document))

    def reloads(self, outcome: str) -> float:
        value = self.connector.metrics.registry.get_sample_value(
            "fingress_connector_config_reloads_total", {"outcome": outcome}
        )
        return value or 0.0


@pytest.fixture
async def running(
    emulator: EmulatorServer, http: httpx.AsyncClient, client_ssl_context: ssl.SSLContext, tmp_path: Path
) -> AsyncIterator[Running]:
    document = document_for(emulator)
    path = tmp_path / "connector.toml"
    path.write_text(toml_text(document))
    links = HubLinkFactory(emulator)
    connector = Connector(
        config=load_config(path), links=links, finesse_tls=client_ssl_context, tunnel_tls=client_ssl_context
    )
    async with (
        asyncio.timeout(seconds(20)),
        connector,
        httpx.AsyncClient(
            base_url=emulator.base_url("A"), verify=client_ssl_context, timeout=seconds(5)
        ) as control,
    ):
        harness = Harness(emulator, http, connector.manager, links, connector.metrics, control)
        yield Running(connector, path, harness, document)


async def state_is(harness: Harness, agent: str, state: str) -> bool:
    current: str = (await harness.finesse_agent(agent))["state"]
    return current == state


async def test_a_live_change_applies_to_a_session_that_exists_already(running: Running) -> None:
    harness = running.harness
    assert (await harness.sign_in("1003", extension="1003"))[0] == 200
    sink = await harness.subscribe("1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    await sink.wait_for(of_type("agent.updated", state="READY"))

    running.rewrite("sessions.grace_policy", action="not_ready")
    outcome = running.connector.reload(running.path)

    assert outcome.outcome == "applied"
    assert outcome.changed == ("sessions.grace_policy.action",)
    assert running.connector.config.sessions.grace_policy.action == "not_ready"
    assert running.reloads("applied") == 1
    # The session was created under "keep"; the grace now expiring applies the reloaded "not_ready".
    await harness.unsubscribe("1003", sink)
    await eventually(lambda: state_is(harness, "1003", "NOT_READY"))


async def test_an_unchanged_file_is_reported_unchanged(running: Running) -> None:
    before = running.connector.config
    outcome = running.connector.reload(running.path)
    assert outcome.outcome == "unchanged"
    assert running.connector.config is before
    assert running.reloads("unchanged") == 1


@pytest.mark.parametrize(
    ("text", "key_path"),
    [
        ("[finesse\n", ""),
        (None, "sessions.disconnect_grace_s"),
    ],
)
async def test_a_bad_file_keeps_the_running_configuration(
    running: Running, text: str | None, key_path: str
) -> None:
    before = running.connector.config
    if text is None:
        running.rewrite("sessions", disconnect_grace_s=-1)
    else:
        running.path.write_text(text)
    outcome = running.connector.reload(running.path)

    assert outcome.outcome == "invalid"
    assert key_path in [key for key, _ in outcome.problems]
    assert running.connector.config is before
    assert running.reloads("invalid") == 1
    assert running.reloads("applied") == 0


async def test_a_missing_file_keeps_the_running_configuration(running: Running) -> None:
    outcome = running.connector.reload(running.path.with_name("gone.toml"))
    assert outcome.outcome == "invalid"
    assert "cannot read" in outcome.problems[0][1]


async def test_a_restart_only_change_is_refused_whole(running: Running) -> None:
    harness = running.harness
    before = running.connector.config
    running.rewrite("finesse", request_timeout_s=3.0)
    running.rewrite("sessions.grace_policy", action="not_ready")
    running.rewrite("tunnel", connector_id="lan-2")

    outcome = running.connector.reload(running.path)

    assert outcome.outcome == "refused"
    assert outcome.changed == ("finesse.request_timeout_s", "tunnel.connector_id")
    assert running.connector.config is before
    assert running.reloads("refused") == 1
    # Nothing applied: a grace expiring now still follows the running "keep" policy.
    assert (await harness.sign_in("1003", extension="1003"))[0] == 200
    sink = await harness.subscribe("1003")
    await harness.call("1003", "PUT", "/api/v1/agent/state", {"state": "READY"})
    await sink.wait_for(of_type("agent.updated", state="READY"))
    await harness.unsubscribe("1003", sink)
    await asyncio.sleep(seconds(0.6))  # twice the grace: a "not_ready" policy would have acted by now
    assert await state_is(harness, "1003", "READY")


def test_changed_key_paths_name_leaves_and_restart_only_matches_tables(tmp_path: Path) -> None:
    path = tmp_path / "connector.toml"
    document: dict[str, Any] = {
        "finesse": {
            "side_a": {"rest_url": "https://a.test", "xmpp_address": "wss://a.test/ws/", "xmpp_domain": "a"}
        },
        "tunnel": {
            "urls": ["wss://edge.test/tunnel"],
            "connector_id": "c",
            "ca_file": "ca.pem",
            "cert_file": "c.pem",
            "key_file": "c.key",
        },
    }
    path.write_text(toml_text(document))
    old = load_config(path)
    document["finesse"]["side_b"] = {
        "rest_url": "https://b.test",
        "xmpp_address": "wss://b.test/ws/",
        "xmpp_domain": "b",
    }
    document["xmpp"] = {"reconnect_max_s": 20.0}
    path.write_text(toml_text(document))
    new = load_config(path)

    changed = changed_key_paths(old, new)

    assert "xmpp.reconnect_max_s" in changed
    assert any(key.startswith("finesse.side_b") for key in changed)
    assert [key for key in changed if restart_only(key)] == [
        key for key in changed if key.startswith("finesse.side_b")
    ]
    assert restart_only("admin.port")
    assert restart_only("tunnel")
    assert not restart_only("administrator")
    assert not restart_only("sessions.grace_policy.action")
