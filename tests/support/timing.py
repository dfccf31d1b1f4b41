"""One time unit for tests, scaled by FINGRESS_TEST_TIME_SCALE on slow machines. Every await in a test is
bounded by a multiple of it; nothing sleeps to "wait for ready"."""

from __future__ import annotations

import os


def time_scale() -> float:
    return float(os.environ.get("FINGRESS_TEST_TIME_SCALE", "1"))


def seconds(value: float) -> float:
    """``value`` seconds, scaled."""
    return value * time_scale()
