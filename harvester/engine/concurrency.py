"""How many calls to keep in flight: enough to fill the rate at the latency the run observes.

    pool = PoolSize(pinned=None, ceiling=64)    # concurrency = "auto"
    pool.starved()                              # before any answer: the throttle ran dry
    pool.observe(latency_s)                     # after every answered call
    pool.resize(rate)                           # the in-flight target now
    pool.capacity()                             # calls/s it can carry (O(1): as of resize)
    pool.limited(now, rate, saturated)          # the figure to report, once, if it stays short

Little's law: calls in flight = rate x latency. The pool sizes for a high percentile of
recent latencies (jitter sends some calls long), with headroom, plus a couple of calls
waiting for their slot so the throttle never finds the pool empty. It starts small and
follows the latency as it changes, never above `ceiling`; before the first answer it grows
by one each time a call leaves with none queued behind it. More in flight never means
faster than the rate: the throttle alone paces calls; the pool only keeps it fed.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = [
    "HEADROOM",
    "LIMITED_S",
    "START",
    "LatencyWindow",
    "PoolSize",
    "in_flight_for",
    "percentile",
]

START = 4  #: calls in flight before any latency is known
HEADROOM = 1.25  #: on top of rate x p90 latency
QUEUED = 2  #: calls waiting for their slot, so the throttle never waits for the pool
PERCENTILE = 0.9  #: the latency the pool sizes for
WINDOW = 256  #: recent latencies kept
LIMITED_S = 5.0  #: how long the pool must stay short of the rate before it is reported


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank; `values` need not be sorted."""
    if not values:
        raise ValueError("no values")
    return _nearest_rank(sorted(values), q)


def _nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def in_flight_for(rate: float, latency_s: float, headroom: float = HEADROOM) -> int:
    """Calls in flight that keep `rate` calls/s going when each takes `latency_s`."""
    return max(1, math.ceil(rate * latency_s * headroom) + QUEUED)


class LatencyWindow:
    """The last `size` call latencies (seconds): p50 and p90 for sizing and display."""

    __slots__ = ("_samples",)

    def __init__(self, size: int = WINDOW) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, seconds: float) -> None:
        """One answered call took `seconds` from leaving to its answer."""
        self._samples.append(max(0.0, seconds))

    def quantile(self, q: float) -> float | None:
        """The q-quantile of recent latencies, None before the first."""
        return percentile(list(self._samples), q) if self._samples else None

    def median_and(self, q: float) -> tuple[float, float] | None:
        """The median and the q-quantile of recent latencies (one sort), None before the first."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        return _nearest_rank(ordered, 0.5), _nearest_rank(ordered, q)


class PoolSize:
    """The pool's live in-flight limit: pinned, or from rate x latency within a ceiling."""

    __slots__ = (
        "_limited_after",
        "_p50",
        "_reported",
        "_seen",
        "_since",
        "ceiling",
        "latency",
        "limit",
        "pinned",
        "wanted",
    )

    pinned: int | None  #: a number the job set; None = auto
    ceiling: int  #: the most calls in flight in auto mode
    limit: int  #: calls in flight allowed now
    wanted: int | None  #: calls in flight that would fill the rate (unclamped), once known
    latency: LatencyWindow

    def __init__(
        self,
        pinned: int | None,
        ceiling: int,
        *,
        start: int = START,
        limited_after: float = LIMITED_S,
    ) -> None:
        if ceiling < 1 or (pinned is not None and pinned < 1):
            raise ValueError("concurrency and its ceiling must be at least 1")
        self.pinned = pinned
        self.ceiling = ceiling
        self.limit = pinned if pinned is not None else min(start, ceiling)
        self.latency = LatencyWindow()
        self.wanted = None
        self._p50: float | None = None  # the median latency as of the last resize
        self._seen = 0
        self._since: float | None = None  # when the pool began to stay short of the rate
        self._reported = False
        self._limited_after = limited_after

    @property
    def most(self) -> int:
        """The largest the limit can ever be (sizes the commit window's buffers)."""
        return self.pinned if self.pinned is not None else self.ceiling

    def starved(self) -> bool:
        """A call is about to leave with none waiting behind it, before any latency is
        known: in auto mode, allow one more in flight (True if the limit grew). The pool
        so grows at the pace calls leave until the first answers size it."""
        if self.pinned is not None or self._seen or self.limit >= self.ceiling:
            return False
        self.limit += 1
        return True

    def observe(self, latency_s: float) -> None:
        """Record one answered call's latency."""
        self.latency.add(latency_s)
        self._seen += 1

    def resize(self, rate: float) -> int:
        """Recompute `wanted` from `rate` and the recent p90 latency, and (auto) the limit
        from it, within the ceiling; returns the limit.

        Recomputed on every one of the first 16 answers, then every 8th (sorting the window
        on every call would cost more than it tells); the median for `capacity` with it.
        """
        if not self._seen or (self._seen > 16 and self._seen % 8):
            return self.limit
        quantiles = self.latency.median_and(PERCENTILE)
        if quantiles is None:
            self._p50 = self.wanted = None
        else:
            self._p50, p90 = quantiles
            self.wanted = in_flight_for(rate, p90)
        if self.pinned is None and self.wanted is not None:
            self.limit = max(1, min(self.ceiling, self.wanted))
        return self.limit

    def limited(self, now: float, saturated: bool) -> int | None:
        """The in-flight figure that would fill the rate, once, when the pool has been full
        (`saturated`) and short of it for `limited_after` seconds; else None."""
        wanted = self.wanted
        if self._reported or wanted is None or wanted <= self.limit or not saturated:
            self._since = None
            return None
        if self._since is None:
            self._since = now
        if now - self._since < self._limited_after:
            return None
        self._reported = True
        return wanted

    def capacity(self) -> float | None:
        """Calls/s the pool can carry at its ceiling and the recent median latency (as of
        the last `resize`: asked for twice a page, it must not sort the window each time)."""
        p50 = self._p50
        if p50 is None or p50 <= 0:
            return None
        return self.most / p50
