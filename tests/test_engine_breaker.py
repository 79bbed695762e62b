"""The dead-API breaker: pure, with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.engine.breaker import Breaker


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_silence_counted_from_the_first_failing_call_sent_trips_after_give_up_after() -> None:
    clock = Clock()
    breaker = Breaker(60.0, clock)
    assert not breaker.tripped() and breaker.trips_at() is None
    clock.now = 1010.0  # a call sent at 1000 timed out after 10 s
    breaker.failed("timed out", sent_at=1000.0)
    assert breaker.trips_at() == 1060.0
    clock.now = 1059.9
    breaker.failed("connection refused", sent_at=1059.0)
    assert not breaker.tripped()
    clock.now = 1060.0
    assert breaker.tripped()
    assert (breaker.last_error, breaker.failures) == ("connection refused", 2)
    assert breaker.silent_for() == 60.0


def test_any_answer_resets_it() -> None:
    clock = Clock()
    breaker = Breaker(5.0, clock)
    breaker.failed("HTTP 503", sent_at=1000.0)
    clock.now = 1004.0
    breaker.answered()
    clock.now = 1100.0
    assert not breaker.tripped() and breaker.failures == 0 and breaker.silent_for() == 0.0


def test_a_call_sent_before_the_last_answer_counts_from_that_answer() -> None:
    clock = Clock()
    breaker = Breaker(10.0, clock)
    clock.now = 1005.0
    breaker.answered()  # another call came back at 1005
    clock.now = 1012.0
    breaker.failed("reset", sent_at=1000.0)  # this one left before it, failed after
    assert breaker.trips_at() == 1015.0


def test_give_up_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Breaker(0.0, Clock())


@given(
    events=st.lists(st.tuples(st.floats(0, 30), st.booleans()), min_size=1, max_size=40),
    give_up=st.floats(1, 100),
)
def test_it_trips_exactly_when_no_answer_came_for_give_up_after_seconds(
    events: list[tuple[float, bool]], give_up: float
) -> None:
    clock = Clock(0.0)
    breaker = Breaker(give_up, clock)
    silent_since: float | None = None
    for step, answered in events:
        clock.now += step
        if answered:
            breaker.answered()
            silent_since = None
        else:
            breaker.failed("x", sent_at=clock.now)
            silent_since = clock.now if silent_since is None else silent_since
        expected = silent_since is not None and clock.now - silent_since >= give_up
        assert breaker.tripped() is expected
