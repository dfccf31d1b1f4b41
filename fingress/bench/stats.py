"""Sans-I/O recorders for the benchmark: latency samples and event-sequence integrity."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (``fraction`` in 0..1); NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Latencies:
    """Latency samples in seconds; :meth:`summary_ms` reports count, p50/p90/p99/max in milliseconds."""

    samples_s: list[float] = field(default_factory=list)

    def add(self, latency_s: float) -> None:
        self.samples_s.append(latency_s)

    def extend(self, other: Latencies) -> None:
        self.samples_s.extend(other.samples_s)

    def summary_ms(self) -> dict[str, Any]:
        ordered = sorted(self.samples_s)

        def ms(value: float) -> float | None:
            return None if math.isnan(value) else round(value * 1000, 3)

        return {
            "count": len(ordered),
            "p50_ms": ms(percentile(ordered, 0.50)),
            "p90_ms": ms(percentile(ordered, 0.90)),
            "p99_ms": ms(percentile(ordered, 0.99)),
            "max_ms": ms(ordered[-1] if ordered else math.nan),
        }


@dataclass
class SequenceCheck:
    """One agent's event stream judged by ``seq``: every event frame after the first should carry the
    previous seq + 1. A jump forward counts the missing numbers as lost; a seq already seen counts as
    duplicated; a seq below the highest seen but never seen before counts as out of order (and is no
    longer lost). ``snapshot`` frames restart the count (the stream was resynchronised); heartbeats and
    the alerts the edge makes itself (``connector_lost``, ``resync``) repeat the last seq without
    advancing it, so they are left out of the judgement.
    """

    highest: int | None = None
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    resyncs: int = 0
    _seen: set[int] = field(default_factory=set)
    _missing: set[int] = field(default_factory=set)

    def frame(self, frame_type: str, seq: int) -> None:
        """Record one frame of the stream."""
        if frame_type == "heartbeat" or (frame_type == "alert" and seq == self.highest):
            return
        if frame_type == "snapshot":
            # A snapshot replaces everything before it: gaps before it are not losses the app suffers.
            self.resyncs += 1
            self.highest = seq
            self._seen = {seq}
            self._missing.clear()
            return
        self.received += 1
        if seq in self._seen:
            self.duplicated += 1
            return
        self._seen.add(seq)
        if self.highest is None:
            self.highest = seq
            return
        if seq > self.highest:
            gap = range(self.highest + 1, seq)
            self._missing.update(gap)
            self.lost += len(gap)
            self.highest = seq
            return
        # Below the highest and new: it arrived late.
        self.out_of_order += 1
        if seq in self._missing:
            self._missing.discard(seq)
            self.lost -= 1

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "out_of_order": self.out_of_order,
            "resyncs": self.resyncs,
        }


def total(checks: list[SequenceCheck]) -> dict[str, int]:
    """The sum of every agent's counts."""
    keys = ("received", "lost", "duplicated", "out_of_order", "resyncs")
    summed = dict.fromkeys(keys, 0)
    for check in checks:
        for key, value in check.as_dict().items():
            summed[key] += value
    return summed
