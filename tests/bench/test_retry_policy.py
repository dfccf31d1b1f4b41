"""The simulated apps' retry policy (sans-I/O: attempt, Retry-After and a random source in, a delay out)
and the loop that applies it."""

from __future__ import annotations

import asyncio
import math
import random

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingress.bench.agent import AgentFailed, RetryPolicy, parse_retry_after
from fingress.bench.scenarios import APP_RETRIES, retrying


class FixedRandom(random.Random):
    """A random source that always draws ``value`` (0 ≤ value < 1): the jitter's edges, on purpose."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def test_the_window_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(base_s=0.25, cap_s=2.0)
    longest = [policy.delay_s(attempt, retry_after_s=None, rng=FixedRandom(1.0)) for attempt in range(6)]
    assert longest == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    shortest = [policy.delay_s(attempt, retry_after_s=None, rng=FixedRandom(0.0)) for attempt in range(6)]
    assert shortest == [0.0] * 6  # full jitter: anywhere from no pause to the window


def test_retry_after_is_a_floor_with_jitter_on_top() -> None:
    policy = RetryPolicy(base_s=0.25, cap_s=2.0)
    assert policy.delay_s(0, retry_after_s=1.0, rng=FixedRandom(0.0)) == 1.0
    assert policy.delay_s(0, retry_after_s=1.0, rng=FixedRandom(1.0)) == 1.25
    assert policy.delay_s(5, retry_after_s=1.0, rng=FixedRandom(0.5)) == 2.0


def test_jitter_spreads_apps_that_got_the_same_answer() -> None:
    """2,000 apps told "Retry-After: 1" at the same moment must not all come back at the same moment."""
    rng = random.Random(7)
    delays = [APP_RETRIES.delay_s(0, retry_after_s=1.0, rng=rng) for _ in range(2000)]
    assert min(delays) >= 1.0
    assert max(delays) <= 1.0 + APP_RETRIES.base_s
    assert len({round(delay, 3) for delay in delays}) > 200


def test_a_huge_or_meaningless_retry_after_is_capped_or_ignored() -> None:
    policy = RetryPolicy(base_s=0.25, cap_s=2.0, max_retry_after_s=30.0)
    assert policy.delay_s(0, retry_after_s=1e12, rng=FixedRandom(0.0)) == 30.0
    assert policy.delay_s(0, retry_after_s=math.inf, rng=FixedRandom(0.0)) == 30.0
    for meaningless in (math.nan, -5.0, 0.0):
        assert policy.delay_s(0, retry_after_s=meaningless, rng=FixedRandom(0.0)) == 0.0


@pytest.mark.parametrize(
    ("base_s", "cap_s", "max_retry_after_s"),
    [(0.0, 2.0, 30.0), (3.0, 2.0, 30.0), (0.25, math.inf, 30.0), (0.25, 2.0, -1.0), (0.25, 2.0, math.nan)],
)
def test_a_policy_that_makes_no_sense_is_refused(
    base_s: float, cap_s: float, max_retry_after_s: float
) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(base_s=base_s, cap_s=cap_s, max_retry_after_s=max_retry_after_s)


@given(
    attempt=st.integers(min_value=-10, max_value=10**6),
    retry_after_s=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    seed=st.integers(min_value=0, max_value=2**32),
    base_s=st.floats(min_value=0.001, max_value=5.0),
    extra_cap_s=st.floats(min_value=0.0, max_value=60.0),
)
@settings(max_examples=500, deadline=None)
def test_a_delay_is_at_least_retry_after_and_at_most_the_cap_beyond_it(
    attempt: int, retry_after_s: float | None, seed: int, base_s: float, extra_cap_s: float
) -> None:
    policy = RetryPolicy(base_s=base_s, cap_s=base_s + extra_cap_s, max_retry_after_s=30.0)
    delay_s = policy.delay_s(attempt, retry_after_s=retry_after_s, rng=random.Random(seed))
    floor_s = 0.0
    if retry_after_s is not None and retry_after_s > 0:
        floor_s = min(retry_after_s, 30.0)
    assert math.isfinite(delay_s)
    assert floor_s <= delay_s <= floor_s + policy.cap_s


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("1", 1.0),
        ("0", 0.0),
        (" 120 ", 120.0),
        ("9" * 20, math.inf),
        (None, None),
        ("", None),
        ("-1", None),
        ("1.5", None),
        ("\u0661", None),  # an Arabic-Indic digit: isdigit() says yes, RFC 9110 says no
        ("Fri, 21 Nov 2026 10:00:00 GMT", None),
    ],
)
def test_retry_after_header_values(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


@given(st.text())
def test_any_retry_after_value_parses_to_none_or_a_non_negative_number(header: str) -> None:
    seconds = parse_retry_after(header)
    assert seconds is None or seconds >= 0


async def test_retrying_waits_as_the_policy_says_and_stops_at_the_first_success() -> None:
    failures: list[BaseException] = [
        AgentFailed("agent 1: sign-in answered 503 no_connector", retry_after_s=1.0),
        httpx.ConnectError("refused"),
    ]
    slept: list[float] = []
    tries = 0

    async def attempt() -> None:
        nonlocal tries
        tries += 1
        if failures:
            raise failures.pop(0)

    async def sleep(delay_s: float) -> None:
        slept.append(delay_s)

    async with asyncio.timeout(5):
        await retrying(attempt, policy=APP_RETRIES, rng=FixedRandom(1.0), sleep=sleep)
    assert tries == 3
    assert slept == [1.0 + 0.25, 0.5]  # Retry-After then jitter; then the second window, no floor


async def test_retrying_lets_a_bug_through() -> None:
    slept: list[float] = []

    async def attempt() -> None:
        raise KeyError("not a failure an app retries")

    async def sleep(delay_s: float) -> None:
        slept.append(delay_s)

    with pytest.raises(KeyError):
        async with asyncio.timeout(5):
            await retrying(attempt, policy=APP_RETRIES, rng=random.Random(1), sleep=sleep)
    assert slept == []
