"""Throttle and retry policy: pure logic with a fake clock, no sleeping."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.api.errors import (
    PatSnapError,
    ProtocolError,
    ServerError,
    TransportError,
    error_for_code,
)
from harvester.engine.rate import Throttle
from harvester.engine.retry import RetryPolicy, is_transient


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_slow_down_cuts_the_rate_once_per_cooldown() -> None:
    t = FakeTime()
    throttle = Throttle(10, margin=1.0, clock=t.clock, sleep=t.sleep)
    throttle.slow_down()
    throttle.slow_down()  # a volley of in-flight 429s counts once
    assert throttle.current_rate == pytest.approx(7)
    t.now += 1.5
    throttle.slow_down()
    assert throttle.current_rate == pytest.approx(4.9)
    assert throttle.slowdowns == 2


def test_rate_recovers_gradually_after_quiet_intervals() -> None:
    t = FakeTime()
    throttle = Throttle(10, margin=1.0, clock=t.clock, sleep=t.sleep)
    throttle.slow_down()
    throttle.recovered()
    assert throttle.current_rate == pytest.approx(7)  # too soon
    rates = []
    for _ in range(4):
        t.now += 1.5
        throttle.recovered()
        rates.append(round(throttle.current_rate, 6))
    assert rates == sorted(rates) and rates[-1] == 10
    assert rates[0] == pytest.approx(8)


def test_the_rate_never_falls_below_the_floor() -> None:
    t = FakeTime()
    throttle = Throttle(16, margin=1.0, min_factor=1 / 16, clock=t.clock, sleep=t.sleep)
    for _ in range(20):
        throttle.slow_down()
        t.now += 2
    assert throttle.current_rate == 1


async def test_retry_after_pauses_the_whole_pool() -> None:
    t = FakeTime()
    throttle = Throttle(1000, margin=1.0, clock=t.clock, sleep=t.sleep)
    throttle.slow_down(retry_after=3.0)
    await throttle.acquire()
    assert t.slept and abs(sum(t.slept) - 3.0) < 0.01


async def test_while_slowed_calls_are_spaced_at_the_reduced_rate() -> None:
    t = FakeTime()
    throttle = Throttle(1000, margin=1.0, clock=t.clock, sleep=t.sleep)
    throttle.slow_down(retry_after=0.0)
    start = t.now
    for _ in range(5):
        await throttle.acquire()
    # 700/s while slowed: the 5th call leaves 4 intervals after the first
    assert (t.now - start) == pytest.approx(4 / 700, abs=2e-4)


def test_margin_keeps_the_throttle_just_under_the_account_rate() -> None:
    assert Throttle(20).rate < 20 <= Throttle(20).rate / 0.95


@given(attempt=st.integers(1, 50), seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_within_the_exponential_ceiling(attempt: int, seed: int) -> None:
    policy = RetryPolicy(initial=0.5, cap=30)
    delay = policy.delay(attempt, random.Random(seed))
    assert 0 <= delay <= min(30, 0.5 * 2 ** (attempt - 1))


def test_transient_tries_are_bounded_by_the_window_alone_unknown_codes_by_count() -> None:
    policy = RetryPolicy(unknown_code_attempts=3)
    assert policy.allows(1_000)
    assert policy.allows(2, unknown_code=True) and not policy.allows(3, unknown_code=True)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TransportError("connection refused"), True),
        (TransportError("HTTP 408", http_status=408), True),
        (ProtocolError("truncated body"), True),
        (ServerError("HTTP 503", http_status=503), True),
        (error_for_code(68300005, None), True),
        (error_for_code(68300008, None), True),
        (error_for_code(67200001, None), False),  # a push-back is an answer
        (error_for_code(67200002, None), False),
        (error_for_code(12345, None), False),  # an unknown code is an answer
        (error_for_code(68300004, None), False),
        (error_for_code(67200005, None), False),
    ],
)
def test_transient_means_no_usable_answer(error: PatSnapError, transient: bool) -> None:
    assert is_transient(error) is transient
