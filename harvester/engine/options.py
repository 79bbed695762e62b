"""What a run of the pool is given: its options, and what it needs of the API client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from harvester.api.models import Page
from harvester.engine.concurrency import LIMITED_S
from harvester.engine.retry import RetryPolicy

__all__ = ["Fetcher", "HarvestOptions"]


class Fetcher(Protocol):
    """What the pool needs of the API client (PatSnapClient satisfies it).

    A fetcher paces itself: it awaits the pool's throttle (`Throttle.acquire`, given to
    the client as `pace`) right before it sends each call, and lets PacingStopped out
    (the call was not sent). The pool never paces for it, so tests take the same path.
    """

    async def fetch_page(
        self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
    ) -> Page:
        """One page of one search."""
        ...


@dataclass(slots=True, frozen=True)
class HarvestOptions:
    """How the pool runs; from the job's [job] table and the command line."""

    rate: float
    burst: int = 1
    concurrency: int | None = None  #: calls in flight; None = auto (rate x observed latency)
    max_concurrency: int = 64  #: the most calls in flight in auto mode
    limited_after_s: float = LIMITED_S  #: short of the rate this long: concurrency_limited
    validity_s: float = 20 * 60
    grace_s: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    probe_only: bool = False  #: fetch only page 0 of searches whose size is unknown (plan)
    give_up_after: float = 60.0  #: stop the run (exit 6) when no call is answered this long
    recreate: int = 3  #: times an image's search may be created again after its window closed
