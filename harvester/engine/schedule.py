"""What to fetch next: earliest deadline first, then the search closest to done.

No I/O and no clock of its own (callers pass `now`), so every ordering rule is tested
directly. Among searches with the same deadline the one with the fewest pages left goes
first, and a started search beats an unstarted one: when the rate cannot cover the whole
job, this finishes as many whole searches as possible instead of leaving all half done.
An unstarted search counts as one page left (page 0 tells its size), so small searches
are discovered and finished cheaply while big ones wait.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from harvester.paging import PageSpec, plan_pages

__all__ = ["Scheduler", "SearchTask"]


@dataclass(slots=True, eq=False)
class SearchTask:
    """The harvester's live view of one search."""

    search_id: str
    index: int  #: position in the job file; last tie-break, keeps order stable
    deadline: float  #: epoch seconds when the search_id stops being usable
    limit: int
    total: int | None = None  #: from page 0; None until known
    pending: list[PageSpec] = field(default_factory=list)  #: ready to dispatch, next first
    in_flight: int = 0
    done_offsets: set[int] = field(default_factory=set)
    attempts: dict[int, int] = field(default_factory=dict)  #: calls made per offset
    refused: dict[int, int] = field(default_factory=dict)  #: of those, pushed back (67200001)
    waiting: int = 0  #: pages parked for a backoff
    ended: bool = False
    queued: tuple[float, int, int, int, str] | None = None  #: its live entry in the ready heap

    @property
    def started(self) -> bool:
        """Whether page 0 has landed (the size is known)."""
        return self.total is not None

    @property
    def idle(self) -> bool:
        """Nothing pending, in flight or parked: the search can end."""
        return not self.pending and self.in_flight == 0 and self.waiting == 0


@dataclass(slots=True)
class Scheduler:
    """Hands out pages in deadline-then-nearest-to-done order; parks pages for backoff."""

    tasks: dict[str, SearchTask] = field(default_factory=dict)
    _ready: list[tuple[float, int, int, int, str]] = field(default_factory=list)
    _parked: list[tuple[float, int, str, int, int]] = field(default_factory=list)
    _seq: int = 0

    def _push(self, task: SearchTask) -> None:
        if not task.pending or task.ended:
            return
        key = _key(task)
        if key != task.queued:
            task.queued = key  # an older entry of this search is now stale and will be skipped
            heapq.heappush(self._ready, key)

    def next_page(self, now: float) -> tuple[SearchTask, PageSpec] | None:
        """The next page to fetch, or None when nothing is ready now."""
        self._unpark(now)
        while self._ready:
            key = heapq.heappop(self._ready)
            task = self.tasks[key[-1]]
            if key != task.queued or task.ended or not task.pending:
                continue  # a stale entry: the search ended or was re-queued with a new key
            task.queued = None
            if task.deadline < now and task.in_flight > 0:
                # Past its window a search is tried one call at a time: if PatSnap refuses
                # it, it ends expired after one call, not after a volley of refused calls.
                continue  # re-queued when its call comes back
            spec = task.pending.pop(0)
            task.in_flight += 1
            self._push(task)
            return task, spec
        return None

    def next_wake(self) -> float | None:
        """When the earliest parked page becomes ready (epoch seconds), if any."""
        return self._parked[0][0] if self._parked else None

    def landed(self, task: SearchTask, spec: PageSpec, total: int) -> None:
        """A page was fetched and handed to the writer; page 0 reveals the remaining pages."""
        task.in_flight -= 1
        task.done_offsets.add(spec.offset)
        if task.total is None:
            task.total = total
            if task.ended:
                return
            task.pending = [
                p for p in plan_pages(total, task.limit) if p.offset not in task.done_offsets
            ]
        self._push(task)

    def park(self, task: SearchTask, spec: PageSpec, ready_at: float) -> None:
        """Put a failed page aside until `ready_at` (its backoff)."""
        task.in_flight -= 1
        self._push(task)
        task.waiting += 1
        self._seq += 1
        heapq.heappush(self._parked, (ready_at, self._seq, task.search_id, spec.offset, spec.limit))

    def requeue(self, task: SearchTask, spec: PageSpec) -> None:
        """Give a page back undone (stopping, or pushed back by the rate limit)."""
        task.in_flight -= 1
        task.pending.insert(0, spec)
        self._push(task)

    def drop(self, task: SearchTask) -> None:
        """A dispatched page came back without a page and will not be retried."""
        task.in_flight -= 1
        self._push(task)

    def end(self, task: SearchTask) -> None:
        """The search's fate is decided: drop what it still had queued or parked."""
        task.ended = True
        task.pending.clear()
        task.waiting = 0  # its parked entries are skipped when they come up

    def _unpark(self, now: float) -> None:
        while self._parked and self._parked[0][0] <= now:
            _, _, search_id, offset, limit = heapq.heappop(self._parked)
            task = self.tasks[search_id]
            if task.ended:
                continue
            task.waiting -= 1
            task.pending.insert(0, PageSpec(offset, limit))
            self._push(task)

    def load(self, tasks: Iterable[SearchTask]) -> None:
        """Register many searches at once (heapify once instead of pushing each)."""
        for task in tasks:
            self.tasks[task.search_id] = task
            if task.pending and not task.ended:
                task.queued = _key(task)
                self._ready.append(task.queued)
        heapq.heapify(self._ready)


def _key(task: SearchTask) -> tuple[float, int, int, int, str]:
    """Heap order: deadline, pages left (1 when unknown), started first, file order."""
    left = len(task.pending) if task.started else 1
    return (task.deadline, left, 0 if task.started else 1, task.index, task.search_id)
