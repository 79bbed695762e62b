"""How many calls a job needs and whether its windows can be met, without calling the API.

Pure: it takes what is known (totals from page 0 of earlier runs or a probe) and the
rate, and replays the scheduler's order on paper. Where a total is unknown the search
costs between 1 call (empty or small) and 11 calls (1,100 hits or more at limit 100).
Once a run has measured the latency, the rate the plan assumes is also capped by what the
pool can carry at it (calls in flight / latency, Little's law).

A search made from an image costs the same, its creation being its first page, plus an
upload for a local image; its window opens when the run creates it, so it meets its window
when its own calls fit in one. A plan never creates a search (that would start its clock).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from harvester.engine.rate import DEFAULT_MARGIN
from harvester.jobs import Job
from harvester.paging import min_calls, plan_pages

__all__ = ["JobPlan", "SearchPlan", "plan_job"]


@dataclass(slots=True, frozen=True)
class SearchPlan:
    """One search on paper."""

    search_id: str
    deadline: float  #: epoch seconds
    known: bool  #: total known, so calls are exact
    calls_min: int  #: calls still needed, at least
    calls_max: int  #: calls still needed, at most
    finish_at: float  #: when its last call leaves, at the planned rate, in the planned order
    meets_window: bool  #: finish_at <= deadline (worst case where unknown)


@dataclass(slots=True, frozen=True)
class JobPlan:
    """The whole job on paper."""

    searches: tuple[SearchPlan, ...]
    final: int  #: searches already final in the checkpoint
    rate: float  #: requests/s the plan assumes (the throttle's, margin included)
    creations: int = 0  #: searches to create from images, at least (once each)
    uploads: int = 0  #: local images to upload, at most (a live upload is reused)
    pool_rate: float | None = None  #: requests/s the pool carries at the measured latency

    @property
    def calls_min(self) -> int:
        """Calls still needed if every unknown search is small (uploads included)."""
        return sum(s.calls_min for s in self.searches) + self.uploads

    @property
    def calls_max(self) -> int:
        """Calls still needed if every unknown search is big (uploads included)."""
        return sum(s.calls_max for s in self.searches) + self.uploads

    @property
    def exact(self) -> bool:
        """Whether every count is known (after a probe or a partial run)."""
        return all(s.known for s in self.searches)

    @property
    def missed(self) -> tuple[SearchPlan, ...]:
        """Searches whose window cannot be met in the worst case."""
        return tuple(s for s in self.searches if not s.meets_window)


def plan_job(
    job: Job,
    known: Mapping[str, tuple[int | None, frozenset[int], bool]],
    *,
    rate: float,
    start: float,
    validity_s: float,
    margin: float = DEFAULT_MARGIN,
    latency_s: float | None = None,
    in_flight: int | None = None,
) -> JobPlan:
    """Plan `job` given `known[search_id] = (total, done offsets, final)` from a checkpoint.

    `latency_s` (a run's measured median) and `in_flight` (the most calls the pool keeps
    out: a pinned concurrency, or the auto ceiling) cap the rate at in_flight / latency.
    """
    effective = rate * margin
    pool_rate = in_flight / latency_s if latency_s and in_flight else None
    if pool_rate is not None:
        effective = min(effective, pool_rate)
    rows: list[tuple[float, int, int, int, bool, str]] = []
    final = creations = uploads = 0
    for index, search in enumerate(job.searches):
        total, done, is_final = known.get(search.search_id, (None, frozenset(), False))
        if is_final:
            final += 1
            continue
        created = search.created_at.timestamp() if search.created_at else start
        # an image's window opens when the run creates its search: after everything else
        deadline = math.inf if search.is_image else created + validity_s
        if total is None:
            low, high = 1, min_calls(10**9, search.limit)
        else:
            left = sum(1 for p in plan_pages(total, search.limit) if p.offset not in done)
            low = high = left
        if search.is_image:
            creations += 1
            uploads += search.image_path is not None
        rows.append((deadline, high, index, low, total is not None, search.search_id))
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    plans = []
    sent = 0
    for deadline, high, _, low, is_known, search_id in rows:
        sent += high
        finish = start + sent / effective if effective > 0 else math.inf
        meets = finish <= deadline
        if math.isinf(deadline):  # an image: its own calls must fit in one window
            meets = effective > 0 and high / effective <= validity_s
        plans.append(SearchPlan(search_id, deadline, is_known, low, high, finish, meets))
    return JobPlan(tuple(plans), final, effective, creations, uploads, pool_rate)
