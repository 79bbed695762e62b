"""What the engine tells the outside world: live counters and one event per thing that happened.

The engine never prints; the CLI gives it an `Observer` and renders events as a terminal
progress line or JSON lines. Event names are stable (`page_done`, `retry`, `slow_down`,
`search_done`, `search_expired`, `search_failed`, `run_stopping`, `concurrency_limited`;
for images `image_uploaded`, `search_created`, `search_closed`), fields are plain values
and never a secret.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["HarvestStats", "NullObserver", "Observer"]


class Observer(Protocol):
    """Receives the engine's events."""

    def event(self, name: str, /, **fields: object) -> None:
        """One thing happened."""


class NullObserver:
    """Drops every event (library use, tests)."""

    def event(self, name: str, /, **fields: object) -> None:
        """Ignore the event."""


@dataclass(slots=True)
class HarvestStats:
    """Counters for the progress display and the summary; updated only by the engine."""

    searches: int = 0  #: searches in the job
    already_final: int = 0  #: final before this run started (resumed)
    ended: Counter[str] = field(default_factory=Counter)  #: status -> searches ended this run
    pages: int = 0  #: pages fetched this run
    hits: int = 0  #: hits fetched this run (before dedupe)
    calls: int = 0  #: calls made this run (counted when dispatched)
    answered: int = 0  #: calls that came back, with a page or an error
    retries: int = 0
    slowdowns: int = 0
    errors: Counter[str] = field(default_factory=Counter)  #: error code (or class) -> count
    pages_left: int = 0  #: known pages still to fetch (page 0 of unstarted searches counts 1)
    soonest_deadline: float | None = None  #: epoch seconds, of unfinished searches
    current_rate: float = 0.0  #: requests/s the throttle allows now
    in_flight: int = 0  #: calls out now (waiting for their slot or on the wire)
    peak_in_flight: int = 0  #: the most calls out at once this run
    concurrency: int = 0  #: calls the pool may have in flight now (auto: follows latency)
    latency_p50: float | None = None  #: seconds, of recent calls, slot to answer
    latency_p90: float | None = None
    creations: int = 0  #: searches created from images this run
    uploads: int = 0  #: images uploaded this run
    started: float = field(default_factory=time.monotonic)
    stop_reason: str | None = None

    @property
    def done(self) -> int:
        """Searches in a final state, this run and before."""
        return self.already_final + sum(self.ended.values())
