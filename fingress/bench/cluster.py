"""The emulator cluster a benchmark runs against: the packaged sample cluster plus N generated agents."""

from __future__ import annotations

from dataclasses import dataclass

from fingress.emulator.config import EmulatorConfig, default_config_text, parse_config

# Generated agents live far from the sample cluster's ids (1001…) and extensions (2xxx).
_AGENT_ID_BASE = 700_000
_EXTENSION_BASE = 400_000
_TEAM_ID = 5005


@dataclass(frozen=True)
class BenchAgent:
    """What a simulated agent needs to sign in. ``password`` is the Finesse password (kept out of repr)."""

    id: str
    extension: str
    password: str

    def __repr__(self) -> str:
        return f"BenchAgent(id={self.id!r}, extension={self.extension!r})"


def bench_agents(count: int) -> list[BenchAgent]:
    """``count`` agents with ids ``700001``…, extensions ``400001``… and per-agent passwords."""
    return [
        BenchAgent(
            id=str(_AGENT_ID_BASE + index),
            extension=str(_EXTENSION_BASE + index),
            password=f"bench-pass-{index}",
        )
        for index in range(1, count + 1)
    ]


def bench_emulator_toml(agents: list[BenchAgent]) -> str:
    """The sample cluster's TOML with ``agents`` appended (wrap-up optional, so the app ends it)."""
    blocks = [default_config_text()]
    for agent in agents:
        blocks.append(
            f"""
[[agents]]
id = "{agent.id}"
login_name = "bench{agent.id}"
password = "{agent.password}"
first_name = "Bench"
last_name = "{agent.id}"
team_id = {_TEAM_ID}
wrap_up_on_incoming = "OPTIONAL"
wrap_up_timer_s = 600
"""
        )
    return "".join(blocks)


def bench_emulator_config(agents: list[BenchAgent]) -> tuple[str, EmulatorConfig]:
    """The TOML text and its validated configuration."""
    text = bench_emulator_toml(agents)
    return text, parse_config(text, source="bench-emulator.toml")
