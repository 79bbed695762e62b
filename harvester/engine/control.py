"""Whether the run goes on: stop(), the account's StopRun, and the dead-API breaker's verdict.

    control = RunControl(throttle, breaker, stats, observer, wakeup, clock)
    control.stop("SIGINT received")         # dispatch ends; pages in flight still land
    control.stop_for(error, reason)          # PatSnap said the account cannot go on
    control.give_up()                        # nothing answered for give_up_after seconds
    control.stopping, control.stop_error, control.unreachable

Stopping closes the throttle (calls still waiting for their slot are not sent, nor paid
for) and sets the pool's one wake-up, so a worker waiting for room or for a page sees it
at once.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from harvester.api.errors import StopRun
from harvester.engine.breaker import Breaker, Unreachable
from harvester.engine.events import HarvestStats, Observer
from harvester.engine.rate import Throttle
from harvester.engine.window import Wakeup

__all__ = ["RunControl"]


class RunControl:
    """The run's stop switch and why it was thrown."""

    __slots__ = (
        "_clock",
        "_observer",
        "_stats",
        "_throttle",
        "_wakeup",
        "breaker",
        "stop_error",
        "stopping",
        "unreachable",
    )

    stopping: bool  #: no more pages are handed out
    stop_error: StopRun | None  #: the StopRun that stopped the run, if one did
    unreachable: Unreachable | None  #: the breaker's verdict, if it stopped the run
    breaker: Breaker  #: counts the silence of the API

    def __init__(
        self,
        throttle: Throttle,
        breaker: Breaker,
        stats: HarvestStats,
        observer: Observer,
        wakeup: Wakeup,
        clock: Callable[[], float],
    ) -> None:
        self._throttle = throttle
        self.breaker = breaker
        self._stats = stats
        self._observer = observer
        self._wakeup = wakeup
        self._clock = clock
        self.stopping = False
        self.stop_error = None
        self.unreachable = None

    def stop(self, reason: str) -> None:
        """Stop dispatching; pages in flight still land. Safe to call more than once."""
        if not self.stopping:
            self.stopping = True
            self._stats.stop_reason = reason
            self._observer.event("run_stopping", reason=reason)
            self._throttle.close()  # calls still waiting for their slot are not sent
        self._wakeup.set()

    def stop_for(self, error: StopRun, reason: str) -> None:
        """PatSnap said the account cannot go on (the first such error is the one reported)."""
        self.stop_error = self.stop_error or error
        self.stop(reason)

    def give_up(self) -> None:
        """No call was answered for give_up_after seconds: stop, leave the rest pending."""
        if self.unreachable is not None:
            return
        breaker = self.breaker
        self.unreachable = Unreachable(
            silent_s=breaker.silent_for(),
            last_error=breaker.last_error or "no answer",
            failures=breaker.failures,
        )
        self._observer.event(
            "api_unreachable",
            silent_s=round(self.unreachable.silent_s, 1),
            failures=breaker.failures,
            last_error=self.unreachable.last_error,
        )
        self.stop(
            f"no call was answered for {self.unreachable.silent_s:.0f} s "
            f"(last error: {self.unreachable.last_error})"
        )

    async def watch(self) -> None:
        """Trip the breaker on time, also while every page waits out its backoff.

        Runs beside the pool until cancelled; failures trip it at once as well.
        """
        while not self.stopping:
            if self.breaker.tripped():
                self.give_up()
                return
            trips_at = self.breaker.trips_at()
            wait = 0.5 if trips_at is None else trips_at - self._clock()
            await anyio.sleep(min(0.5, max(0.01, wait)))
