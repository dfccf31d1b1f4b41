"""``fingress bench`` end to end at a small count: the spawned stack (emulator, edge and connector processes)
carries every stamped call-data change to every app, in order, and the run reports it; with several
connector processes the edge spreads the agents over them and the storm restarts them all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fingress.bench.command import MAX_DEFAULT_CONNECTORS, default_connectors
from fingress.cli import main as fingress_main
from tests.support.timing import seconds


def run_bench(*options: str) -> dict[str, Any]:
    finished = subprocess.run(
        [sys.executable, "-m", "fingress.cli", "bench", "--spawn-demo", "--json", "--quiet", *options],
        capture_output=True,
        text=True,
        timeout=seconds(120),
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    figures: dict[str, Any] = json.loads(finished.stdout)
    return figures


def assert_every_change_arrived_once_in_order(events: dict[str, Any], *, agents: int) -> None:
    assert events["agents_on_call"] == agents
    assert events["stamped_arrived"] == events["published"] == events["latency"]["count"] > 0
    assert events["integrity"]["lost"] == events["integrity"]["duplicated"] == 0
    assert events["integrity"]["out_of_order"] == 0
    assert 0 < events["latency"]["p50_ms"] <= events["latency"]["max_ms"]
    assert events["failures"] == 0


def test_the_events_scenario_measures_every_published_change(tmp_path: Path) -> None:
    agents, duration_s, rate = 4, 2, 2
    figures = run_bench(
        *("--agents", str(agents), "--duration-s", str(duration_s), "--rate", str(rate), "--connectors", "1"),
        *("--scenario", "events", "--data-dir", str(tmp_path / "bench")),
    )
    assert figures["connectors"] == 1
    assert figures["sign_in"]["agents_up"] == agents
    assert figures["sign_in"]["sessions_per_connector"] == {"connector-1": agents}
    events = figures["events"]
    # The emulator publishes about rate × agents × duration changes (the pacing ticks round per batch).
    assert agents * duration_s * rate * 0.7 <= events["published"] <= agents * duration_s * rate
    assert_every_change_arrived_once_in_order(events, agents=agents)
    assert figures["memory"]["connector_rss_kib"] > 0
    # The edge holds each agent's event socket, and the simulated apps' pooled connections besides.
    assert figures["memory"]["edge_sockets"] > agents
    assert set(events["cpu_us_per_event"]) == {"edge", "connector", "emulator", "bench"}
    # One connector: the demo's own file name, as `fingress demo` writes it.
    assert (tmp_path / "bench" / "connector.toml").is_file()


def test_two_connector_processes_share_the_agents_and_all_come_back_after_a_storm(tmp_path: Path) -> None:
    agents, data_dir = 8, tmp_path / "bench"
    figures = run_bench(
        *("--agents", str(agents), "--duration-s", "1", "--rate", "2", "--connectors", "2"),
        *("--scenario", "events", "--scenario", "storm", "--data-dir", str(data_dir)),
    )
    assert figures["connectors"] == 2
    assert figures["sign_in"]["agents_up"] == agents
    # Each process holds sessions (the edge's rendezvous hashing splits these ids 3 / 5), and together all.
    spread = figures["sign_in"]["sessions_per_connector"]
    assert set(spread) == {"connector-1", "connector-2"}
    assert min(spread.values()) >= 1
    assert sum(spread.values()) == agents
    assert_every_change_arrived_once_in_order(figures["events"], agents=agents)
    storm = figures["storm"]
    assert (storm["agents_back"], storm["forced_logouts"], storm["failures"]) == (agents, 0, 0)
    # The restarted tier's CPU cannot be summed across the restart (its new processes' can); the others' can.
    assert "connector" not in storm["cpu_s"]
    assert storm["cpu_s"]["connector_since_restart"] > 0
    assert "edge" in storm["cpu_s"]
    identities = {
        tomllib.loads((data_dir / f"{name}.toml").read_text())["tunnel"]["connector_id"]
        for name in ("connector-1", "connector-2")
    }
    assert identities == {"connector-1", "connector-2"}


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 2), (4, 4), (64, MAX_DEFAULT_CONNECTORS)])
def test_the_connector_tier_defaults_to_one_process_per_core_within_a_bound(
    monkeypatch: pytest.MonkeyPatch, cores: int, expected: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert default_connectors() == expected


def test_connectors_need_a_spawned_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = fingress_main(["bench", "--demo-json", str(tmp_path / "demo.json"), "--connectors", "2"])
    assert code == 2
    assert "--connectors" in capsys.readouterr().err
