"""Configuration: the sample cluster loads, the packaged copy equals config/emulator.toml, and every
problem is a ConfigError naming its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.tunnel.errors import ConfigError
from fingress.emulator.config import default_config_text, load_config, parse_config

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "emulator.toml"


def test_the_packaged_sample_is_config_emulator_toml() -> None:
    assert default_config_text() == REPO_CONFIG.read_text(encoding="utf-8")
    assert load_config(REPO_CONFIG) == load_config()


def test_the_sample_cluster_has_what_the_emulator_must_model() -> None:
    config = load_config()
    assert len(config.agents) >= 10
    assert any(agent.mobile_agent_enabled for agent in config.agents)
    assert any(not agent.mobile_agent_enabled for agent in config.agents)
    assert any("Supervisor" in agent.roles for agent in config.agents)
    assert any(len(extension.devices) > 1 for extension in config.extensions)
    assert {code.category for code in config.reason_codes if not code.system} == {"NOT_READY", "LOGOUT"}
    assert config.wrap_up_reasons
    assert config.timing.presence_logout_delay_s == 60
    assert config.behaviour.forced_logout_load == "not_ready"


def test_every_key_of_the_sample_is_commented() -> None:
    lines = REPO_CONFIG.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if "=" not in stripped or stripped.startswith("#") or stripped.startswith("{"):
            continue
        key = stripped.split("=", 1)[0].strip()
        in_agent_table = any(
            prev.strip()
            in ("[[agents]]", "[[reason_codes]]", "[[wrap_up_reasons]]", "[[teams]]", "[[extensions]]")
            for prev in lines[max(0, index - 12) : index]
        )
        # Table rows are described once in the comment block above the table; plain keys carry their own.
        assert "#" in line or in_agent_table, f"line {index + 1}: {key} has no comment"


def test_passwords_never_show_in_a_repr() -> None:
    config = load_config()
    assert "alice-pass" not in repr(config)
    assert "alice-pass" not in str(config.agents[0])


@pytest.mark.parametrize(
    ("mutation", "path"),
    [
        (lambda text: text.replace("[timing]", "[timing]\nwarp_s = 1"), "timing.warp_s"),
        (lambda text: text.replace("ring_timeout_s = 15.0", "ring_timeout_s = -3"), "timing.ring_timeout_s"),
        (
            lambda text: text.replace('forced_logout_load = "not_ready"', 'forced_logout_load = "maybe"'),
            "behaviour.forced_logout_load",
        ),
        (
            lambda text: text.replace(
                "team_id = 5006\nwrap_up_on_incoming", "team_id = 9\nwrap_up_on_incoming"
            ),
            "agents.5.team_id",
        ),
        (
            lambda text: text.replace('supervisor_ids = ["1010"]', 'supervisor_ids = ["9999"]'),
            "teams.0.supervisor_ids",
        ),
        (lambda text: text.replace("code = 50042", "code = 50043"), "reason_codes"),
        (lambda text: text.replace('id = "1002"', 'id = "1001"'), "agents"),
    ],
)
def test_problems_name_their_key_path(mutation: object, path: str) -> None:
    assert callable(mutation)
    with pytest.raises(ConfigError) as caught:
        parse_config(mutation(default_config_text()), source="emulator.toml")
    assert any(problem_path == path for problem_path, _message in caught.value.problems), (
        caught.value.problems
    )
    assert str(caught.value).startswith("emulator.toml: ")


def test_broken_toml_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[timing", source="x.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_bearer_key_files_resolve_next_to_the_config(tmp_path: Path) -> None:
    text = default_config_text().replace(
        "enabled = false           # default false", 'enabled = true\nhmac_key_file = "k.key"'
    )
    path = tmp_path / "emulator.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path).bearer.hmac_key_file == tmp_path / "k.key"
    with pytest.raises(ConfigError, match="bearer"):
        parse_config(text.replace('hmac_key_file = "k.key"', ""), source="x.toml")
