"""How the benchmark turns per-process readings into per-tier figures: a tier of several processes is their
sum, and a tier with any process restarted between two readings is left out of CPU (its predecessor's time
can no longer be read)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from fingress.bench.command import _cpu_used
from fingress.bench.stack import _gauge, open_sockets


def test_a_tier_of_several_processes_is_their_sum_until_one_restarts() -> None:
    before = {"connector": ((11, 12), 3.0), "edge": ((10,), 1.0), "bench": ((9,), 0.5)}
    steady = {"connector": ((11, 12), 5.5), "edge": ((10,), 1.25), "bench": ((9,), 0.75)}
    assert _cpu_used(before, steady) == {"connector": 2.5, "edge": 0.25, "bench": 0.25}
    one_restarted = {**steady, "connector": ((11, 13), 4.0)}
    assert not {"connector", "connector_since_restart"} & set(_cpu_used(before, one_restarted))
    all_restarted = {**steady, "connector": ((13, 14), 4.0)}
    assert _cpu_used(before, all_restarted) == {"connector_since_restart": 4.0, "edge": 0.25, "bench": 0.25}
    one_gone = {**steady, "connector": None}
    assert "connector" not in _cpu_used(before, one_gone)
    unreadable = {**steady, "connector": ((11, 12), None)}
    assert "connector" not in _cpu_used(before, unreadable)


def test_gauges_are_read_by_their_exact_sample_name() -> None:
    text = (
        "# HELP fingress_edge_tunnel_connections Connector tunnels up.\n"
        "# TYPE fingress_edge_tunnel_connections gauge\n"
        "fingress_edge_tunnel_connections 4.0\n"
        'fingress_connector_sessions{state="signing_in"} 1.0\n'
        'fingress_connector_sessions{state="active"} 503.0\n'
    )
    assert _gauge(text, "fingress_edge_tunnel_connections") == 4.0
    assert _gauge(text, 'fingress_connector_sessions{state="active"}') == 503.0
    assert _gauge(text, "fingress_edge_tunnel") is None
    assert _gauge("fingress_edge_tunnel_connections NaNa\n", "fingress_edge_tunnel_connections") is None


def test_open_sockets_counts_a_process_s_sockets_and_nothing_else() -> None:
    before = open_sockets(os.getpid())
    assert before is not None
    with socket.socket() as first, socket.socket(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET):
        with open(os.devnull, "rb"):  # a file is not a socket
            assert open_sockets(os.getpid()) == before + 2
        first.close()
        assert open_sockets(os.getpid()) == before + 1
    assert open_sockets(os.getpid()) == before


def test_open_sockets_of_a_process_that_is_gone_is_none() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    assert open_sockets(int(child.stdout)) is None
