"""The retry policy: exponential backoff with full jitter, for as long as the window is open.

Pure and typed, so it is tested without a server:

    policy = RetryPolicy()
    delay = policy.delay(attempt=2, rng=random.Random(0))   # uniform in [0, min(cap, 0.5 * 2**2)]
    is_transient(TransportError("refused"))   # True: not final while the window is open

A transient failure (no usable answer: refused, reset, DNS, TLS, timeout, HTTP 5xx or 408,
bad or truncated JSON, 68300005, 68300008) says nothing about the search, so its page is
tried again until the search's window plus grace closes; a dead API is the breaker's
business (breaker.py), not a reason to fail searches. An unknown error code is an answer
the API page does not explain: a few tries, then the search fails with it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harvester.api.errors import PatSnapError, Retryable, SlowDown, UnknownCodeError

__all__ = ["RetryPolicy", "is_transient"]


def is_transient(error: PatSnapError) -> bool:
    """Whether `error` means "no usable answer": retried while the window is open, and
    counted by the breaker. A push-back (SlowDown) or an unknown code is an answer."""
    return isinstance(error, Retryable) and not isinstance(error, SlowDown | UnknownCodeError)


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    """How long to wait between tries of one page, and how many an unknown code gets."""

    unknown_code_attempts: int = 3  #: calls when the error code is not on the API page
    quota_attempts: int = 3  #: 67200002 answers in a row before the run stops ...
    quota_min_span: float = 10.0  #: ... provided they span at least this many seconds
    initial: float = 0.5  #: first backoff ceiling, seconds
    cap: float = 30.0  #: largest backoff ceiling, seconds
    retry_after_max: float = 60.0  #: a transient answer's Retry-After is honoured up to this

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Full-jitter backoff before call number `attempt + 1` (attempt >= 1 calls made);
        no shorter than the answer's Retry-After (a 503 that says when), up to its maximum."""
        ceiling = min(self.cap, self.initial * 2 ** max(0, attempt - 1))
        jitter = rng.uniform(0.0, ceiling)
        return max(jitter, min(retry_after or 0.0, self.retry_after_max))

    def allows(self, attempt: int, *, unknown_code: bool = False) -> bool:
        """Whether another call is allowed after `attempt` calls of one page failed.

        Transient failures are limited by the search's window alone (the caller checks it).
        """
        return not unknown_code or attempt < self.unknown_code_attempts
