"""What the benchmark drives: the edge's public URL, the emulator's control API, the CA to trust, the
agents and a way to get each agent a token."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from edge.tunnel.errors import ConfigError
from fingress.bench.cluster import BenchAgent


@dataclass(frozen=True)
class Target:
    """A running edge with an emulator behind it. ``mint_token`` gives an agent's access token in-process;
    without it tokens come from ``token_endpoint`` (password grant, as the demo's identity provider
    offers)."""

    public_url: str
    emulator_url: str
    ca_file: Path
    agents: list[BenchAgent]
    mint_token: Callable[[str], str] | None = field(default=None, repr=False)
    token_endpoint: str | None = None

    async def token(self, agent: BenchAgent, *, http: httpx.AsyncClient) -> str:
        """The agent's access token. Raises ``RuntimeError`` when the identity provider refuses."""
        if self.mint_token is not None:
            return self.mint_token(agent.id)
        if self.token_endpoint is None:
            raise RuntimeError("no token source: give --demo-json or --spawn-demo")
        answer = await http.post(
            self.token_endpoint,
            data={"grant_type": "password", "username": agent.id, "password": agent.password},
        )
        if answer.status_code != 200:
            raise RuntimeError(f"the identity provider refused agent {agent.id}: HTTP {answer.status_code}")
        token: str = answer.json()["access_token"]
        return token

    @property
    def events_url(self) -> str:
        return self.public_url.replace("https://", "wss://", 1) + "/api/v1/events"


def target_from_demo_json(path: Path) -> Target:
    """The target ``fingress demo`` describes in ``demo.json``. Raises ``ConfigError``."""
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        agents = [
            BenchAgent(
                id=str(entry["id"]), extension=str(entry["extension"]), password=str(entry["password"])
            )
            for entry in manifest["agents"]
            if not entry.get("devices")
        ]
        return Target(
            public_url=str(manifest["edge"]["public"]),
            emulator_url=str(manifest["emulator"]["A"]["rest"]),
            ca_file=Path(manifest["ca_file"]),
            agents=agents,
            token_endpoint=str(manifest["token_endpoint"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            str(path), [("", f"not a readable demo.json: {error.__class__.__name__}")]
        ) from error
