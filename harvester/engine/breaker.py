"""The dead-API breaker: when nothing answers for a while, stop the run instead of burning windows.

    breaker = Breaker(give_up_after=60.0, clock=time.time)
    breaker.failed("connection refused", sent_at=t0)    # a call got no usable answer
    breaker.answered()                                    # any call got one: all is well again
    if breaker.tripped(): ...                             # stop dispatch; exit 6 upstream

Silence is measured from the moment the first failing call after the last answer was
sent, not from when it failed: a call that hangs for the 10 s connect timeout is 10 s of
silence already. Only failures of the whole pool count; one search's bad luck does not
trip it as long as some other call answers. Pure, with an injected clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Breaker", "Unreachable"]


@dataclass(slots=True, frozen=True)
class Unreachable:
    """The breaker's verdict: how long nothing answered, and the last failure seen."""

    silent_s: float  #: seconds without an answer when it tripped
    last_error: str  #: the latest failure's message (never a secret)
    failures: int  #: failed calls in that time


class Breaker:
    """Trips when no call of the pool has been answered for `give_up_after` seconds of tries."""

    __slots__ = (
        "_clock",
        "_failing_since",
        "_last_answer",
        "failures",
        "give_up_after",
        "last_error",
    )

    def __init__(self, give_up_after: float, clock: Callable[[], float]) -> None:
        if not give_up_after > 0:
            raise ValueError(f"give_up_after must be positive, got {give_up_after}")
        self.give_up_after = give_up_after  #: seconds of silence before tripping
        self._clock = clock  #: the pool's clock (epoch seconds; fake in tests)
        self._last_answer = -math.inf  #: when a call was last answered
        self._failing_since: float | None = None  #: silence began here; None while answered
        self.failures = 0  #: failed calls since the last answer
        self.last_error: str | None = None  #: the latest failure, for the message

    def answered(self) -> None:
        """A call got an answer from the API (a page, or an error PatSnap chose to send)."""
        self._last_answer = self._clock()
        self._failing_since = None
        self.failures = 0

    def failed(self, error: str, *, sent_at: float) -> None:
        """A call sent at `sent_at` got no usable answer (refused, timed out, 5xx, bad body)."""
        began = max(sent_at, self._last_answer)
        if self._failing_since is None or began < self._failing_since:
            self._failing_since = began
        self.failures += 1
        self.last_error = error

    def silent_for(self) -> float:
        """Seconds of silence so far (0 while calls are being answered)."""
        if self._failing_since is None:
            return 0.0
        return max(0.0, self._clock() - self._failing_since)

    def trips_at(self) -> float | None:
        """When the breaker trips if nothing answers before; None while calls are answered."""
        if self._failing_since is None:
            return None
        return self._failing_since + self.give_up_after

    def tripped(self) -> bool:
        """Whether the silence has lasted `give_up_after` seconds."""
        return self._failing_since is not None and self.silent_for() >= self.give_up_after
