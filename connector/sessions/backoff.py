"""Reconnect delays: exponential, capped, with jitter so thousands of agents do not retry in lock step."""

from __future__ import annotations

import math
import random


def reconnect_delay_s(
    failures: int, *, base_s: float, max_s: float, jitter: float, rng: random.Random
) -> float:
    """The wait before attempt ``failures + 1`` (``failures`` ≥ 1): ``base · 2^(failures-1)`` capped at
    ``max_s``, then moved by up to ``± jitter`` of itself (never below zero, never above ``max_s``)."""
    exponent = min(max(failures - 1, 0), 32)
    delay_s = min(max_s, math.ldexp(base_s, exponent))
    spread_s = delay_s * jitter
    return min(max_s, max(0.0, delay_s + rng.uniform(-spread_s, spread_s)))
