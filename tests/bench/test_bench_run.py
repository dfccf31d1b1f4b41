"""``fingress bench`` end to end at a small count: the spawned stack (emulator, edge and connector as child
processes) carries every stamped call-data change to every app, in order, and the run reports it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.timing import seconds


def test_the_events_scenario_measures_every_published_change(tmp_path: Path) -> None:
    agents, duration_s, rate = 4, 2, 2
    finished = subprocess.run(
        [
            *(sys.executable, "-m", "fingress.cli", "bench", "--spawn-demo", "--json", "--quiet"),
            *("--agents", str(agents), "--duration-s", str(duration_s), "--rate", str(rate)),
            *("--scenario", "events", "--data-dir", str(tmp_path / "bench")),
        ],
        capture_output=True,
        text=True,
        timeout=seconds(120),
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    figures = json.loads(finished.stdout)
    assert figures["sign_in"]["agents_up"] == agents
    events = figures["events"]
    assert events["agents_on_call"] == agents
    # The emulator publishes about rate × agents × duration changes (the pacing ticks round per batch).
    assert agents * duration_s * rate * 0.7 <= events["published"] <= agents * duration_s * rate
    assert events["stamped_arrived"] == events["published"] == events["latency"]["count"]
    assert events["integrity"]["lost"] == events["integrity"]["duplicated"] == 0
    assert events["integrity"]["out_of_order"] == 0
    assert 0 < events["latency"]["p50_ms"] <= events["latency"]["max_ms"]
    assert events["failures"] == 0
    assert figures["memory"]["connector_rss_kib"] > 0
    assert set(events["cpu_us_per_event"]) == {"edge", "connector", "emulator", "bench"}
