"""Clocks in epoch seconds: a real one that never jumps back, and one tests move by hand.

Search windows are wall-clock (`created_at` is ISO-8601), token lifetimes and the rate
limit are intervals; one epoch-seconds clock serves all three.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "ManualClock", "system_clock"]

Clock = Callable[[], float]


def system_clock() -> Clock:
    """Wall time anchored once, then advanced by the monotonic clock (no NTP jumps)."""
    wall0 = time.time()
    mono0 = time.monotonic()

    def now() -> float:
        return wall0 + (time.monotonic() - mono0)

    return now


class ManualClock:
    """A clock that stands still until `advance` is called: time-dependent tests, no sleeps.

    >>> clock = ManualClock(1000.0); clock.advance(1.5); clock()
    1001.5
    """

    __slots__ = ("_now",)

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start  #: current epoch seconds

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (never backward)."""
        if seconds < 0:
            raise ValueError("a clock does not go backward")
        self._now += seconds
