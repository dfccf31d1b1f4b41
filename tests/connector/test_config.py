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


TUNNEL = """
[tunnel]
urls = ["wss://edge.example:8444/tunnel"]
connector_id = "c1"
ca_file = "certs/ca.pem"
cert_file = "/etc/fingress/c1.pem"
key_file = "certs/c1.key"
"""


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
"""
        + TUNNEL,
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


def _side_toml(name: str, ca_file: str | None) -> str:
    lines = [f"[finesse.{name}]"] + [f'{key} = "{value}"' for key, value in SIDE_A.items()]
    if ca_file is not None:
        lines.append(f'ca_file = "{ca_file}"')
    return "\n".join(lines) + "\n"


def test_relative_paths_resolve_against_the_files_folder(tmp_path: Path) -> None:
    path = tmp_path / "connector.toml"
    path.write_text(_side_toml("side_a", "finesse-ca.pem") + _side_toml("side_b", "/abs/b.pem") + TUNNEL)
    config = load_config(path)
    assert config.finesse.side_a.ca_file == tmp_path / "finesse-ca.pem"
    side_b = config.finesse.side_b
    assert side_b is not None
    assert side_b.ca_file == Path("/abs/b.pem")
    tunnel = config.tunnel
    assert tunnel is not None
    assert tunnel.ca_file == tmp_path / "certs" / "ca.pem"
    assert tunnel.cert_file == Path("/etc/fingress/c1.pem")
    assert tunnel.key_file == tmp_path / "certs" / "c1.key"
    path.write_text(_side_toml("side_a", None) + TUNNEL)
    assert load_config(path).finesse.side_a.ca_file is None


def _problems(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.source == str(path)
    return raised.value.problems


def test_a_file_needs_its_tunnel_table_reported_with_the_other_problems(tmp_path: Path) -> None:
    path = tmp_path / "connector.toml"
    path.write_text("[sessions]\ndisconnect_grace_s = -1\n")
    keys = [key for key, _ in _problems(path)]
    assert keys == ["finesse", "sessions.disconnect_grace_s", "tunnel"]
    path.write_text(_side_toml("side_a", None))
    assert _problems(path) == [("tunnel", "required table: urls, connector_id, ca_file, cert_file, key_file")]


def test_tunnel_problems_name_their_key_path(tmp_path: Path) -> None:
    path = tmp_path / "connector.toml"
    path.write_text(_side_toml("side_a", None) + TUNNEL.replace('connector_id = "c1"\n', ""))
    assert [key for key, _ in _problems(path)] == ["tunnel.connector_id"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'[finesse]\nauth_mode = "\xe9"\n', "cannot read: not UTF-8 text (byte 23)"),
        (b"\xff", "cannot read: not UTF-8 text (byte 0)"),
        (b"[finesse", "not valid TOML"),
    ],
)
def test_unreadable_content_is_one_clear_problem(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "connector.toml"
    path.write_bytes(content)
    [(key, text)] = _problems(path)
    assert key == ""
    assert text.startswith(message)


def test_a_missing_file_or_a_folder_is_a_clear_problem(tmp_path: Path) -> None:
    assert _problems(tmp_path / "missing.toml") == [("", "cannot read: No such file or directory")]
    assert _problems(tmp_path) == [("", "cannot read: Is a directory")]
