"""The benchmark's recorders: percentiles and the sequence checker (examples and Hypothesis properties)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from fingress.bench.stats import Latencies, SequenceCheck, percentile, total


def feed(seqs: list[int]) -> SequenceCheck:
    check = SequenceCheck()
    for seq in seqs:
        check.frame("dialog.updated", seq)
    return check


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50.0, 99.0, 100.0)
    assert math.isnan(percentile([], 0.5))
    assert Latencies().summary_ms()["p50_ms"] is None


def test_a_clean_stream_has_nothing_to_report() -> None:
    assert feed([5, 6, 7, 8]).as_dict() == {
        "received": 4,
        "lost": 0,
        "duplicated": 0,
        "out_of_order": 0,
        "resyncs": 0,
    }


def test_gap_duplicate_and_late_arrival() -> None:
    check = feed([1, 2, 5, 5, 3])
    assert (check.lost, check.duplicated, check.out_of_order) == (1, 1, 1)


def test_snapshot_restarts_the_count_and_heartbeats_are_ignored() -> None:
    check = SequenceCheck()
    check.frame("agent.updated", 1)
    check.frame("snapshot", 10)
    check.frame("heartbeat", 10)
    check.frame("agent.updated", 11)
    assert (check.lost, check.resyncs, check.received) == (0, 1, 2)


def test_edge_made_alerts_repeat_the_last_seq_without_counting() -> None:
    check = SequenceCheck()
    for frame_type, seq in (("agent.updated", 3), ("alert", 3), ("alert", 3), ("alert", 4)):
        check.frame(frame_type, seq)
    assert (check.received, check.duplicated, check.lost) == (2, 0, 0)


@given(st.lists(st.integers(min_value=0, max_value=60), max_size=80))
def test_counts_add_up_for_any_arrival_order(seqs: list[int]) -> None:
    check = feed(seqs)
    distinct = set(seqs)
    assert check.received == len(seqs)
    assert check.duplicated == len(seqs) - len(distinct)
    if distinct:
        # Lost = numbers between the first and the highest that never came.
        first = seqs[0]
        expected_lost = len(set(range(first, max(distinct) + 1)) - distinct)
        assert check.lost == expected_lost
    assert check.lost >= 0
    assert check.out_of_order >= 0


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=1, max_value=50))
def test_in_order_streams_are_always_clean(start: int, length: int) -> None:
    check = feed(list(range(start, start + length)))
    assert total([check]) == {
        "received": length,
        "lost": 0,
        "duplicated": 0,
        "out_of_order": 0,
        "resyncs": 0,
    }
