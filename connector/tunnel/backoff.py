"""Reconnect delays: exponential, capped, with jitter so that connectors do not redial in lockstep."""

from __future__ import annotations

import random


class Backoff:
    """``next_delay_s()`` grows ``base_s · multiplier^n`` up to ``max_s``, and returns a value in the
    upper half of that ceiling ("equal jitter": spread out, yet never a busy retry). ``reset()`` after a
    connection that worked."""

    def __init__(
        self, *, base_s: float = 0.2, max_s: float = 30.0, multiplier: float = 2.0, rng: random.Random
    ) -> None:
        if not 0 < base_s <= max_s or multiplier < 1:
            raise ValueError("backoff needs 0 < base_s <= max_s and multiplier >= 1")
        self.base_s = base_s
        self.max_s = max_s
        self.multiplier = multiplier
        self._rng = rng
        self._attempts = 0

    @property
    def attempts(self) -> int:
        return self._attempts

    def next_delay_s(self) -> float:
        ceiling = min(self.max_s, self.base_s * self.multiplier ** min(self._attempts, 64))
        self._attempts += 1
        return ceiling * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        self._attempts = 0
