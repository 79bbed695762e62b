"""Account-wide request pacing: the configured rate, plus a slow-down when PatSnap pushes back.

    throttle = Throttle(rate=10, burst=1)
    await throttle.acquire()        # before every call
    throttle.slow_down(retry_after) # on 67200001 / HTTP 429; throttle.recovered() on success

The steady rate is aiolimiter's leaky bucket, built as `AsyncLimiter(burst, burst / rate)`
so no more than `burst` calls leave at once. aiolimiter cannot change its rate while
tasks wait on it, so the adaptive part is a second, serial gate that only exists while
slowed down: multiplicative decrease on each push-back (at most once per `cooldown`, so a
volley of in-flight 429s counts once), additive recovery after quiet intervals, and a
pause for the whole pool until Retry-After has passed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
from aiolimiter import AsyncLimiter

__all__ = ["Throttle"]

#: Send at this fraction of the account's rate: the server measures arrivals, not our
#: departures, and loopback or network jitter of a millisecond would otherwise tip a
#: burst-1 bucket over. 3% costs little and keeps rejections at zero.
DEFAULT_MARGIN = 0.97


class Throttle:
    """Paces calls to `rate`/s (burst `burst`), slowing down and recovering on push-back."""

    __slots__ = (
        "_clock",
        "_cooldown",
        "_factor",
        "_last_change",
        "_limiter",
        "_min_factor",
        "_next_slot",
        "_pause_until",
        "_sleep",
        "burst",
        "rate",
        "slowdowns",
    )

    rate: float  #: requests/s the throttle aims for when not slowed down
    burst: int  #: most calls allowed to leave at once
    slowdowns: int  #: how many times the pool was slowed down

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        margin: float = DEFAULT_MARGIN,
        min_factor: float = 1 / 16,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate * margin
        self.burst = burst
        self.slowdowns = 0
        self._limiter = AsyncLimiter(burst, burst / self.rate)
        self._factor = 1.0  # share of `rate` in force; < 1 while slowed down
        self._min_factor = min_factor
        self._cooldown = cooldown
        self._clock = clock
        self._sleep = sleep
        self._pause_until = 0.0
        self._last_change = float("-inf")
        self._next_slot = 0.0

    @property
    def current_rate(self) -> float:
        """Requests/s in force now."""
        return self.rate * self._factor

    async def acquire(self) -> None:
        """Wait until one more call may leave."""
        while (wait := self._pause_until - self._clock()) > 0:
            await self._sleep(wait)
        await self._limiter.acquire()
        if self._factor < 1.0:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self.current_rate
            if slot > now:
                await self._sleep(slot - now)

    def slow_down(self, retry_after: float | None = None) -> None:
        """PatSnap said too fast: halve the rate (once per cooldown) and honour Retry-After."""
        now = self._clock()
        pause = retry_after if retry_after is not None else 1.0 / self.current_rate
        self._pause_until = max(self._pause_until, now + min(pause, 60.0))
        if now - self._last_change < self._cooldown:
            return
        self._factor = max(self._min_factor, self._factor / 2)
        self._last_change = now
        self.slowdowns += 1

    def recovered(self) -> None:
        """A call went through: win back a tenth of the rate per quiet interval."""
        if self._factor >= 1.0:
            return
        now = self._clock()
        if now - self._last_change < 2 * self._cooldown:
            return
        self._factor = min(1.0, self._factor + 0.1)
        self._last_change = now
