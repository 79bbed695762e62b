"""The retry policy: bounded attempts, exponential backoff with full jitter, never past the window.

Pure and typed, so it is tested without a server:

    policy = RetryPolicy()
    delay = policy.delay(attempt=2, rng=random.Random(0))   # uniform in [0, min(cap, 0.5 * 2**2)]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    """How often and how long to retry one page."""

    attempts: int = 8  #: calls for one page before its search fails (transient errors)
    unknown_code_attempts: int = 3  #: calls when the error code is not on the API page
    quota_attempts: int = 3  #: 67200002 answers in a row before the run stops ...
    quota_min_span: float = 10.0  #: ... provided they span at least this many seconds
    initial: float = 0.5  #: first backoff ceiling, seconds
    cap: float = 30.0  #: largest backoff ceiling, seconds

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter backoff before call number `attempt + 1` (attempt >= 1 calls made)."""
        ceiling = min(self.cap, self.initial * 2 ** max(0, attempt - 1))
        return rng.uniform(0.0, ceiling)

    def allows(self, attempt: int, *, unknown_code: bool = False) -> bool:
        """Whether another call is allowed after `attempt` calls of one page failed."""
        limit = self.unknown_code_attempts if unknown_code else self.attempts
        return attempt < limit
