"""Pool sizing as pure functions on a fake clock: Little's law with a high percentile of recent
latencies and headroom, from a small start, within the ceiling; a pinned number stays put;
`limited` reports once when the pool stays short of the rate."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.engine.concurrency import (
    HEADROOM,
    LIMITED_S,
    START,
    LatencyWindow,
    PoolSize,
    in_flight_for,
    percentile,
)


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    random.Random(1).shuffle(values)
    assert percentile(values, 0.5) == 5.0 and percentile(values, 0.9) == 9.0
    assert percentile(values, 1.0) == 10.0 and percentile([0.3], 0.9) == 0.3
    with pytest.raises(ValueError):
        percentile([], 0.5)


@given(st.floats(0.5, 1000), st.floats(0.0, 5.0))
def test_in_flight_covers_rate_times_latency_with_headroom(rate: float, latency: float) -> None:
    n = in_flight_for(rate, latency)
    assert n >= rate * latency * HEADROOM and n >= 1
    assert n <= rate * latency * HEADROOM + 3


def test_auto_starts_small_and_grows_to_fill_the_rate_at_the_observed_latency() -> None:
    pool = PoolSize(pinned=None, ceiling=64)
    assert pool.limit == START
    rng = random.Random(7)
    for _ in range(200):
        pool.observe(0.5 + rng.uniform(-0.2, 0.2))  # 500 +- 200 ms
        pool.resize(40 * 0.97)
    p90 = pool.latency.quantile(0.9)
    assert p90 is not None and 0.6 < p90 <= 0.7
    assert pool.limit == in_flight_for(40 * 0.97, p90)
    assert 30 <= pool.limit <= 40  # far above the 8 that reached 0.39 of the rate


def test_auto_follows_the_latency_down_again() -> None:
    pool = PoolSize(pinned=None, ceiling=64)
    for _ in range(300):
        pool.observe(0.5)
        pool.resize(40)
    high = pool.limit
    for _ in range(300):
        pool.observe(0.02)
        pool.resize(40)
    assert high > 20 and pool.limit == in_flight_for(40, 0.02) < 6


def test_the_ceiling_caps_auto_and_a_pinned_number_never_moves() -> None:
    capped = PoolSize(pinned=None, ceiling=10)
    pinned = PoolSize(pinned=8, ceiling=64)
    for _ in range(100):
        for pool in (capped, pinned):
            pool.observe(1.0)
            pool.resize(40)
    assert capped.limit == 10 and capped.wanted == in_flight_for(40, 1.0)
    assert pinned.limit == 8 and pinned.most == 8 and capped.most == 10


def test_limited_reports_once_after_the_pool_stayed_short_for_a_while() -> None:
    pool = PoolSize(pinned=8, ceiling=64)
    for _ in range(40):
        pool.observe(0.5)
        pool.resize(40)
    needed = pool.wanted
    assert needed is not None and needed > 8
    clock = 100.0
    assert pool.limited(clock, saturated=True) is None  # the clock starts now
    assert pool.limited(clock + LIMITED_S / 2, saturated=False) is None  # not full: reset
    assert pool.limited(clock + LIMITED_S * 0.9, saturated=True) is None
    assert pool.limited(clock + LIMITED_S * 1.5, saturated=True) is None  # 0.6 x since reset
    assert pool.limited(clock + LIMITED_S * 2, saturated=True) == needed
    assert pool.limited(clock + LIMITED_S * 9, saturated=True) is None  # once


def test_a_pool_that_fills_the_rate_is_never_reported() -> None:
    pool = PoolSize(pinned=64, ceiling=64)
    for second in range(100):
        pool.observe(0.5)
        pool.resize(40)
        assert pool.limited(float(second), saturated=True) is None


def test_capacity_is_what_the_pool_carries_at_the_median_latency() -> None:
    pool = PoolSize(pinned=8, ceiling=64)
    assert pool.capacity() is None
    for _ in range(9):
        pool.observe(0.5)
    assert pool.capacity() is None  # as of the last resize: none yet
    pool.resize(40)
    assert pool.capacity() == 16.0


def test_capacity_follows_the_median_as_of_each_resize() -> None:
    pool = PoolSize(pinned=8, ceiling=64)
    for seconds in [0.5] * 16 + [2.0] * 17:  # 33 answers: after the 16th, every 8th re-sorts
        pool.observe(seconds)
        pool.resize(40)
    assert pool.latency.quantile(0.5) == 2.0  # the exact median moved with the 33rd ...
    assert pool.capacity() == 8 / 0.5  # ... capacity() did not re-sort for it
    for _ in range(7):
        pool.observe(2.0)
        pool.resize(40)  # the 40th answer recomputes
    assert pool.capacity() == 8 / 2.0


def test_latency_window_keeps_only_recent_calls() -> None:
    window = LatencyWindow(size=4)
    for seconds in (9.0, 9.0, 9.0, 9.0, 0.1, 0.1, 0.1, 0.1):
        window.add(seconds)
    assert len(window) == 4 and window.quantile(0.9) == 0.1
    assert LatencyWindow().quantile(0.5) is None


def test_before_the_first_answer_a_starved_throttle_grows_the_pool_by_one() -> None:
    pool = PoolSize(pinned=None, ceiling=6)
    assert [pool.starved() for _ in range(4)] == [True, True, False, False]
    assert pool.limit == 6  # the ceiling holds
    pool = PoolSize(pinned=None, ceiling=64)
    pool.observe(0.1)
    assert not pool.starved() and pool.limit == START  # answers size it from now on
    assert not PoolSize(pinned=3, ceiling=64).starved()
