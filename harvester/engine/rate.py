"""Account-wide request pacing: the configured rate, plus a slow-down when PatSnap pushes back.

    throttle = Throttle(rate=10, burst=1)
    await throttle.acquire()        # before every call
    throttle.slow_down(retry_after) # on 67200001 / HTTP 429; throttle.recovered() on success
    throttle.close()                # stopping: calls still waiting raise PacingStopped

The steady rate is a schedule (GCRA, the virtual-scheduling form of a token bucket): each
call takes the next slot, `1/rate` after the previous one, and `burst` slots may share a
moment. At burst 1 a call never leaves sooner than `1/rate` after the previous one did,
so one that left late (a busy or descheduled process) pushes the next back rather than
let it catch up: a burst-1 limit measures the gap between two arrivals, and a catch-up
would spend the margin that absorbs network and server jitter. aiolimiter's leaky bucket,
used before, has that property too, but its waiters wake on asyncio timers, up to a
millisecond late (epoll counts whole milliseconds), which cost 3% of the rate at 40/s;
`precise_sleep` makes calls leave within a fraction of a millisecond of their slot.

The adaptive part slows the schedule down: multiplicative decrease on each push-back (at
most once per `cooldown`, so a volley of in-flight 429s counts once), additive recovery
after quiet intervals, and a pause for the whole pool until Retry-After has passed; while
slowed down, calls leave one at a time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

import anyio

__all__ = ["PacingStopped", "Throttle", "clear_sent", "precise_sleep", "sent_at"]

#: When the current task's last call got its slot (time.monotonic). Each worker is a task of
#: its own, and the client awaits `acquire` inside it, so the worker learns when its call
#: left, and measures the call's latency without the time it spent waiting for the slot.
_SENT: ContextVar[float | None] = ContextVar("harvester_sent_at", default=None)


def sent_at() -> float | None:
    """When this task's last paced call left (time.monotonic), if one did since clear_sent()."""
    return _SENT.get()


def clear_sent() -> None:
    """Forget this task's last departure (before a new call)."""
    _SENT.set(None)


#: Send at this fraction of the account's rate: the server measures arrivals, not our
#: departures, and a burst-1 bucket refuses a call whose arrival comes sooner than 1/rate
#: after the last one. 3% absorbs jitter up to 3% of the interval (0.77 ms at 40/s, 3 ms
#: at 10/s); a server that stamps arrivals later than that now and then (a busy shared
#: machine) will refuse a few calls, which slow_down() then handles.
DEFAULT_MARGIN = 0.97

#: Multiplicative decrease per push-back. Not the textbook 1/2: on a shared machine an
#: isolated 67200001 is usually one late arrival, not a sustained excess, and halving
#: for it cost 30% of a short run; persistent push-back still backs off geometrically.
DECREASE = 0.7
#: Share of the rate won back per quiet cooldown after a slow-down.
RECOVERY = 0.1

#: The last stretch of a sleep not left to a loop timer: asyncio's timers wake up to ~1 ms
#: late (epoll counts whole milliseconds).
_SPIN_S = 0.0015
#: A wait at least this long ends with the thread asleep for that last stretch: no CPU,
#: and the loop held for at most a tenth of the wait. A shorter one (a fast pace) yields
#: to the loop until the moment comes, so other tasks run meanwhile. Yielding cost ~70
#: loop passes a call: at 20 r/s, 1.4 CPU-ms a page, ~15% of a paced run's CPU.
_BLOCK_AFTER_S = 0.015


async def precise_sleep(
    seconds: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    block: Callable[[float], None] = time.sleep,
) -> None:
    """Sleep `seconds`, waking within a fraction of a millisecond of the moment.

    A timer covers all but the last 1.5 ms. After a long wait the thread sleeps the rest
    (`block`); after a short one the rest yields to the loop (other tasks run meanwhile)
    until the moment has come. `clock`, `sleep` and `block` are for tests.
    """
    deadline = clock() + seconds
    if seconds > _SPIN_S:
        await sleep(seconds - _SPIN_S)
    if seconds >= _BLOCK_AFTER_S:
        if (left := deadline - clock()) > 0:
            block(left)
        return
    while clock() < deadline:
        await sleep(0)


class PacingStopped(Exception):
    """The throttle was closed: the call that waited for its slot must not be sent."""


