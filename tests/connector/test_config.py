"""The connector's configuration: defaults, validation with key paths, TOML loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.config import load_config, parse_config
from edge.tunnel.errors import ConfigError

SIDE_A = {
    "rest_url": "https://finesse-a.example:8445",
    "xmpp_address": "wss://finesse-a.example:8445/ws/",
    "xmpp_domain": "finesse-a.example",
}


def test_minimal_config_has_safe_defaults() -> None:
    config = parse_config({"finesse": {"side_a": SIDE_A}})
    assert config.finesse.auth_mode == "password"
    assert config.finesse.action_timeout_s == 5.0
    assert config.finesse.side("B") is None
    assert config.sessions.grace_policy.action == "not_ready"
    assert config.admin.host == "127.0.0.1"
    assert config.xmpp.reconnect_max_s < 60  # reconnects stay inside Finesse's 60 s
    assert config.tunnel is None


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"finesse": {"side_a": SIDE_A}, "colour": "blue"}, "colour"),
        ({"finesse": {"side_a": {**SIDE_A, "rest_url": "ftp://x"}}}, "finesse.side_a"),
        ({"finesse": {"side_a": {**SIDE_A, "xmpp_transport": "tls"}}}, "finesse.side_a"),
        ({"finesse": {"side_a": SIDE_A, "auth_mode": "magic"}}, "finesse.auth_mode"),
        ({"finesse": {"side_a": SIDE_A}, "sessions": {"grace_policy": {"action": "logout"}}}, "sessions"),
        ({"finesse": {"side_a": SIDE_A}, "xmpp": {"reconnect_base_s": 5, "reconnect_max_s": 1}}, "xmpp"),
        ({"finesse": {"side_a": SIDE_A}, "sessions": {"event_buffer_size": 0}}, "sessions.event_buffer_size"),
        ({}, "finesse"),
    ],
)
def test_errors_name_the_key_path(document: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, source="connector.toml")
    assert any(problem_path.startswith(path) for problem_path, _ in caught.value.problems), caught.value
    assert str(caught.value).startswith("connector.toml: ")


def test_direct_tls_transport_takes_host_and_port() -> None:
    side = {**SIDE_A, "xmpp_transport": "tls", "xmpp_address": "finesse-a.example:5223"}
    assert parse_config({"finesse": {"side_a": side}}).finesse.side_a.xmpp_transport == "tls"


def test_load_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "connector.toml"
    path.write_text(
        """
[finesse]
auth_mode = "bearer"
[finesse.side_a]
rest_url = "https://a.example:8445"
xmpp_address = "wss://a.example:8445/ws/"
xmpp_domain = "a.example"
[sessions]
disconnect_grace_s = 45
grace_policy = { action = "logout", reason_code_id = "11" }
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.finesse.auth_mode == "bearer"
    assert config.sessions.grace_policy.reason_code_id == "11"
    path.write_text("[finesse\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
