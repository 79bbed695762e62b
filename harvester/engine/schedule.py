"""What to fetch next: earliest deadline first, smaller searches first, and only searches that
can still finish in their window.

No I/O and no clock of its own (callers pass `now` and the rate), so every rule is tested
directly. Among searches with the same deadline, pages of admitted searches go first (the
fewest left first), then searches of unknown size are probed (page 0 tells the size; a
small search is done with it), then known ones wait their turn, smallest first: cheap
probes find the small searches that finish the most per call, while known big ones wait
for room the probes leave.

Admission (`admission.Ledger`): a search starts only when its window, after the calls
committed to searches already started, holds its whole cost: its known pages, or the worst
case while its size is unknown. Once page 0 tells the size, the search competes again
with the others by its exact cost, unless most searches seen so far cost as much or more
(`admission.stays_admitted`): then probing would find nothing cheaper, and it keeps its
place. A search refused for lack of room waits; if its window
closes first it ends `expired` without a call (`take_expired`). A search whose window
had closed before the scheduler ever weighed it is still tried once, since PatSnap's
window is "about" 20 minutes.

A search made from an image (`SearchTask.window_s`) is admitted by the same rule, against
the window a call made now would open: until its search is created, and again once its
window has closed, its next call creates it. So it is never held back into `expired`; it
waits for room, and when nothing else is committed it goes ahead anyway (no window of its
own would ever hold it). When the creation answers, `move` puts its reservation and its
place in line at its real deadline.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from harvester.engine.admission import Ledger, stays_admitted, worst_case_calls
from harvester.paging import PageSpec, min_calls, plan_pages

__all__ = ["RELEASE_S", "Scheduler", "SearchTask"]

#: Searches waiting for room are weighed again at least this often (seconds), and at once
#: when room grows (a size came in smaller than its worst case, a search ended early).
RELEASE_S = 1.0

Key = tuple[float, int, int, int, str]


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
    queued: Key | None = None  #: its live entry in a ready heap
    admitted: bool = False  #: its cost is committed in the ledger; it may fetch pages
    reserved: int = 0  #: calls it holds in the ledger now
    held_back: bool = False  #: waiting for room (not in a ready heap)
    was_held: bool = False  #: refused for lack of room at least once
    window_s: float | None = None  #: a search made from an image: a call made before its
    #: search exists, or after its window closed, creates it, usable this long; None: an id

    @property
    def started(self) -> bool:
        """Whether page 0 has landed (the size is known)."""
        return self.total is not None

    def due(self, now: float) -> float:
        """The deadline admission weighs: the window's, or for an image whose search is not
        open (never created: an infinite deadline; or closed), the window a call opens now."""
        if self.window_s is not None and not now < self.deadline < math.inf:
            return now + self.window_s
        return self.deadline

    @property
    def idle(self) -> bool:
        """Nothing pending, in flight or parked: the search can end."""
        return not self.pending and self.in_flight == 0 and self.waiting == 0


@dataclass(slots=True)
class Scheduler:
    """Hands out pages: deadline first, then admitted searches, then the cheapest; parks
    pages for backoff; holds back searches their window has no room for."""

    tasks: dict[str, SearchTask] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    _known: list[Key] = field(default_factory=list)  #: searches whose size is known
    _unknown: list[Key] = field(default_factory=list)  #: searches still to probe
    _parked: list[tuple[float, int, str, int, int]] = field(default_factory=list)
    _held: list[tuple[int, float, int, SearchTask]] = field(default_factory=list)  #: heap,
    #: cheapest first: (calls, deadline, index, task) of searches waiting for room
    _expired: list[SearchTask] = field(default_factory=list)  #: held back past their window
    _held_due: float = float("inf")  #: the earliest deadline among the held
    _room_grew: bool = False
    _released_at: float = float("-inf")
    _seen: Counter[int] = field(default_factory=Counter)  #: calls -> searches, sizes known
    _seq: int = 0

    # --- handing out pages ------------------------------------------------------------

    def next_page(
        self, now: float, rate: float | None = None, queued: int = 0
    ) -> tuple[SearchTask, PageSpec] | None:
        """The next page to fetch, or None when nothing is ready now.

        `rate` (calls/s the pool can make) turns admission on; None hands out every page.
        `queued`: calls handed out that wait for their slot (they need room too; calls on
        the wire do not, which is why the ledger does not count pages in flight).
        """
        self._unpark(now)
        if rate is not None:
            self._release(now, rate, queued)
        while (task := self._pop()) is not None:
            if task.deadline < now and task.in_flight > 0:
                # Past its window a search is tried one call at a time: if PatSnap refuses
                # it, it ends expired after one call, not after a volley of refused calls.
                continue  # re-queued when its call comes back
            if rate is not None and not task.admitted and not self._admit(task, now, rate, queued):
                continue
            task.admitted = True
            spec = task.pending.pop(0)
            task.in_flight += 1
            self._sync(task)
            self._push(task)
            return task, spec
        return None

    def _admit(self, task: SearchTask, now: float, rate: float, queued: int) -> bool:
        """Whether `task` may start now; if not, it is held back (or expired)."""
        due = task.due(now)
        if due <= now:
            if task.was_held:  # it waited for room its whole window: no call is due
                self._expired.append(task)
                return False
            return True  # never weighed while open: one call tells whether it still is
        calls = self.cost(task) + queued
        if self.ledger.fits(due, now, rate, calls):
            self.move(task, due)  # an image: its reservation is due with the window it opens
            return True
        if task.window_s is not None and self.ledger.total == 0:
            self.move(task, due)  # no window holds it, and nothing else waits for the room
            return True
        if not self._held:
            self._released_at = max(self._released_at, now)  # weigh it again in RELEASE_S
        task.held_back = task.was_held = True
        heapq.heappush(self._held, (self.cost(task), task.deadline, task.index, task))
        if task.window_s is None:  # an image's window never closes on it while it waits
            self._held_due = min(self._held_due, task.deadline)
        return False

    def move(self, task: SearchTask, deadline: float) -> None:
        """The search's window now ends at `deadline` (an image's search was created, or is
        about to be): its reservation and its place in line follow."""
        if deadline == task.deadline:
            return
        if task.reserved:
            self.ledger.reserve(task.deadline, -task.reserved)
            self.ledger.reserve(deadline, task.reserved)
        task.deadline = deadline
        if task.queued is not None:
            task.queued = None  # its entry in the heap is stale now
            self._push(task)

    def cost(self, task: SearchTask) -> int:
        """Calls `task` still has to send, pages in flight aside: exact once its size is
        known, else the worst case (less page 0 while that is out)."""
        if task.total is None:
            return worst_case_calls(task.limit) - task.in_flight
        return len(task.pending) + task.waiting

    def take_expired(self) -> list[SearchTask]:
        """Searches held back for room until their window closed: end them `expired`."""
        expired, self._expired = self._expired, []
        return [task for task in expired if not task.ended]

    def next_wake(self) -> float | None:
        """When a parked page becomes ready or held-back searches are weighed again."""
        wakes = [self._parked[0][0]] if self._parked else []
        if self._held:
            wakes.append(min(self._released_at + RELEASE_S, self._held_due))
        return min(wakes, default=None)

    # --- what came back ---------------------------------------------------------------

    def landed(
        self,
        task: SearchTask,
        spec: PageSpec,
        total: int,
        *,
        now: float | None = None,
        rate: float | None = None,
    ) -> None:
        """A page was fetched and handed to the writer; page 0 reveals the remaining pages.

        With `now` and `rate` (admission on), a search that keeps its place must also still
        fit: the pool may carry fewer calls than it expected when page 0 left."""
        task.in_flight -= 1
        task.done_offsets.add(spec.offset)
        if task.total is None:
            task.total = total
            calls = min_calls(total, task.limit)
            if not task.ended:
                task.pending = [
                    p for p in plan_pages(total, task.limit) if p.offset not in task.done_offsets
                ]
                # Its size is known. Most searches seen so far cheaper than this one: let it
                # wait, and its worst case go back to the room for probes that may find
                # cheaper ones; else it keeps its place (probing would find nothing better).
                keeps = stays_admitted(calls, self._seen)
                task.admitted = False
                self._sync(task)  # its worst case gives way to its real cost
                if keeps and rate is not None and now is not None:
                    keeps = self.ledger.fits(task.deadline, now, rate, self.cost(task))
                task.admitted = keeps
            self._room_grew = True
            self._seen[calls] += 1
        self._sync(task)
        self._push(task)

    def park(self, task: SearchTask, spec: PageSpec, ready_at: float) -> None:
        """Put a failed page aside until `ready_at` (its backoff)."""
        task.in_flight -= 1
        task.waiting += 1
        self._sync(task)
        self._push(task)
        self._seq += 1
        heapq.heappush(self._parked, (ready_at, self._seq, task.search_id, spec.offset, spec.limit))

    def requeue(self, task: SearchTask, spec: PageSpec) -> None:
        """Give a page back undone (stopping, or pushed back by the rate limit)."""
        task.in_flight -= 1
        task.pending.insert(0, spec)
        self._sync(task)
        self._push(task)

    def drop(self, task: SearchTask) -> None:
        """A dispatched page came back without a page and will not be retried."""
        task.in_flight -= 1
        self._sync(task)
        self._push(task)

    def end(self, task: SearchTask) -> None:
        """The search's fate is decided: drop what it still had queued or parked."""
        task.ended = True
        task.pending.clear()
        task.waiting = 0  # its parked entries are skipped when they come up
        self._room_grew = self._room_grew or task.reserved > 0
        self._sync(task)

    def load(self, tasks: Iterable[SearchTask]) -> None:
        """Register many searches at once (heapify once instead of pushing each).

        A resumed search that had fetched more than page 0 stays admitted: the pages it
        has cost are spent, and finishing it is the cheapest way to a whole search.
        """
        for task in tasks:
            self.tasks[task.search_id] = task
            if task.total is not None:
                self._seen[min_calls(task.total, task.limit)] += 1
                task.admitted = len(task.done_offsets) > 1
            self._sync(task)
            if task.pending and not task.ended:
                task.queued = _key(task)
                self._heap_of(task).append(task.queued)
        heapq.heapify(self._known)
        heapq.heapify(self._unknown)

    # --- the heaps --------------------------------------------------------------------

    def _heap_of(self, task: SearchTask) -> list[Key]:
        return self._unknown if task.total is None else self._known

    def _push(self, task: SearchTask) -> None:
        if not task.pending or task.ended or task.held_back:
            return
        key = _key(task)
        if key != task.queued:
            task.queued = key  # an older entry of this search is now stale and will be skipped
            heapq.heappush(self._heap_of(task), key)

    def _head(self, heap: list[Key]) -> SearchTask | None:
        """The task at the top of `heap`, after dropping stale entries."""
        while heap:
            key = heap[0]
            task = self.tasks[key[-1]]
            if key == task.queued and not task.ended and task.pending:
                return task
            heapq.heappop(heap)
        return None

    def _pop(self) -> SearchTask | None:
        """Take the task whose page goes next off its heap."""
        known, unknown = self._head(self._known), self._head(self._unknown)
        if known is None and unknown is None:
            return None
        task: SearchTask
        if unknown is None:
            task = known  # type: ignore[assignment]
        elif known is None:
            task = unknown
        elif known.deadline != unknown.deadline:
            task = known if known.deadline < unknown.deadline else unknown
        elif known.admitted:
            task = known
        else:
            task = unknown
        heapq.heappop(self._heap_of(task))
        task.queued = None
        return task

    def _sync(self, task: SearchTask) -> None:
        """Make the ledger hold what `task` is committed to now."""
        held = self.cost(task) if task.admitted and not task.ended else 0
        if held != task.reserved:
            self.ledger.reserve(task.deadline, held - task.reserved)
            task.reserved = held

    def _release(self, now: float, rate: float, queued: int) -> None:
        """Put held-back searches back in line when room may have grown: room came back
        (a size smaller than its worst case, a search ended), the cheapest of them fits
        now (calls waiting for their slot have left), a window closed, or RELEASE_S."""
        if not self._held:
            return
        calls, _, _, cheapest = self._held[0]
        due = (
            self._room_grew
            or now >= self._held_due
            or now - self._released_at >= RELEASE_S
            or self.ledger.fits(cheapest.due(now), now, rate, calls + queued)
        )
        if not due:
            return
        held, self._held = self._held, []
        self._held_due = float("inf")
        for _, _, _, task in held:
            task.held_back = False
            self._push(task)
        self._room_grew = False
        self._released_at = now

    def _unpark(self, now: float) -> None:
        while self._parked and self._parked[0][0] <= now:
            _, _, search_id, offset, limit = heapq.heappop(self._parked)
            task = self.tasks[search_id]
            if task.ended:
                continue
            task.waiting -= 1
            task.pending.insert(0, PageSpec(offset, limit))
            self._sync(task)
            self._push(task)


def _key(task: SearchTask) -> Key:
    """Heap order: deadline, admitted first, pages left (cheapest first), file order."""
    if task.total is None:
        return (task.deadline, 2, 0, task.index, task.search_id)
    return (task.deadline, 0 if task.admitted else 1, len(task.pending), task.index, task.search_id)
