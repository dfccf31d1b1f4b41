"""``fingress check``: the example files pass; broken files of every kind fail with key-path errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fingress.check_command import UnknownKind, check_file, detect_kind
from fingress.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "config"
EXAMPLES = ("edge", "connector", "policy", "emulator")


@pytest.mark.parametrize("kind", EXAMPLES)
def test_the_examples_are_valid(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = CONFIG / f"{kind}.toml"
    assert detect_kind(path) == kind
    assert main(["check", "--config", str(path)]) == 0
    assert f"valid {kind} file" in capsys.readouterr().out


def _broken(tmp_path: Path, kind: str, old: str, new: str) -> Path:
    text = (CONFIG / f"{kind}.toml").read_text()
    assert old in text, old
    path = tmp_path / f"broken-{kind}.toml"
    path.write_text(text.replace(old, new, 1))
    return path


BROKEN = [
    # (kind, text replaced, replacement, key path the error must name)
    ("edge", "port = 9090 ", "port = 90000 ", "admin.port"),
    (
        "edge",
        'allowed_identities = ["connector-1", "connector-2"]',
        "allowed_identities = []",
        "tunnel.allowed_identities",
    ),
    ("edge", 'edge_id = "edge"', 'edge_id = "edge"\nbogus = 1', "tunnel.bogus"),
    ("edge", 'policy_file = "policy.toml"', 'policy_file = "policy.toml"\nsecret = "inline"', "secret"),
    ("edge", 'host = "127.0.0.1"           # default "127.0.0.1"', 'host = "10.0.0.1"', "admin"),
    (
        "connector",
        'rest_url = "https://finesse-a.example.com:8445"',
        'rest_url = "ftp://x"',
        "finesse.side_a",
    ),
    (
        "connector",
        'urls = ["wss://edge-1.dmz.example.com:8444/tunnel"]',
        'urls = ["ws://edge:8444"]',
        "tunnel.urls",
    ),
    ("connector", "disconnect_grace_s = 30.0", "disconnect_grace_s = -1", "sessions.disconnect_grace_s"),
    ("connector", 'action = "not_ready"', 'action = "logout"', "sessions.grace_policy"),
    ("connector", "[xmpp]", "[xmpp]\npassword = 'inline'", "xmpp.password"),
    ("policy", 'per_agent = "120/minute"', 'per_agent = "lots"', "rate_limits.per_agent"),
    ("policy", 'algorithms = ["RS256"]', 'algorithms = ["HS256"]', "oauth.algorithms"),
    ("policy", '"GET /api/v1/agent",', '"GET /admin",', "http.allow"),
    ("policy", 'profile = "intermediate"', 'profile = "legacy"', "tls.profile"),
    ("emulator", "team_id = 5005", "team_id = 1", "agents.0.team_id"),
    ("emulator", "lock_after_failures = 5", "lock_after_failures = 5\nshoe_size = 9", "behaviour.shoe_size"),
]


@pytest.mark.parametrize(("kind", "old", "new", "key_path"), BROKEN)
def test_broken_files_name_the_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, old: str, new: str, key_path: str
) -> None:
    path = _broken(tmp_path, kind, old, new)
    assert main(["check", "--config", str(path), "--kind", kind]) == 1
    err = capsys.readouterr().err
    assert f": {key_path}" in err, err
    assert "Traceback" not in err
    assert f"{kind} file has" in err


def test_the_kind_is_detected_from_the_contents(tmp_path: Path) -> None:
    for kind in EXAMPLES:
        copy = tmp_path / f"anything-{EXAMPLES.index(kind)}.toml"
        shutil.copy(CONFIG / f"{kind}.toml", copy)
        assert detect_kind(copy) == kind


def test_a_connector_file_needs_its_tunnel_table(tmp_path: Path) -> None:
    text = (CONFIG / "connector.toml").read_text()
    path = tmp_path / "connector.toml"
    path.write_text(text[: text.index("[tunnel]")])
    assert any(
        line.endswith("tunnel: required table: urls, connector_id, ca_file, cert_file, key_file")
        for line in check_file(path, "connector")
    )


@pytest.mark.parametrize("content", ["", "not = [toml", "\x00\xff"])
def test_unreadable_or_unknown_files_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = tmp_path / "mystery.toml"
    path.write_text(content, errors="surrogateescape")
    with pytest.raises(UnknownKind):
        detect_kind(path)
    assert main(["check", "--config", str(path)]) == 2
    assert "--kind" in capsys.readouterr().err
    for kind in EXAMPLES:
        problems = check_file(path, kind)  # type: ignore[arg-type]
        assert problems, kind
        assert all("Traceback" not in line for line in problems)


def test_a_missing_file_is_an_error_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(tmp_path / "edge.toml")]) == 1
    assert "cannot read" in capsys.readouterr().err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    document=st.dictionaries(
        st.sampled_from(
            ["policy_file", "public", "admin", "tunnel", "finesse", "oauth", "agents", "teams", "x"]
        ),
        st.recursive(
            st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=8) | st.booleans(),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=5,
    ),
    raw=st.binary(max_size=64),
)
def test_hostile_files_give_problems_never_exceptions(
    tmp_path: Path, document: dict[str, object], raw: bytes
) -> None:
    as_toml = tmp_path / "hostile.toml"
    as_toml.write_text(_toml(document))
    as_bytes = tmp_path / "hostile.bin"
    as_bytes.write_bytes(raw)
    for path in (as_toml, as_bytes):
        for kind in EXAMPLES:
            problems = check_file(path, kind)  # type: ignore[arg-type]
            assert all(isinstance(line, str) and line for line in problems)


def _toml(document: dict[str, object]) -> str:
    """A TOML document of top-level keys with inline values (JSON-like, which TOML mostly accepts)."""

    def value(item: object) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int):
            return str(item)
        if isinstance(item, str):
            return json.dumps(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(entry) for entry in item) + "]"
        if isinstance(item, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(v)}" for k, v in item.items()) + "}"
        raise AssertionError(item)

    return "\n".join(f"{key} = {value(item)}" for key, item in document.items())


def _config_maps() -> list[tuple[str, str]]:
    import yaml  # the deploy tests' dependency; only this test needs it here

    found = []
    for manifest in sorted((CONFIG.parent / "deploy" / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(manifest.read_text()):
            if document and document.get("kind") == "ConfigMap":
                found += [(f"{manifest.name}:{name}", text) for name, text in document["data"].items()]
    return found


@pytest.mark.parametrize(("name", "text"), _config_maps())
def test_deploy_config_maps_pass_check(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name.split(":")[1]
    path.write_text(text)
    assert check_file(path, detect_kind(path)) == []


def test_the_compose_connector_file_passes_check() -> None:
    path = CONFIG.parent / "deploy" / "compose-connector.toml"
    assert check_file(path, detect_kind(path)) == []