class Throttle:
    """Paces calls to `rate`/s (burst `burst`), slowing down and recovering on push-back."""

    __slots__ = (
        "_clock",
        "_closed",
        "_cooldown",
        "_factor",
        "_last_change",
        "_left",
        "_min_factor",
        "_pause_until",
        "_sleep",
        "_tat",
        "_waiting",
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
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate * margin
        self.burst = burst
        self.slowdowns = 0
        self._factor = 1.0  # share of `rate` in force; < 1 while slowed down
        self._min_factor = min_factor
        self._cooldown = cooldown
        self._clock = clock
        # Precision matters at burst 1 only, where a late call pushes the next back; a
        # larger bucket absorbs late wake-ups. It costs up to 1.5 ms of loop time per call.
        self._sleep = sleep or (precise_sleep if burst == 1 else anyio.sleep)
        self._pause_until = 0.0
        self._last_change = float("-inf")
        self._tat = float("-inf")  # when the next call may leave on the schedule (GCRA)
        self._left = float("-inf")  # when the last call left
        self._closed = False
        self._waiting: set[anyio.CancelScope] = set()  # one per acquire() under way

    @property
    def waiting(self) -> int:
        """Calls waiting for their slot now."""
        return len(self._waiting)

    @property
    def current_rate(self) -> float:
        """Requests/s in force now."""
        return self.rate * self._factor

    def pause_left(self) -> float:
        """Seconds until calls may leave again after a push-back (0 when not paused)."""
        return max(0.0, self._pause_until - self._clock())

    async def acquire(self) -> None:
        """Wait until one more call may leave; PacingStopped once the throttle is closed."""
        if self._closed:
            raise PacingStopped("the run is stopping")
        with anyio.CancelScope() as scope:
            self._waiting.add(scope)
            try:
                await self._wait_for_slot()
            finally:
                self._waiting.discard(scope)
        if scope.cancel_called:
            raise PacingStopped("the run is stopping")
        _SENT.set(time.monotonic())

    def close(self) -> None:
        """Let no more calls leave: those waiting for a slot, even a long pause, give up now.

        Stopping a run (Ctrl-C, a quota) must not send, and pay for, the calls that were
        only waiting for their turn, nor wait out a Retry-After first.
        """
        self._closed = True
        for scope in self._waiting:
            scope.cancel()

    async def _wait_for_slot(self) -> None:
        while True:
            while (wait := self._pause_until - self._clock()) > 0:
                await self._sleep(wait)
            now = self._clock()
            slot = self._reserve(now)
            if slot > now:
                await self._sleep(slot - now)
            await self._keep_apart()
            if self._pause_until <= self._clock():
                self._left = self._clock()
                return
            # PatSnap pushed back while this call waited for its slot: wait out the pause

    def _reserve(self, now: float) -> float:
        """Take the next slot on the schedule: `burst` may share a moment, unless slowed."""
        interval = 1.0 / self.current_rate
        tolerance = (self.burst - 1) * interval if not self._serial else 0.0
        tat = max(self._tat, now)
        self._tat = tat + interval
        return max(now, tat - tolerance)

    @property
    def _serial(self) -> bool:
        return self.burst == 1 or self._factor < 1.0

    async def _keep_apart(self) -> None:
        """One at a time: never sooner than `1/rate` after the last call left."""
        if not self._serial:
            return
        floor = 1.0 / self.current_rate
        while (wait := self._left + floor - self._clock()) > 0:
            await self._sleep(wait)

    def slow_down(self, retry_after: float | None = None) -> None:
        """PatSnap said too fast: cut the rate (once per cooldown) and honour Retry-After."""
        now = self._clock()
        pause = retry_after if retry_after is not None else 1.0 / self.current_rate
        self._pause_until = max(self._pause_until, now + min(pause, 60.0))
        if now - self._last_change < self._cooldown:
            return
        self._factor = max(self._min_factor, self._factor * DECREASE)
        self._last_change = now
        self.slowdowns += 1

    def recovered(self) -> None:
        """A call went through: win back a tenth of the rate per quiet cooldown."""
        if self._factor >= 1.0:
            return
        now = self._clock()
        if now - self._last_change < self._cooldown:
            return
        self._factor = min(1.0, self._factor + RECOVERY)
        self._last_change = now
