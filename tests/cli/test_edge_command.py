"""``fingress edge``'s composition root takes the edge file as edge.config loads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import EdgeConfig
from edge.tunnel.errors import ConfigError
from fingress.edge_command import EdgeRuntime


def test_the_runtime_needs_the_tunnel_listener(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        EdgeRuntime(config=EdgeConfig(policy_file=tmp_path / "policy.toml"))
    assert [key for key, _ in raised.value.problems] == ["tunnel"]
