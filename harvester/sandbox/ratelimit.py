"""The platform's rate limit: one token bucket shared by every caller of the account."""

from __future__ import annotations

from harvester.sandbox.clock import Clock

__all__ = ["TokenBucket"]

# Epoch-second clocks carry ~1e-7 s of float error; a caller pacing exactly at the rate
# must not be refused for it.
_EPSILON = 1e-6


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; a call without a token is refused.

    >>> bucket = TokenBucket(rate=10, burst=2, clock=lambda: 0.0)
    >>> [bucket.take() for _ in range(3)]   # 0.0 = admitted, else seconds to wait
    [0.0, 0.0, 0.1]

    A refused call takes nothing from the bucket, so hammering it does not starve others
    for longer than the refusals themselves.
    """

    __slots__ = ("_burst", "_clock", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate = rate  #: tokens added per second
        self._burst = float(burst)  #: bucket size
        self._clock = clock
        self._tokens = float(burst)  #: starts full
        self._updated = clock()  #: when `_tokens` was last brought up to date

    def take(self) -> float:
        """0.0 when a token was taken, else the seconds until one will be there."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self._rate

    def refill(self) -> None:
        """Fill the bucket (used by a sandbox reset)."""
        self._tokens = self._burst
        self._updated = self._clock()
