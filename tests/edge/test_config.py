"""``edge.config.load_config``: the one home of the edge file, including the tunnel listener's TLS keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import EdgeConfig, load_config
from edge.tunnel.errors import ConfigError

TUNNEL = """
[tunnel]
port = 9444
cert_file = "certs/edge.pem"
key_file = "certs/edge.key"
client_ca_file = "/etc/fingress/ca.pem"
allowed_identities = ["connector-1"]
"""


def _write(folder: Path, text: str) -> Path:
    path = folder / "edge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.source == str(path)
    return raised.value.problems


def test_the_tunnel_table_is_loaded_with_relative_paths_resolved(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, 'policy_file = "policy.toml"\n' + TUNNEL))
    tunnel = config.tunnel
    assert tunnel is not None
    assert tunnel.port == 9444
    assert tunnel.cert_file == tmp_path / "certs" / "edge.pem"
    assert tunnel.key_file == tmp_path / "certs" / "edge.key"
    assert tunnel.client_ca_file == Path("/etc/fingress/ca.pem")
    assert tunnel.allowed_identities == ("connector-1",)
    assert (tunnel.path, tunnel.edge_id) == ("/tunnel", "edge")


@pytest.mark.parametrize(
    ("old", "new", "key_path"),
    [
        ('allowed_identities = ["connector-1"]', "allowed_identities = []", "tunnel.allowed_identities"),
        ('cert_file = "certs/edge.pem"\n', "", "tunnel.cert_file"),
        ('key_file = "certs/edge.key"\n', "", "tunnel.key_file"),
        ('client_ca_file = "/etc/fingress/ca.pem"\n', "", "tunnel.client_ca_file"),
        ("port = 9444", 'port = 9444\npath = "no-slash"', "tunnel.path"),
        ("port = 9444", 'port = 9444\nedge_id = ""', "tunnel.edge_id"),
        ("port = 9444", "port = 70000", "tunnel.port"),
        ("port = 9444", "port = 9444\nsurprise = 1", "tunnel.surprise"),
    ],
)
def test_tunnel_problems_name_their_key_path(tmp_path: Path, old: str, new: str, key_path: str) -> None:
    assert old in TUNNEL
    path = _write(tmp_path, 'policy_file = "policy.toml"\n' + TUNNEL.replace(old, new))
    assert [key for key, _ in _problems(path)] == [key_path]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "[admin]\nport = 99999\n")
    keys = {key for key, _ in _problems(path)}
    assert keys == {
        "policy_file",
        "admin.port",
        "tunnel.cert_file",
        "tunnel.key_file",
        "tunnel.client_ca_file",
        "tunnel.allowed_identities",
    }


def test_a_file_without_a_tunnel_table_names_each_key_it_needs(tmp_path: Path) -> None:
    problems = _problems(_write(tmp_path, 'policy_file = "policy.toml"\n'))
    assert [key for key, _ in problems] == [
        "tunnel.cert_file",
        "tunnel.key_file",
        "tunnel.client_ca_file",
        "tunnel.allowed_identities",
    ]


def test_built_in_code_the_tunnel_table_is_optional(tmp_path: Path) -> None:
    assert EdgeConfig(policy_file=tmp_path / "policy.toml").tunnel is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe policy_file", "cannot read: not UTF-8 text (byte 0)"),
        (b"policy_file = [", "not valid TOML"),
    ],
)
def test_unreadable_content_is_one_clear_problem(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "edge.toml"
    path.write_bytes(content)
    [(key, text)] = _problems(path)
    assert key == ""
    assert text.startswith(message)


def test_a_missing_file_or_a_folder_is_a_clear_problem(tmp_path: Path) -> None:
    assert _problems(tmp_path / "missing.toml") == [("", "cannot read: No such file or directory")]
    assert _problems(tmp_path) == [("", "cannot read: Is a directory")]
