"""Latency and error hooks for Finesse REST calls, without any global metrics registry.

The REST client reports every call it finishes to a :class:`CallObserver` it was given; the composition
root passes one that feeds Prometheus, tests pass :class:`CallStats`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FinesseCall:
    """One finished REST call. ``status`` is ``None`` when no response arrived; ``error_code`` is the
    stable code of the error the client raised, ``None`` on success."""

    operation: str
    side: str
    duration_s: float
    status: int | None
    error_code: str | None


class CallObserver(Protocol):
    def call_finished(self, call: FinesseCall) -> None:
        """Called once per call, success or failure; must not raise and must not block."""


@dataclass(slots=True)
class CallStats:
    """A tiny in-memory :class:`CallObserver`: counts and total latency by operation, errors by code."""

    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    total_duration_s: float = 0.0
    last: FinesseCall | None = None

    def call_finished(self, call: FinesseCall) -> None:
        self.calls[call.operation] += 1
        if call.error_code is not None:
            self.errors[call.error_code] += 1
        self.total_duration_s += call.duration_s
        self.last = call
